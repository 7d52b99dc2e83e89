// Transitions shared by several rule groups: starting a session on a bead, merging, failing a
// review, releasing an agent. Each is a fixed sequence of writes whose every prefix is safe.
import type { Severity } from "../../api/agent-report.ts";
import type { Resolution } from "../../api/bead.ts";
import type { SessionContext, Why } from "../actions.ts";
import { removeCondition } from "../conditions.ts";
import type { Draft } from "../draft.ts";
import { featureBranch, issueBranch, sessionPodName } from "../names.ts";
import type { AgentView, BeadView } from "../snapshot.ts";
import { isTerminal } from "../snapshot.ts";
import { backoffAfter } from "../time.ts";

export const why = (reason: string, message: string, warning = false): Why =>
  warning ? { reason, message, warning } : { reason, message };

/** The branch a bead's work lives on and the branch it merges into. */
export function branchesFor(d: Draft, bead: BeadView): { branch: string; base: string; target: string } {
  const rig = d.snap.config.rigs.get(bead.spec.rig ?? "");
  const defaultBranch = rig?.defaultBranch ?? "main";
  if (bead.spec.type === "MergeRequest") {
    const target = bead.spec.targetBranch ?? defaultBranch;
    return { branch: bead.spec.branch ?? "", base: target, target };
  }
  if (bead.spec.reworkOf) {
    const mr = d.bead(bead.spec.reworkOf);
    const branch = bead.spec.branch ?? mr?.spec.branch ?? issueBranch(bead.spec.rig ?? "", bead.name);
    return { branch, base: branch, target: mr?.spec.targetBranch ?? defaultBranch };
  }
  const convoy = bead.spec.convoy ? d.convoy(bead.spec.convoy) : undefined;
  const target = convoy?.spec.mergeMode === "ReviewThenLand" ? featureBranch(convoy.name) : defaultBranch;
  return { branch: issueBranch(bead.spec.rig ?? "", bead.name), base: target, target };
}

function sessionContext(d: Draft, bead: BeadView): SessionContext {
  const rig = d.snap.config.rigs.get(bead.spec.rig ?? "");
  const b = branchesFor(d, bead);
  return {
    beadTitle: bead.spec.title,
    beadDescription: bead.spec.description,
    branch: b.branch,
    baseBranch: b.base,
    targetBranch: b.target,
    mergeStrategy: rig?.mergeStrategy ?? "Direct",
    gates: rig?.gates ?? [],
    ...(bead.spec.reworkOf ? { reworkOf: bead.spec.reworkOf } : {}),
    ...(bead.spec.feedback ? { feedback: bead.spec.feedback } : {}),
    ...(bead.spec.files ? { files: bead.spec.files } : {}),
    // A checkpoint belongs to its bead: only this bead's next session gets it.
    ...(bead.state.checkpoint ? { checkpoint: bead.state.checkpoint.data } : {}),
    ...(bead.state.conversation ? { cliSession: bead.state.conversation.id } : {}),
  };
}

/** Why no new session may start in the town now, or undefined. Running work is never touched. */
export function dispatchBlocked(d: Draft): string | undefined {
  if (d.snap.config.suspend) return "the town is suspended";
  if (d.breakerOpen) return "the circuit breaker is open";
  if (d.budgetSpent) return "the town's daily budget is spent";
  return undefined;
}

/** The bead used up its session budget; a handoff's next session is not charged. */
export function budgetSpent(d: Draft, bead: BeadView): boolean {
  return !bead.state.handoffPending && bead.state.attempts >= d.snap.config.maxDispatchAttempts;
}

/**
 * When the bead's next session may start: after a handoff, a minimum interval from the start of
 * the session that handed off; otherwise the back-off step of the attempts so far, counted from
 * when the last session ended (the bead went back to Open).
 */
export function nextSessionDue(d: Draft, bead: BeadView): number {
  const t = d.snap.config.timeouts;
  if (bead.state.handoffPending)
    return Math.max(bead.state.phaseSince, (bead.state.lastDispatch ?? 0) + t.handoffMinInterval);
  if (bead.state.attempts === 0 && bead.state.lastDispatch === undefined) return bead.state.phaseSince;
  return bead.state.phaseSince + backoffAfter(bead.state.attempts, t.dispatchBackoff);
}

/** The id a problem is deduplicated under: its reason and the object it is about. */
export function escalationId(reason: string, object: string): string {
  const kebab = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();
  return `${kebab(reason)}-${kebab(object)}`.slice(0, 253);
}

/** Fails a bead for good (until retried): agents hooked to it are released, a person is told. */
export function failBead(
  d: Draft,
  bead: BeadView,
  resolution: Resolution,
  w: Why,
  opts: { cause?: string; escalate?: boolean } = {},
): void {
  d.updateBead(
    bead.name,
    {
      phase: "Failed",
      phaseSince: d.now,
      resolution,
      reason: w.message.slice(0, 1024),
      handoffPending: false,
      hold: undefined,
    },
    w,
    opts.cause,
  );
  for (const a of d.hookedTo(bead.name)) {
    for (const s of d.liveSessions(a.name)) d.stopSession(a.name, s.name, w);
    release(d, a.name, w, opts.cause);
  }
  if (opts.escalate !== false) {
    d.escalate({
      id: escalationId(w.reason, bead.name),
      severity: "High",
      reason: w.reason,
      message: w.message,
      bead: bead.name,
    });
  }
}

/**
 * Holds a bead: Open, unassigned, not dispatched and not charged until its cause goes away or a
 * person retries it (spec.retry); its Stalled condition and a durable escalation say why.
 */
export function holdBead(
  d: Draft,
  bead: BeadView,
  reason: string,
  message: string,
  severity: Severity = "High",
  opts: { escalate?: boolean; probeAt?: number; townGeneration?: number; detail?: string } = {},
): void {
  // The Event says why (the same words each time, so repeats aggregate); the status adds what happens next.
  const w = why(reason, message, true);
  d.updateBead(
    bead.name,
    {
      phase: "Open",
      phaseSince: d.now,
      assignee: undefined,
      reason,
      handoffPending: false,
      hold: {
        reason,
        message: (opts.detail ? `${message}; ${opts.detail}` : message).slice(0, 1024),
        since: d.now,
        ...(opts.probeAt === undefined ? {} : { probeAt: opts.probeAt }),
        ...(opts.townGeneration === undefined ? {} : { townGeneration: opts.townGeneration }),
      },
    },
    w,
  );
  for (const a of d.hookedTo(bead.name)) {
    for (const s of d.liveSessions(a.name)) d.stopSession(a.name, s.name, w);
    release(d, a.name, w);
  }
  if (opts.escalate !== false) {
    d.escalate({ id: escalationId(reason, bead.name), severity, reason, message, bead: bead.name });
  }
}

/** True when the agent can take new work now: Idle, unhooked, no live session, not being deleted. */
export function isFree(d: Draft, agent: AgentView): boolean {
  return (
    agent.state.phase === "Idle" && !agent.state.hook && !agent.deleting && d.liveSessions(agent.name).length === 0
  );
}

/** No second session may ever run for one bead, whatever agent it belongs to. */
export function beadHasLiveSession(d: Draft, bead: string): boolean {
  return d.liveSessionsOf(bead).length > 0;
}

/**
 * Starts a session of `agent` on `bead`. A polecat claims the bead first (the bead's
 * resourceVersion is the lock: a plan from a stale view conflicts there, before any hook is
 * written); a refinery is hooked first (one refinery per rig, so its resourceVersion is the lock
 * that keeps one direct review in progress per rig).
 */
export function dispatch(d: Draft, agent: AgentView, bead: BeadView, reason: string, message: string): void {
  const highest = d.sessions(agent.name).reduce((m, s) => Math.max(m, s.session), 0);
  const session = Math.max(agent.state.session, highest) + 1;
  const pod = sessionPodName(agent.name, session);
  const b = branchesFor(d, bead);
  // Every session counts against the bead's budget, whichever rule started it — except the one
  // that continues a voluntary handoff, which its own cap bounds.
  const claim = {
    phase: "InProgress" as const,
    phaseSince: d.now,
    assignee: agent.name,
    attempts: bead.state.attempts + (bead.state.handoffPending ? 0 : 1),
    sessionCharged: !bead.state.handoffPending,
    handoffPending: false,
    lastDispatch: d.now,
    branch: b.branch,
    reason,
  };
  const w = why(reason, message);
  if (agent.role === "Refinery") {
    d.setHook(agent.name, bead.name, w);
    d.updateBead(bead.name, claim, w);
  } else {
    d.updateBead(bead.name, claim, w);
    d.setHook(agent.name, bead.name, w);
  }
  d.startSession({
    agent: d.agent(agent.name) as AgentView,
    session,
    pod,
    bead: bead.name,
    context: sessionContext(d, bead),
    why: w,
  });
  d.updateAgent(
    agent.name,
    {
      phase: "Working",
      session,
      pod,
      sessionBead: bead.name,
      sessionStart: d.now,
      idleSince: undefined,
      lastHeartbeat: undefined,
      lastActivity: undefined,
      lastActivityKind: undefined,
      activeTools: undefined,
      conditions: removeCondition(
        removeCondition((d.agent(agent.name) as AgentView).state.conditions, "Escalated"),
        "SessionFailed",
      ),
    },
    undefined,
  );
}

/** Marks the agent Idle, then unhooks it: a Working agent always has a hook (invariant 2). */
export function release(d: Draft, agent: string, w: Why, cause?: string): void {
  const a = d.agent(agent);
  if (!a) return;
  if (a.state.phase !== "Idle") d.updateAgent(agent, { phase: "Idle", idleSince: d.now }, w, cause);
  d.setHook(agent, undefined, w, cause);
}

/** Names of the open rework beads that block a merge request (including ones this plan creates). */
export function openReworks(d: Draft, mr: string): string[] {
  const list = d.snap.reworksByMergeRequest.get(mr) ?? [];
  const open = list.filter((r) => !isTerminal((d.bead(r.name) as BeadView).state.phase)).map((r) => r.name);
  return [...open, ...d.reworksCreatedFor(mr)];
}

/** A merge landed: the MR closes first, then its source and superseded siblings (invariant 6). */
export function completeMerge(d: Draft, mr: BeadView, commit: string | undefined, w: Why, cause?: string): void {
  d.updateBead(
    mr.name,
    {
      phase: "Closed",
      phaseSince: d.now,
      resolution: "Merged",
      mergeCommit: commit,
      reason: w.reason,
      hold: undefined,
    },
    w,
    cause,
  );
  const source = mr.spec.source;
  if (source?.kind !== "Bead") return;
  const issue = d.bead(source.name);
  if (issue && !isTerminal(issue.state.phase)) {
    d.updateBead(
      issue.name,
      {
        phase: "Closed",
        phaseSince: d.now,
        resolution: "Merged",
        mergedBy: mr.name,
        reason: "Merged",
        hold: undefined,
      },
      why("Merged", `merged by ${mr.name}`),
      cause,
    );
  }
  for (const sibling of d.snap.mergeRequestsBySource.get(source.name) ?? []) {
    const s = d.bead(sibling.name) as BeadView;
    if (s.name === mr.name || isTerminal(s.state.phase)) continue;
    d.updateBead(
      s.name,
      { phase: "Closed", phaseSince: d.now, resolution: "Superseded", mergedBy: mr.name, reason: "Superseded" },
      why("Superseded", `${source.name} was merged by ${mr.name}`),
      cause,
    );
  }
}

/**
 * What a merge request's review cycles are counted on: its source issue, whose work is redone
 * after each failed review; a landing (whose source is its convoy) counts on itself.
 */
export function reviewSubject(d: Draft, mr: BeadView): BeadView {
  const source = mr.spec.source;
  const issue = source?.kind === "Bead" ? d.bead(source.name) : undefined;
  return issue ?? mr;
}

/**
 * Counts one review cycle (a rework request or a failed review) on the subject. Returns false,
 * having failed the subject, when the cycle would pass the cap: a refinery that never accepts, or
 * a gate that is always red, cannot loop forever.
 */
export function countReviewCycle(d: Draft, mr: BeadView, w: Why, cause?: string): boolean {
  const subject = reviewSubject(d, mr);
  const cycles = subject.state.reviewCycles + 1;
  const max = d.snap.config.maxReviewCycles;
  if (cycles > max) {
    if (!isTerminal(subject.state.phase)) {
      failBead(
        d,
        subject,
        "MaxReviewCycles",
        why(
          "MaxReviewCycles",
          `${subject.name} failed: ${max} review cycles did not get it merged (${w.message})`,
          true,
        ),
        { cause },
      );
    }
    return false;
  }
  d.updateBead(subject.name, { reviewCycles: cycles }, undefined, cause);
  return true;
}

/**
 * A review failed: the MR fails and its source issue is reopened, unassigned, to be redone — one
 * review cycle of its budget, and the redo is another session of its dispatch budget.
 */
export function failReview(
  d: Draft,
  mr: BeadView,
  resolution: "ReviewFailed" | "MaxDispatchAttempts" | "Orphaned",
  w: Why,
  cause?: string,
): void {
  d.updateBead(mr.name, { phase: "Failed", phaseSince: d.now, resolution, reason: w.message.slice(0, 1024) }, w, cause);
  const source = mr.spec.source;
  if (source?.kind !== "Bead") return;
  const issue = d.bead(source.name);
  if (!issue || isTerminal(issue.state.phase)) return;
  const anotherLive = (d.snap.mergeRequestsBySource.get(source.name) ?? []).some(
    (m) => m.name !== mr.name && !isTerminal((d.bead(m.name) as BeadView).state.phase),
  );
  if (anotherLive) return;
  if (!countReviewCycle(d, mr, w, cause)) return;
  d.updateBead(
    issue.name,
    { phase: "Open", phaseSince: d.now, assignee: undefined, reason: "ReviewFailed" },
    why("Reopened", `review of ${mr.name} failed; the issue will be redone`),
    cause,
  );
}
