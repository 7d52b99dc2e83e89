// §5.4 The review queue: merge requests per rig, one direct review at a time, pull requests
// polled and never blocking the queue, and every way a review can get stuck recovered.
import type { Draft } from "../draft.ts";
import { refineryName } from "../names.ts";
import type { AgentView, BeadView } from "../snapshot.ts";
import { isTerminal } from "../snapshot.ts";
import { backoffAfter } from "../time.ts";
import { neverStarted, refundInterrupted } from "./interrupted.ts";
import { probeConfigurationHold } from "./session-failures.ts";
import {
  budgetSpent,
  completeMerge,
  dispatch,
  dispatchBlocked,
  failReview,
  isFree,
  openReworks,
  release,
  why,
} from "./work.ts";

export function reconcileReviewQueue(d: Draft): void {
  const byRig = new Map<string, BeadView[]>();
  for (const snapBead of d.snap.activeBeads) {
    if (snapBead.spec.type !== "MergeRequest") continue;
    let mr = d.current(snapBead);
    if (isTerminal(mr.state.phase) || mr.spec.cancel) continue;
    if (mr.state.hold && probeConfigurationHold(d, mr)) mr = d.bead(mr.name) as BeadView;
    if (mr.state.phase === "InProgress") {
      if (mr.state.prURL) pullRequest(d, mr);
      else directReview(d, mr);
    }
    const rig = mr.spec.rig ?? "";
    const list = byRig.get(rig);
    if (list) list.push(mr);
    else byRig.set(rig, [mr]);
  }
  if (dispatchBlocked(d)) return;
  for (const [rig, mrs] of byRig) popQueue(d, rig, mrs);
}

/** Poll delay for a pull request: the interval, doubled per consecutive polling error (up to 32x). */
function pollDelay(d: Draft, errors: number): number {
  return d.snap.config.timeouts.prPollInterval * 2 ** Math.min(errors, 5);
}

function pullRequest(d: Draft, mr: BeadView): void {
  const t = d.snap.config.timeouts;
  if (mr.pr.state === "Merged") {
    completeMerge(d, mr, mr.pr.mergeCommit, why("Merged", `pull request ${mr.state.prURL} was merged`));
    return;
  }
  if (mr.pr.state === "Closed") {
    failReview(
      d,
      mr,
      "ReviewFailed",
      why("ReviewFailed", `pull request ${mr.state.prURL} was closed without merging`, true),
    );
    return;
  }
  // Polling refreshes lastPolled, so an actively polled PR never looks orphaned (a cloud bug).
  const lastGood = Math.max(mr.pr.lastPolled ?? 0, mr.state.phaseSince);
  if (d.now - lastGood > t.orphanedPR && d.hookedTo(mr.name).length === 0) {
    failReview(
      d,
      mr,
      "Orphaned",
      why("PullRequestOrphaned", `no successful poll of ${mr.state.prURL} for ${t.orphanedPR / 60000} min`, true),
    );
    return;
  }
  d.wake.at(lastGood + t.orphanedPR + 1);
  const lastTry = Math.max(mr.pr.lastPolled ?? 0, mr.pr.lastAttempt ?? 0);
  const due = lastTry + pollDelay(d, mr.pr.consecutiveErrors);
  if (d.now >= due) {
    d.other({
      type: "PollPullRequest",
      bead: mr.name,
      rig: mr.spec.rig ?? "",
      url: mr.state.prURL ?? "",
      why: why("PollPullRequest", `checking ${mr.state.prURL}`),
    });
  } else {
    d.wake.at(due);
  }
}

function directReview(d: Draft, mr: BeadView): void {
  const t = d.snap.config.timeouts;
  const hooked = d.hookedTo(mr.name);
  const working = hooked.some((a) => a.state.phase === "Working");
  const reworks = openReworks(d, mr.name);
  for (const agent of hooked) {
    if (agent.role !== "Refinery" || agent.state.phase !== "Idle" || d.liveSessions(agent.name).length > 0) continue;
    if (reworks.length > 0) {
      const w = why("WaitingForRework", `${mr.name} waits for ${reworks.join(", ")}`);
      d.updateBead(mr.name, { phase: "Open", phaseSince: d.now, assignee: undefined, reason: "WaitingForRework" }, w);
      release(d, agent.name, w);
      return;
    }
    retryRefinery(d, agent, mr);
    return;
  }
  if (working || reworks.length > 0) return;
  const age = d.now - mr.state.phaseSince;
  if (hooked.length > 0) {
    if (age > t.stuckReview) {
      const w = why(
        "ReviewStuck",
        `${mr.name} in review for over ${t.stuckReview / 60000} min with no working refinery`,
        true,
      );
      d.updateBead(mr.name, { phase: "Open", phaseSince: d.now, assignee: undefined, reason: "ReviewStuck" }, w);
      for (const a of hooked) release(d, a.name, w);
    } else {
      d.wake.at(mr.state.phaseSince + t.stuckReview + 1);
    }
  } else if (age > t.abandonedReview) {
    d.updateBead(
      mr.name,
      { phase: "Open", phaseSince: d.now, assignee: undefined, reason: "ReviewAbandoned" },
      why("ReviewAbandoned", `${mr.name} had no refinery for ${t.abandonedReview / 1000}s; back in the queue`),
    );
  } else {
    d.wake.at(mr.state.phaseSince + t.abandonedReview + 1);
  }
}

/**
 * A refinery lost its session mid-review: re-dispatch after the back-off, fail the MR at the cap.
 * A review the operator's death cut short before its session existed is given its attempt back,
 * as a polecat's is (bounded the same way).
 */
function retryRefinery(d: Draft, agent: AgentView, reviewed: BeadView): void {
  const cfg = d.snap.config;
  const refund = refundInterrupted(d, reviewed, neverStarted(d, reviewed, agent));
  // Told by the retry's own Event (refund.said), so no Event of its own.
  const mr = Object.keys(refund.change).length > 0 ? d.updateBead(reviewed.name, refund.change, undefined) : reviewed;
  if (budgetSpent(d, mr)) {
    const w = why(
      "MaxDispatchAttempts",
      `${mr.name} failed: ${mr.state.attempts} review sessions ended without a result`,
      true,
    );
    failReview(d, mr, "MaxDispatchAttempts", w);
    release(d, agent.name, w);
    return;
  }
  if (dispatchBlocked(d)) return;
  const since = agent.state.lastSessionExit?.time ?? agent.state.idleSince ?? mr.state.phaseSince;
  const due = mr.state.handoffPending
    ? Math.max(since, (mr.state.lastDispatch ?? 0) + cfg.timeouts.handoffMinInterval)
    : since + backoffAfter(mr.state.attempts, cfg.timeouts.dispatchBackoff);
  if (d.now < due) {
    d.wake.at(due);
    return;
  }
  dispatch(
    d,
    agent,
    mr,
    "ReviewRetried",
    `${agent.name} restarts the review of ${mr.name} (attempt ${mr.state.attempts + 1})${refund.said}`,
  );
}

function popQueue(d: Draft, rig: string, mrs: BeadView[]): void {
  const current = mrs.map((m) => d.bead(m.name) as BeadView);
  // Pull-request reviews wait on the forge, not on the refinery: they never block the queue.
  if (current.some((m) => m.state.phase === "InProgress" && !m.state.prURL)) return;
  const next = current
    .filter((m) => m.state.phase === "Open" && !m.state.hold && openReworks(d, m.name).length === 0)
    .sort((a, b) => a.created - b.created || (a.name < b.name ? -1 : 1))[0];
  if (!next || !d.snap.config.rigs.has(rig)) return;
  const name = refineryName(d.snap.config.name, rig);
  const refinery =
    d.agent(name) ?? d.createAgent(name, "Refinery", rig, why("RefineryCreated", `refinery for rig ${rig}`));
  if (!isFree(d, refinery)) return;
  dispatch(d, refinery, next, "ReviewStarted", `${name} reviews ${next.name}`);
}
