// Transitions shared by several rule groups: starting a session on a bead, merging, failing a
// review, releasing an agent. Each is a fixed sequence of writes whose every prefix is safe.
import type { SessionContext, Why } from "../actions.ts";
import { removeCondition } from "../conditions.ts";
import type { Draft } from "../draft.ts";
import { featureBranch, issueBranch, sessionPodName } from "../names.ts";
import type { AgentView, BeadView } from "../snapshot.ts";
import { isTerminal } from "../snapshot.ts";

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

function sessionContext(d: Draft, agent: AgentView, bead: BeadView): SessionContext {
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
    ...(agent.state.checkpoint ? { checkpoint: agent.state.checkpoint.data } : {}),
  };
}

/** True when the agent can take new work now: Idle, unhooked, no live session, not being deleted. */
export function isFree(d: Draft, agent: AgentView): boolean {
  return (
    agent.state.phase === "Idle" && !agent.state.hook && !agent.deleting && d.liveSessions(agent.name).length === 0
  );
}

/** No second session may ever run for one bead, whatever agent it belongs to. */
export function beadHasLiveSession(d: Draft, bead: string): boolean {
  return (d.snap.liveSessionsByBead.get(bead)?.length ?? 0) > 0;
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
  const claim = {
    phase: "InProgress" as const,
    phaseSince: d.now,
    assignee: agent.name,
    attempts: bead.state.attempts + 1,
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
    context: sessionContext(d, agent, bead),
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
      conditions: removeCondition((d.agent(agent.name) as AgentView).state.conditions, "Escalated"),
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
    { phase: "Closed", phaseSince: d.now, resolution: "Merged", mergeCommit: commit, reason: w.reason },
    w,
    cause,
  );
  const source = mr.spec.source;
  if (source?.kind !== "Bead") return;
  const issue = d.bead(source.name);
  if (issue && !isTerminal(issue.state.phase)) {
    d.updateBead(
      issue.name,
      { phase: "Closed", phaseSince: d.now, resolution: "Merged", mergedBy: mr.name, reason: "Merged" },
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

/** A review failed: the MR fails and its source issue is reopened, unassigned, to be redone. */
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
  d.updateBead(
    issue.name,
    { phase: "Open", phaseSince: d.now, assignee: undefined, reason: "ReviewFailed" },
    why("Reopened", `review of ${mr.name} failed; the issue will be redone`),
    cause,
  );
}
