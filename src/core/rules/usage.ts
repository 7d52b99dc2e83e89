// Usage (docs/rules.md, "Usage and budgets"): what each session's CLI counted, as `gt run` keeps it
// on the agent's Lease, recorded on the bead the session was started for — one entry per session,
// so seeing the same Lease twice changes nothing — and summed on the Convoy and the Town. A live
// session's entry is written at most every heartbeatTimeout unless a budget applies to it (then
// at every change, so a cap is met within one heartbeat); a session that ended is written at once.
import { MAX_SESSION_USAGE, type Usage } from "../../api/usage.ts";
import type { Draft } from "../draft.ts";
import type { BeadUsage, BeadView, LeaseObservation, LeaseUsage, SessionUsageState } from "../snapshot.ts";
import { sameValue } from "../status-patch.ts";

const DAY = 86_400_000;
const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

export const NO_USAGE: Usage = { tokens: 0, inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 };

/** a + sign × b, cost kept only when there is one. */
export function addUsage(a: Usage, b: Usage, sign = 1): Usage {
  const cost = round6((a.costUSD ?? 0) + sign * (b.costUSD ?? 0));
  return {
    tokens: a.tokens + sign * b.tokens,
    inputTokens: a.inputTokens + sign * b.inputTokens,
    outputTokens: a.outputTokens + sign * b.outputTokens,
    cacheReadTokens: a.cacheReadTokens + sign * b.cacheReadTokens,
    cacheWriteTokens: a.cacheWriteTokens + sign * b.cacheWriteTokens,
    ...(cost > 0 ? { costUSD: cost } : {}),
  };
}

const totalsOf = (u: Usage): Usage => addUsage(NO_USAGE, u);

/** A Lease's counts as a Usage; a session's counts only grow, so a stale read never lowers them. */
function fromLease(u: LeaseUsage, old: Usage | undefined): Usage {
  const max = (k: keyof LeaseUsage & keyof Usage) => Math.max(u[k] ?? 0, old?.[k] ?? 0);
  const inputTokens = max("inputTokens");
  const outputTokens = max("outputTokens");
  const cacheReadTokens = max("cacheReadTokens");
  const cacheWriteTokens = max("cacheWriteTokens");
  const cost = round6(max("costUSD"));
  return {
    tokens: inputTokens + outputTokens + cacheReadTokens + cacheWriteTokens,
    inputTokens,
    outputTokens,
    cacheReadTokens,
    cacheWriteTokens,
    ...(cost > 0 ? { costUSD: cost } : {}),
  };
}

/** The bead a Lease's session was started for: the runtime's session, else the agent's current one. */
function sessionBead(d: Draft, lease: LeaseObservation): { bead: BeadView; live: boolean } | undefined {
  const agent = d.agent(lease.agent);
  if (!agent || lease.session === undefined) return undefined;
  const observed = d.sessions(agent.name).find((s) => s.session === lease.session);
  const name = observed?.bead ?? (lease.session === agent.state.session ? agent.state.sessionBead : undefined);
  const bead = name ? d.bead(name) : undefined;
  return bead && { bead, live: observed ? d.isLive(observed) : false };
}

export function recordUsage(d: Draft, budgeted: (bead: BeadView) => boolean): void {
  for (const lease of d.snap.leases.values()) {
    const found = sessionBead(d, lease);
    if (!found) continue;
    const { bead, live } = found;
    if (lease.usage) recordSession(d, bead, lease, lease.usage, live && !budgeted(bead));
    const agent = d.agent(lease.agent);
    if (lease.cliSession && lease.session !== undefined) {
      // A resumed conversation keeps its id: the session that continued it is news too.
      const resumed = lease.cliResumed !== undefined ? { resumed: lease.cliResumed } : {};
      const conversation = { id: lease.cliSession, agent: lease.agent, session: lease.session, ...resumed };
      if (!sameValue(bead.state.conversation, conversation)) d.updateBead(bead.name, { conversation }, undefined);
      const ofAgent = { id: lease.cliSession, session: lease.session, bead: bead.name, ...resumed };
      if (agent && !sameValue(agent.state.conversation, ofAgent))
        d.updateAgent(agent.name, { conversation: ofAgent }, undefined);
    }
    if (agent && lease.nudgeDelivery && !sameValue(agent.state.nudgeDelivery, lease.nudgeDelivery)) {
      d.updateAgent(agent.name, { nudgeDelivery: lease.nudgeDelivery }, undefined);
    }
  }
  for (const convoy of d.snap.convoys.values()) {
    const usage = convoyUsage(d, convoy.name);
    const have = (d.convoy(convoy.name) ?? convoy).state.usage;
    if ((usage || have) && !sameValue(have, usage)) d.updateConvoy(convoy.name, { usage }, undefined);
  }
}

function recordSession(d: Draft, bead: BeadView, lease: LeaseObservation, u: LeaseUsage, throttle: boolean): void {
  const session = lease.session as number;
  const have: BeadUsage = bead.state.usage ?? { ...NO_USAGE, sessions: [] };
  const i = have.sessions.findIndex((s) => s.agent === lease.agent && s.session === session);
  const old = i >= 0 ? have.sessions[i] : undefined;
  const counts = fromLease(u, old);
  if (old && sameValue(totalsOf(old), counts)) return;
  if (!old && counts.tokens === 0 && counts.costUSD === undefined) return;
  if (old && throttle) {
    // A live session without a budget: its counts are written at most every heartbeatTimeout.
    const due = (old.lastUpdateTime ?? old.time) + d.snap.config.timeouts.heartbeatTimeout;
    if (d.now < due) {
      d.wake.at(due);
      return;
    }
  }
  const entry: SessionUsageState = {
    agent: lease.agent,
    session,
    ...counts,
    time: old?.time ?? d.now,
    lastUpdateTime: d.now,
  };
  const totals = addUsage(addUsage(totalsOf(have), counts), old ? totalsOf(old) : NO_USAGE, -1);
  const sessions = old ? have.sessions.map((s, k) => (k === i ? entry : s)) : [...have.sessions, entry];
  // Older sessions leave the list but stay in the totals.
  d.updateBead(bead.name, { usage: { ...totals, sessions: sessions.slice(-MAX_SESSION_USAGE) } }, undefined);
}

/** What beads spent: a convoy's (its tasks and everything made for them), or the town's. */
function sum(beads: Iterable<BeadView>): Usage | undefined {
  let total: Usage | undefined;
  for (const b of beads) if (b.state.usage) total = addUsage(total ?? NO_USAGE, totalsOf(b.state.usage));
  return total;
}

/** The beads of `from` as this plan sees them, without copying the list. */
function* current(d: Draft, from: Iterable<BeadView>): Iterable<BeadView> {
  for (const b of from) yield d.current(b);
}

export const convoyUsage = (d: Draft, convoy: string) => sum(current(d, d.snap.beadsByConvoy.get(convoy) ?? []));

export const townUsage = (d: Draft) => sum(current(d, d.snap.beads.values()));

export const utcDay = (t: number) => new Date(t).toISOString().slice(0, 10);
export const nextUtcMidnight = (t: number) => Math.floor(t / DAY) * DAY + DAY;

/** What sessions first seen today (UTC) spent, over all the town's beads. */
export function townUsageToday(d: Draft): Usage & { day: string } {
  const start = Math.floor(d.now / DAY) * DAY;
  let total = NO_USAGE;
  for (const b of d.snap.beads.values()) {
    for (const s of d.current(b).state.usage?.sessions ?? []) {
      if (s.time >= start && s.time < start + DAY) total = addUsage(total, totalsOf(s));
    }
  }
  return { day: utcDay(d.now), ...total };
}
