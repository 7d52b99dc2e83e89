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
  spent.delete(d);
  // Older sessions leave the list but stay in the totals.
  d.updateBead(bead.name, { usage: { ...totals, sessions: sessions.slice(-MAX_SESSION_USAGE) } }, undefined);
}

/**
 * What the town's beads spent, summed in one pass per plan: the town's total, each convoy's (its
 * tasks and everything made for them: spec.convoy, else the owning convoy), and what sessions first
 * seen today (UTC) spent. Summed once the plan recorded this snapshot's sessions (recordSession
 * drops the sums: it is the only rule that changes a bead's usage); a sum per convoy and one per
 * question were four passes over every bead, a tenth of a no-op plan at 10k beads. Sums add in
 * snapshot order, so the same beads give the same totals every plan.
 */
interface Spend {
  town: Usage | undefined;
  byConvoy: Map<string, Usage>;
  today: Usage;
}
const spent = new WeakMap<Draft, Spend>();

function spend(d: Draft): Spend {
  const known = spent.get(d);
  if (known) return known;
  const start = Math.floor(d.now / DAY) * DAY;
  const s: Spend = { town: undefined, byConvoy: new Map(), today: NO_USAGE };
  for (const snapBead of d.snap.beads.values()) {
    const b = d.current(snapBead);
    const usage = b.state.usage;
    if (!usage) continue;
    const totals = totalsOf(usage);
    s.town = addUsage(s.town ?? NO_USAGE, totals);
    const convoy = b.spec.convoy ?? b.ownerConvoy;
    if (convoy) s.byConvoy.set(convoy, addUsage(s.byConvoy.get(convoy) ?? NO_USAGE, totals));
    for (const session of usage.sessions) {
      if (session.time >= start && session.time < start + DAY) s.today = addUsage(s.today, totalsOf(session));
    }
  }
  spent.set(d, s);
  return s;
}

export const convoyUsage = (d: Draft, convoy: string): Usage | undefined => spend(d).byConvoy.get(convoy);

export const townUsage = (d: Draft): Usage | undefined => spend(d).town;

export const utcDay = (t: number) => new Date(t).toISOString().slice(0, 10);
export const nextUtcMidnight = (t: number) => Math.floor(t / DAY) * DAY + DAY;

/** What sessions first seen today (UTC) spent, over all the town's beads. */
export function townUsageToday(d: Draft): Usage & { day: string } {
  return { day: utcDay(d.now), ...spend(d).today };
}
