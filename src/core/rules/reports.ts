// §5.1 Agent reports, applied first and in order (creation time, then name). A report is marked
// processed only after its effects are written, and every effect is idempotent, so a controller
// that dies in between simply applies it again. A report whose writes fail is retried with
// back-off (the shell counts the attempts) and poisoned — kept, visible — at the cap. A report
// naming a session the controller does not know waits a bounded time and never holds back the
// agent's reports of sessions it does know (docs/rules.md, "Reports").
import { setCondition } from "../conditions.ts";
import type { Draft } from "../draft.ts";
import { mergeRequestName, reworkName } from "../names.ts";
import type { AgentView, BeadView, ReportView } from "../snapshot.ts";
import { isTerminal } from "../snapshot.ts";
import { sessionWorks } from "./session-failures.ts";
import { completeMerge, escalationId, failBead, failReview, openReworks, release, reviewSubject, why } from "./work.ts";

type Outcome =
  | { kind: "applied"; message: string }
  | { kind: "rejected"; reason: string }
  /** pending: the agent's hook must be kept while it waits (its session is real). */
  | { kind: "wait"; pending: boolean };

const applied = (message: string): Outcome => ({ kind: "applied", message });
const rejected = (reason: string): Outcome => ({ kind: "rejected", reason });

/** Back-off between attempts of a report whose writes failed: 10 s, 20 s, 40 s, … */
export function reportRetryDelay(attempts: number): number {
  return 10_000 * 2 ** Math.max(0, attempts - 1);
}

export function applyReports(d: Draft): void {
  // A report waits while an earlier one of the same agent and session (or a later session) is
  // unresolved: order is meaning (RequestChanges then Done is a release, not a merge). Only
  // sessions at or after the waiting one are held back.
  const heldFrom = new Map<string, number>();
  const pending = new Set<string>();
  const hold = (r: ReportView) => {
    const agent = r.spec.agent;
    heldFrom.set(agent, Math.min(heldFrom.get(agent) ?? Number.POSITIVE_INFINITY, r.spec.session));
  };
  for (const report of d.snap.pendingReports) {
    const agentName = report.spec.agent;
    if (report.spec.session >= (heldFrom.get(agentName) ?? Number.POSITIVE_INFINITY)) continue;
    const { attempts, lastAttempt } = report.state;
    if (attempts >= d.snap.config.maxReportAttempts) {
      d.updateReport(
        report,
        { outcome: "Poisoned", processedAt: d.now },
        why(
          "ReportPoisoned",
          `gave up after ${attempts} failed attempts: ${report.state.error ?? "unknown error"}`,
          true,
        ),
      );
      continue;
    }
    if (attempts > 0) {
      const due = (lastAttempt ?? 0) + reportRetryDelay(attempts);
      if (d.now < due) {
        d.wake.at(due);
        hold(report);
        pending.add(agentName);
        continue;
      }
    }
    const before = d.writeCount();
    const outcome = applyOne(d, report);
    if (outcome.kind === "wait") {
      hold(report);
      if (outcome.pending) pending.add(agentName);
    } else if (outcome.kind === "applied") {
      // A report that changed something is told by the Events of the Bead and Agent it changed
      // (two hundred ReportApplied Events were 15% of a convoy's); one that changed nothing
      // ("already applied") says so itself.
      const told = d.writeCount() > before;
      sessionWorks(d, d.bead(report.spec.bead));
      d.updateReport(
        report,
        { outcome: "Applied", processedAt: d.now, error: undefined },
        told ? undefined : why("ReportApplied", outcome.message),
      );
    } else {
      d.updateReport(
        report,
        { outcome: "Rejected", processedAt: d.now, error: outcome.reason },
        why("ReportRejected", outcome.reason, true),
      );
    }
  }
  d.pendingReportAgents = pending;
}

/**
 * A report from a session newer than the agent's: either a session whose "Working" write was
 * lost (the sessions rule adopts it in this plan) or a buggy or forged `gt`. It waits, bounded.
 */
function unknownSession(d: Draft, r: ReportView, agent: AgentView): Outcome {
  const limit = d.snap.config.timeouts.unknownSessionReport;
  const deadline = r.created + limit;
  if (d.now <= deadline) {
    d.wake.at(deadline + 1);
    return { kind: "wait", pending: d.liveSessions(agent.name).some((s) => s.session === r.spec.session) };
  }
  return rejected(
    `report is from session ${r.spec.session}, which agent ${agent.name} never ran (its session is ${agent.state.session}); rejected after ${limit / 1000}s`,
  );
}

function applyOne(d: Draft, r: ReportView): Outcome {
  const agent = d.agent(r.spec.agent);
  if (!agent) return rejected(`agent ${r.spec.agent} does not exist in town ${d.snap.config.name}`);
  if (r.spec.session > agent.state.session) return unknownSession(d, r, agent);
  if (r.spec.session < agent.state.session) {
    return rejected(
      `report is from session ${r.spec.session}; agent ${agent.name} is in session ${agent.state.session}`,
    );
  }
  const bead = d.bead(r.spec.bead);
  if (!bead) return rejected(`bead ${r.spec.bead} does not exist`);
  if (agent.state.hook !== bead.name) {
    return alreadyApplied(d, r, agent, bead)
      ? applied("already applied")
      : rejected(`agent ${agent.name} is not hooked to ${bead.name} (hook: ${agent.state.hook ?? "none"})`);
  }
  switch (r.spec.type) {
    case "Done":
      return agent.role === "Polecat" ? polecatDone(d, r, agent, bead) : refineryDone(d, r, agent, bead);
    case "RequestChanges":
      return requestChanges(d, r, agent, bead);
    case "ReviewFailed":
      if (agent.role !== "Refinery" || bead.spec.type !== "MergeRequest") {
        return rejected("ReviewFailed is for a refinery reviewing a merge request");
      }
      if (isTerminal(bead.state.phase)) return applied("merge request already finished");
      failReview(d, bead, "ReviewFailed", why("ReviewFailed", r.spec.message ?? "review failed", true), r.name);
      release(d, agent.name, why("Released", `review of ${bead.name} failed`), r.name);
      return applied(`review of ${bead.name} failed`);
    case "Escalate": {
      const message = `${r.spec.severity}: ${r.spec.message ?? ""}`;
      d.escalate({
        id: escalationId("AgentEscalated", `${agent.name}-${bead.name}`),
        severity: r.spec.severity ?? "Medium",
        reason: "AgentEscalated",
        message: `${agent.name} on ${bead.name}: ${r.spec.message ?? ""}`.slice(0, 1024),
        agent: agent.name,
        bead: bead.name,
      });
      d.updateAgent(
        agent.name,
        {
          conditions: setCondition(
            agent.state.conditions,
            { type: "Escalated", status: "True", reason: "AgentEscalated", message },
            d.now,
          ),
        },
        why("Escalated", message, true),
        r.name,
      );
      return applied("escalation recorded");
    }
    case "Checkpoint":
      d.updateBead(
        bead.name,
        { checkpoint: { data: r.spec.data ?? "", agent: agent.name, session: r.spec.session, time: d.now } },
        why("Checkpointed", `checkpoint of session ${r.spec.session} saved for ${bead.name}'s next session`),
        r.name,
      );
      return applied("checkpoint saved");
    case "Handoff":
      return handoff(d, r, agent, bead);
  }
}

/** Effects of a Done already visible after an earlier, interrupted application. */
function alreadyApplied(d: Draft, r: ReportView, agent: AgentView, bead: BeadView): boolean {
  if (r.spec.type !== "Done" && r.spec.type !== "ReviewFailed") return false;
  if (agent.role === "Refinery")
    return isTerminal(bead.state.phase) || (!!r.spec.prURL && bead.state.prURL === r.spec.prURL);
  if (bead.spec.reworkOf) return bead.state.phase === "Closed";
  return (
    (bead.state.phase === "InReview" || bead.state.phase === "Closed") &&
    d.bead(mergeRequestName(bead.name, bead.state.priorAttempts + bead.state.attempts)) !== undefined
  );
}

/**
 * A voluntary handoff: the agent ends its session to continue in a fresh one. The next session
 * gets the checkpoint and is not charged to the bead's dispatch budget; handoffs have their own
 * cap, past which the session's end counts as the failure it then is.
 */
function handoff(d: Draft, r: ReportView, agent: AgentView, bead: BeadView): Outcome {
  if (isTerminal(bead.state.phase)) return applied(`${bead.name} was already ${bead.state.phase}`);
  const max = d.snap.config.maxHandoffs;
  if (bead.state.handoffs >= max) {
    return rejected(`${bead.name} already handed off ${max} times (limits.maxHandoffs); this session's end counts`);
  }
  d.updateBead(
    bead.name,
    {
      handoffs: bead.state.handoffs + 1,
      handoffPending: true,
      ...(r.spec.data
        ? { checkpoint: { data: r.spec.data, agent: agent.name, session: r.spec.session, time: d.now } }
        : {}),
    },
    why(
      "HandedOff",
      `${agent.name} hands ${bead.name} off to a fresh session${r.spec.summary ? `: ${r.spec.summary}` : ""}`,
    ),
    r.name,
  );
  return applied(`handoff ${bead.state.handoffs + 1} of ${max} recorded`);
}

/** Merge requests and reworks of a convoy's work belong to the convoy: deleting it takes them. */
function convoyOwner(d: Draft, bead: BeadView): { name: string; uid: string } | undefined {
  const convoy = bead.spec.convoy ? d.convoy(bead.spec.convoy) : undefined;
  return convoy?.uid ? { name: convoy.name, uid: convoy.uid } : undefined;
}

function polecatDone(d: Draft, r: ReportView, agent: AgentView, bead: BeadView): Outcome {
  if (bead.spec.type !== "Issue") return rejected("a polecat reports Done on an Issue");
  const w = why("WorkDone", `${agent.name} finished ${bead.name}${r.spec.summary ? `: ${r.spec.summary}` : ""}`);
  if (bead.spec.reworkOf) {
    if (!isTerminal(bead.state.phase)) {
      d.updateBead(
        bead.name,
        { phase: "Closed", phaseSince: d.now, resolution: "ReworkDone", reason: "ReworkDone", handoffPending: false },
        w,
        r.name,
      );
    }
    const mr = d.bead(bead.spec.reworkOf);
    // The merge request goes back to the review queue as soon as its last rework is done.
    if (mr && mr.spec.type === "MergeRequest" && !isTerminal(mr.state.phase) && openReworks(d, mr.name).length === 0) {
      if (d.hookedTo(mr.name).length === 0 && mr.state.phase !== "Open") {
        d.updateBead(
          mr.name,
          { phase: "Open", phaseSince: d.now, assignee: undefined, reason: "ReworkDone" },
          w,
          r.name,
        );
      }
    }
    release(d, agent.name, w, r.name);
    return applied(`rework ${bead.name} closed`);
  }
  if (isTerminal(bead.state.phase)) {
    release(d, agent.name, w, r.name);
    return applied(`${bead.name} was already ${bead.state.phase}`);
  }
  // Numbered by every session the issue ever had: a retried issue's merge requests never reuse
  // the names of the ones it had before.
  const mrName = mergeRequestName(bead.name, bead.state.priorAttempts + Math.max(1, bead.state.attempts));
  const branch = r.spec.branch ?? bead.state.branch ?? `gt/${bead.spec.rig}/${bead.name}`;
  const target = targetBranchOf(d, bead);
  if (!d.bead(mrName)) {
    const owner = convoyOwner(d, bead);
    d.createBead({
      name: mrName,
      spec: {
        ...derivedFrom(bead),
        type: "MergeRequest",
        title: `Merge: ${bead.spec.title}`.slice(0, 200),
        description: r.spec.summary ?? "",
        source: { kind: "Bead", name: bead.name },
        branch,
        targetBranch: target,
      },
      ...(owner ? { ownerConvoy: owner } : {}),
      why: why("MergeRequestCreated", `${mrName} reviews ${branch} into ${target}`),
      cause: r.name,
    });
  }
  d.updateBead(
    bead.name,
    { phase: "InReview", phaseSince: d.now, branch, reason: "WorkDone", handoffPending: false },
    w,
    r.name,
  );
  release(d, agent.name, w, r.name);
  return applied(`merge request ${mrName} created`);
}

function targetBranchOf(d: Draft, bead: BeadView): string {
  const rig = d.snap.config.rigs.get(bead.spec.rig ?? "");
  const convoy = bead.spec.convoy ? d.convoy(bead.spec.convoy) : undefined;
  return convoy?.spec.mergeMode === "ReviewThenLand" ? `convoy/${convoy.name}` : (rig?.defaultBranch ?? "main");
}

/** A rework this refinery session asked for on the merge request (open or already done). */
function reworkOfThisSession(d: Draft, agent: AgentView, mr: BeadView): boolean {
  if (d.reworksCreatedFor(mr.name).length > 0) return true;
  const started = agent.state.sessionStart ?? Number.POSITIVE_INFINITY;
  return (d.snap.reworksByMergeRequest.get(mr.name) ?? []).some((rw) => rw.created >= started);
}

function refineryDone(d: Draft, r: ReportView, agent: AgentView, mr: BeadView): Outcome {
  if (mr.spec.type !== "MergeRequest") return rejected("a refinery reports Done on a MergeRequest");
  if (isTerminal(mr.state.phase)) {
    release(d, agent.name, why("Released", `${mr.name} was already ${mr.state.phase}`), r.name);
    return applied(`${mr.name} was already ${mr.state.phase}`);
  }
  if (openReworks(d, mr.name).length > 0 || reworkOfThisSession(d, agent, mr)) {
    // Done after RequestChanges releases the refinery, with or without a PR URL: merging (or
    // recording a pull request to merge) now would skip the rework, or merge unreviewed work.
    const w = why("WaitingForRework", `${mr.name} waits for its rework`);
    d.updateBead(
      mr.name,
      { phase: "Open", phaseSince: d.now, assignee: undefined, reason: "WaitingForRework" },
      w,
      r.name,
    );
    release(d, agent.name, w, r.name);
    return applied(
      `refinery released; waiting for rework${r.spec.prURL ? ` (pull request ${r.spec.prURL} not recorded)` : ""}`,
    );
  }
  const rig = d.snap.config.rigs.get(mr.spec.rig ?? "");
  if (r.spec.prURL !== undefined) {
    if (!/^https:\/\/[^\s]+$/.test(r.spec.prURL)) {
      failReview(
        d,
        mr,
        "ReviewFailed",
        why("ReviewFailed", `prURL must be an https URL, got ${r.spec.prURL}`, true),
        r.name,
      );
      release(d, agent.name, why("Released", "review failed"), r.name);
      return applied("review failed: prURL is not https");
    }
    const w = why("PullRequestOpened", `${mr.name} is reviewed in ${r.spec.prURL}`);
    d.updateBead(mr.name, { prURL: r.spec.prURL, phaseSince: d.now, reason: "PullRequestOpened" }, w, r.name);
    release(d, agent.name, w, r.name);
    return applied(`pull request ${r.spec.prURL} recorded`);
  }
  if (rig?.mergeStrategy === "PullRequest") {
    // On a PullRequest rig only the forge merges: a bare Done is an LLM's word, not a merge.
    return rejected(
      `rig ${rig.name} merges through pull requests: a refinery's Done needs --pr-url (the merge is seen on the forge)`,
    );
  }
  // One step for the merge request and its refinery: one Event tells both (transition-events.ts).
  const w = why("Merged", `${agent.name} merged ${mr.spec.branch} into ${mr.spec.targetBranch}`);
  completeMerge(d, mr, r.spec.commit, w, r.name);
  release(d, agent.name, w, r.name);
  return applied(`${mr.name} merged`);
}

/** What a bead made from another (its merge request, a rework) inherits from it. */
function derivedFrom(bead: BeadView) {
  return {
    town: bead.spec.town,
    rig: bead.spec.rig,
    priority: bead.spec.priority,
    labels: [],
    dependsOn: [],
    cancel: false,
    ...(bead.spec.convoy ? { convoy: bead.spec.convoy } : {}),
  };
}

function requestChanges(d: Draft, r: ReportView, agent: AgentView, mr: BeadView): Outcome {
  if (agent.role !== "Refinery" || mr.spec.type !== "MergeRequest") {
    return rejected("RequestChanges is for a refinery reviewing a merge request");
  }
  if (isTerminal(mr.state.phase)) return applied(`${mr.name} was already ${mr.state.phase}`);
  if (reworkOfThisSession(d, agent, mr)) return applied("rework already requested in this session");
  const feedback = r.spec.feedback ?? "";
  const w = why("ChangesRequested", `${agent.name} asked for changes on ${mr.name}: ${feedback}`.slice(0, 1000));
  const subject = reviewSubject(d, mr);
  const cycle = subject.state.reviewCycles + 1;
  if (cycle > d.snap.config.maxReviewCycles) {
    // A refinery that never accepts cannot loop forever: the work fails, the merge request with it.
    const cap = why(
      "MaxReviewCycles",
      `${subject.name} failed: ${d.snap.config.maxReviewCycles} review cycles did not get it merged`,
      true,
    );
    if (subject.name !== mr.name) {
      d.updateBead(
        mr.name,
        { phase: "Failed", phaseSince: d.now, resolution: "MaxReviewCycles", reason: cap.message },
        cap,
        r.name,
      );
    }
    failBead(d, subject, "MaxReviewCycles", cap, { cause: r.name });
    release(d, agent.name, why("Released", `${mr.name} failed at the review-cycle cap`), r.name);
    return applied(`${mr.name} failed: too many review cycles`);
  }
  // The rework is created before the cycle is counted: a replay after a crash between the two
  // finds the rework and does not count the cycle twice.
  const name = reworkName(mr.name, cycle);
  if (!d.bead(name)) {
    const owner = convoyOwner(d, mr);
    d.createBead({
      name,
      spec: {
        ...derivedFrom(mr),
        type: "Issue",
        title: `Rework: ${mr.spec.title}`.slice(0, 200),
        description: feedback,
        branch: mr.spec.branch,
        reworkOf: mr.name,
        feedback: r.spec.feedback,
        files: r.spec.files ?? [],
      },
      ...(owner ? { ownerConvoy: owner } : {}),
      why: w,
      cause: r.name,
    });
  }
  d.updateBead(subject.name, { reviewCycles: cycle }, undefined, r.name);
  // The review produced a result: the merge request's crash budget starts again for its next review.
  d.updateBead(mr.name, { attempts: 0 }, undefined, r.name);
  return applied(`rework ${name} created`);
}
