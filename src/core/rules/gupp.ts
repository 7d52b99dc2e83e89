// §5.6 GUPP — inactivity enforcement. Activity is the Lease's watermark (else its last renewal),
// never earlier than the session start. A missing or non-finite elapsed time is skipped: the cloud
// version once nudged every agent because NaN compared false everywhere.
import type { Nudge, NudgeTier } from "../../api/agent.ts";
import { MAX_NUDGES } from "../../api/agent.ts";
import { setCondition } from "../conditions.ts";
import type { Draft } from "../draft.ts";
import type { AgentView, BeadView } from "../snapshot.ts";
import { isTerminal } from "../snapshot.ts";
import { formatTime, parseTime } from "../time.ts";
import { escalationId, holdBead, why } from "./work.ts";

/** Milliseconds since the agent's last activity, or undefined when it cannot be known. */
export function inactiveFor(d: Draft, agent: AgentView): number | undefined {
  const lease = d.snap.leases.get(agent.name);
  const seen = lease?.activityTime ?? lease?.renewTime;
  if (seen === undefined) return undefined;
  const since = Math.max(seen, agent.state.sessionStart ?? Number.NEGATIVE_INFINITY);
  const elapsed = d.now - since;
  return Number.isFinite(elapsed) && elapsed >= 0 ? elapsed : undefined;
}

const RANK: Record<NudgeTier, number> = { warn: 0, escalate: 1, forceStop: 2 };

/** The last nudge of this tier or a higher one: a force-stop already escalated. */
function lastNudge(agent: AgentView, tier: NudgeTier): number | undefined {
  for (let i = agent.state.nudges.length - 1; i >= 0; i--) {
    const n = agent.state.nudges[i] as Nudge;
    if (RANK[n.tier] >= RANK[tier]) return parseTime(n.time);
  }
  return undefined;
}

export function enforceGupp(d: Draft): void {
  const t = d.snap.config.timeouts;
  for (const name of d.snap.agents.keys()) {
    const agent = d.agent(name) as AgentView;
    if (agent.state.phase !== "Working" && agent.state.phase !== "Stalled") continue;
    const elapsed = inactiveFor(d, agent);
    if (elapsed === undefined) continue;
    const activeTools = d.snap.leases.get(name)?.activeTools ?? 0;
    const tiers: { tier: NudgeTier; after: number; applies: boolean }[] = [
      { tier: "forceStop", after: t.guppForceStop, applies: agent.state.phase === "Working" },
      { tier: "escalate", after: t.guppEscalate, applies: true },
      { tier: "warn", after: t.guppWarn, applies: activeTools === 0 },
    ];
    for (const { after } of tiers) {
      if (elapsed <= after) d.wake.at(d.now - elapsed + after + 1);
    }
    // Only the highest tier that is due fires; each tier at most once per dedupe window.
    const due = tiers.find((x) => x.applies && elapsed > x.after);
    if (!due) continue;
    const last = lastNudge(agent, due.tier);
    if (last !== undefined && d.now - last < t.nudgeDedupe) {
      d.wake.at(last + t.nudgeDedupe);
      continue;
    }
    fire(d, agent, due.tier, elapsed);
  }
}

function fire(d: Draft, agent: AgentView, tier: NudgeTier, elapsed: number): void {
  const minutes = Math.floor(elapsed / 60000);
  const message =
    tier === "warn"
      ? `No activity for ${minutes} min. If you are stuck, say so with gt escalate; when finished, run gt done.`
      : tier === "escalate"
        ? `No activity for ${minutes} min; escalated to the town's operators.`
        : `No activity for ${minutes} min; the session was stopped.`;
  const nudge: Nudge = { tier, time: formatTime(d.now), message };
  const nudges = [...agent.state.nudges, nudge].slice(-MAX_NUDGES);
  const reason = tier === "warn" ? "NudgeWarn" : tier === "escalate" ? "NudgeEscalate" : "ForceStopped";
  const w = why(reason, message, tier !== "warn");
  d.other({ type: "Nudge", agent: agent.name, tier, why: w });
  if (tier === "warn") {
    d.updateAgent(agent.name, { nudges }, w);
    return;
  }
  const bead = agent.state.hook;
  d.escalate({
    id: escalationId(reason, bead ?? agent.name),
    severity: tier === "forceStop" ? "High" : "Medium",
    reason,
    message: `${agent.name}${bead ? ` on ${bead}` : ""}: ${message}`,
    agent: agent.name,
    ...(bead ? { bead } : {}),
  });
  const conditions = setCondition(
    agent.state.conditions,
    { type: "Escalated", status: "True", reason: w.reason, message },
    d.now,
  );
  if (tier === "forceStop") {
    forceStop(d, agent, w);
    d.updateAgent(agent.name, { nudges, conditions, phase: "Stalled" }, w);
    return;
  }
  d.updateAgent(agent.name, { nudges, conditions }, w);
}

/**
 * A hung agent is stopped and its bead taken from it: redone once automatically by another agent;
 * a second force-stop on the same bead holds it until a person retries or cancels it. A hung
 * agent is never simply restarted (that is hours of money and nothing else).
 */
function forceStop(d: Draft, agent: AgentView, w: ReturnType<typeof why>): void {
  for (const s of d.liveSessions(agent.name)) d.stopSession(agent.name, s.name, w);
  const bead = agent.state.hook ? d.bead(agent.state.hook) : undefined;
  d.recordFailedSession(agent.name, bead?.name, "ForceStopped");
  if (!bead || isTerminal(bead.state.phase)) {
    d.setHook(agent.name, undefined, w);
    return;
  }
  const stops = bead.state.forceStops + 1;
  d.updateBead(bead.name, { forceStops: stops, forceStoppedAgent: agent.name }, undefined);
  if (stops >= 2) {
    holdBead(
      d,
      d.bead(bead.name) as BeadView,
      "HungAgent",
      `${bead.name} was force-stopped ${stops} times for inactivity (last: ${agent.name}); retry it (spec.retry) or cancel it`,
    );
    return;
  }
  d.updateBead(
    bead.name,
    { phase: "Open", phaseSince: d.now, assignee: undefined, reason: "ForceStopped", handoffPending: false },
    why("ForceStopped", `${agent.name} hung on ${bead.name}; it is redone by another agent`, true),
  );
  d.setHook(agent.name, undefined, w);
}
