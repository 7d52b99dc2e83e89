// Sessions that cannot start, or that fail for a reason the runtime or `gt run` names
// (docs/rules.md, "Sessions that cannot start"). Said at once, in the runtime's or the tool's own
// words, on the Bead, the Agent and the Town, instead of waiting out the heartbeat timeout:
// - a transient failure (an image pull that may recover, no node that fits yet, a network error)
//   fails the attempt at once; the retry rule redoes it after the normal back-off, charged;
// - a configuration error no retry can fix (a missing Secret or key, an invalid image name, a pod
//   the apiserver refuses, bad git credentials) holds the work, not charged: it is tried again by
//   itself with a growing interval, and at once when the Town's spec changes, so it resumes when the
//   cause is gone; meanwhile the Town is Ready=False/AgentsCannotStart saying what to fix.
import type { Why } from "../actions.ts";
import { removeCondition, setCondition } from "../conditions.ts";
import type { Draft } from "../draft.ts";
import type { AgentView, BeadView, LeaseObservation, SessionObservation } from "../snapshot.ts";
import { escalationId, holdBead, release, why } from "./work.ts";

export interface SessionFailure {
  reason: string;
  message: string;
  configuration: boolean;
}

/** Waiting reasons of a container that no retry of the same pod spec can fix. */
const CONFIGURATION_WAITING = new Set([
  "CreateContainerConfigError",
  "CreateContainerError",
  "InvalidImageName",
  "ErrImageNeverPull",
]);
/** Waiting reasons that may clear up by themselves (the registry is back, the image is pushed). */
const TRANSIENT_WAITING = new Set(["ErrImagePull", "ImagePullBackOff", "RegistryUnavailable"]);

const REASON = /^[A-Z][A-Za-z0-9]*$/;
const reasonOf = (r: string, fallback: string) => (REASON.test(r) ? r : fallback);

/** What the runtime says went wrong with a session, classified; undefined while nothing did. */
export function sessionFailure(s: SessionObservation): SessionFailure | undefined {
  if (s.refused) {
    return {
      reason: reasonOf(s.refused.reason, "PodRefused"),
      message: s.refused.what
        ? `${s.refused.what}: ${s.refused.message}`
        : `the apiserver refused the pod (${s.refused.code}): ${s.refused.message}`,
      configuration: true,
    };
  }
  if (s.waiting && CONFIGURATION_WAITING.has(s.waiting.reason)) {
    return { reason: s.waiting.reason, message: s.waiting.message ?? s.waiting.reason, configuration: true };
  }
  if (s.waiting && TRANSIENT_WAITING.has(s.waiting.reason)) {
    return { reason: s.waiting.reason, message: s.waiting.message ?? s.waiting.reason, configuration: false };
  }
  if (s.unschedulable !== undefined && s.phase === "Pending") {
    return { reason: "Unschedulable", message: s.unschedulable, configuration: false };
  }
  if (s.termination && (s.phase === "Failed" || s.phase === "Succeeded")) {
    return {
      reason: reasonOf(s.termination.reason, "SessionFailed"),
      message: s.termination.message,
      configuration: s.termination.kind === "Configuration",
    };
  }
  return undefined;
}

/** The wait before a configuration hold is tried again: doubling from the base, up to 10x it. */
function probeDelay(d: Draft, probes: number): number {
  const base = d.snap.config.timeouts.configurationProbe;
  return Math.min(base * 2 ** Math.max(0, probes - 1), 10 * base);
}

/**
 * A Working agent's current session failed as the runtime or `gt run` says. The session is
 * stopped, the agent goes Idle saying why (condition SessionFailed), and the bead is retried
 * (transient) or held (configuration).
 */
export function sessionFailed(
  d: Draft,
  agent: AgentView,
  bead: BeadView,
  s: SessionObservation,
  f: SessionFailure,
): void {
  const text = `${f.reason}: ${f.message}`.slice(0, 1024);
  const w = why(f.configuration ? "SessionCannotStart" : f.reason, `${s.name}: ${text}`, true);
  if (d.isLive(s)) d.stopSession(agent.name, s.name, w);
  d.updateAgent(
    agent.name,
    {
      phase: "Idle",
      idleSince: d.now,
      lastSessionExit: {
        session: s.session,
        ...(s.exitCode === undefined ? {} : { exitCode: s.exitCode }),
        reason: text.slice(0, 256),
        time: d.now,
      },
      conditions: setCondition(
        agent.state.conditions,
        { type: "SessionFailed", status: "True", reason: f.reason, message: text },
        d.now,
      ),
    },
    w,
  );
  d.updateBead(
    bead.name,
    { lastFailure: { reason: f.reason, message: f.message.slice(0, 1024), time: d.now } },
    undefined,
  );
  if (f.configuration) {
    holdForConfiguration(d, d.bead(bead.name) as BeadView, f, w);
    return;
  }
  d.recordFailedSession(agent.name, bead.name, f.reason);
  // As for a lost session: the issue goes back to Open keeping its assignee for the retry rule; a
  // merge request stays InProgress for the review queue.
  if (bead.spec.type === "Issue" && bead.state.phase === "InProgress" && bead.state.assignee === agent.name) {
    d.updateBead(bead.name, { phase: "Open", phaseSince: d.now, reason: f.reason }, w);
  }
}

function holdForConfiguration(d: Draft, bead: BeadView, f: SessionFailure, w: Why): void {
  const cfg = d.snap.config;
  const probes = bead.state.configurationProbes + 1;
  const probing = probes <= cfg.maxConfigurationProbes;
  const probeAt = probing ? d.now + probeDelay(d, probes) : undefined;
  const next = probing
    ? `tried again by itself from ${new Date(probeAt as number).toISOString()}, or at once when the Town's spec changes`
    : `tried ${cfg.maxConfigurationProbes} times (limits.maxConfigurationProbes): tried again when the Town's spec changes, or retry it`;
  // The session never ran the agent: it is not charged.
  d.updateBead(
    bead.name,
    {
      attempts: Math.max(0, bead.state.attempts - (bead.state.sessionCharged ? 1 : 0)),
      configurationProbes: probes,
    },
    undefined,
  );
  holdBead(d, d.bead(bead.name) as BeadView, "SessionCannotStart", `${f.reason}: ${f.message}`.slice(0, 900), "High", {
    escalate: false,
    detail: next,
    ...(probeAt === undefined ? {} : { probeAt }),
    townGeneration: cfg.generation,
  });
  d.escalate({
    id: escalationId("AgentsCannotStart", f.reason),
    severity: "High",
    reason: "AgentsCannotStart",
    message: `sessions cannot start: ${f.reason}: ${f.message}`.slice(0, 1024),
    bead: bead.name,
  });
  for (const a of d.hookedTo(bead.name)) release(d, a.name, w);
}

/**
 * A configuration hold is tried again when its probe is due or the Town's spec changed since.
 * Returns true when the bead is released to be dispatched now (not charged, no back-off).
 */
export function probeConfigurationHold(d: Draft, bead: BeadView): boolean {
  const h = bead.state.hold;
  if (!h || h.townGeneration === undefined) return false;
  const changed = d.snap.config.generation > h.townGeneration;
  if (!changed && (h.probeAt === undefined || d.now < h.probeAt)) {
    d.wake.at(h.probeAt);
    return false;
  }
  d.updateBead(
    bead.name,
    { hold: undefined, phase: "Open", phaseSince: d.now, assignee: undefined, reason: "ConfigurationProbe" },
    why(
      "ConfigurationProbe",
      changed
        ? `the Town's spec changed: ${bead.name} tries to start a session again`
        : `${bead.name} tries to start a session again (${bead.state.configurationProbes} of ${d.snap.config.maxConfigurationProbes})`,
    ),
  );
  d.probing.add(bead.name);
  return true;
}

/**
 * A session of the bead runs (it renewed its Lease): it started, so the Town is no longer told
 * sessions cannot start. The probe count is kept: a session that starts and then fails on its
 * configuration (a model key the provider refuses: 401 after the first renewal) must stay bounded
 * by maxConfigurationProbes. Only work shows the configuration is good (sessionWorks).
 */
export function sessionRuns(d: Draft, agent: AgentView, bead: BeadView, lease: LeaseObservation): void {
  if (bead.state.lastFailure) d.updateBead(bead.name, { lastFailure: undefined }, undefined);
  if ((lease.usage?.outputTokens ?? 0) > 0) sessionWorks(d, bead);
  const conditions = removeCondition(agent.state.conditions, "SessionFailed");
  if (conditions !== agent.state.conditions) d.updateAgent(agent.name, { conditions }, undefined);
}

/** The bead's session worked — the model answered, or a report of it applied: the probes start over. */
export function sessionWorks(d: Draft, bead: BeadView | undefined): void {
  if (bead && bead.state.configurationProbes > 0) d.updateBead(bead.name, { configurationProbes: 0 }, undefined);
}
