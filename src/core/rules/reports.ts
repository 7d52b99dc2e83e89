// §5.1 Agent reports, applied first and in order (creation time, then name). A report is marked
// processed only after its effects are written, and every effect is idempotent, so a controller
// that dies in between simply applies it again. A report whose writes fail is retried with
// back-off (the shell counts the attempts) and poisoned — kept, visible — at the cap.
import { setCondition } from "../conditions.ts";
import type { Draft } from "../draft.ts";
import { mergeRequestName, reworkName } from "../names.ts";
import type { AgentView, BeadView, ReportView } from "../snapshot.ts";
import { isTerminal } from "../snapshot.ts";
import { completeMerge, failReview, openReworks, release, why } from "./work.ts";

type Outcome = { kind: "applied"; message: string } | { kind: "rejected"; reason: string } | { kind: "wait" };

const applied = (message: string): Outcome => ({ kind: "applied", message });
const rejected = (reason: string): Outcome => ({ kind: "rejected", reason });

/** Back-off between attempts of a report whose writes failed: 10 s, 20 s, 40 s, … */
export function reportRetryDelay(attempts: number): number {
  return 10_000 * 2 ** Math.max(0, attempts - 1);
}

export function applyReports(d: Draft): void {
  // A report waits while an earlier one of the same agent is unresolved: order is meaning
  // (RequestChanges then Done is a release, not a merge).
  const waiting = new Set<string>();
  for (const report of d.snap.pendingReports) {
    const agentName = report.spec.agent;
    if (waiting.has(agentName)) continue;
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
        waiting.add(agentName);
        continue;
      }
    }
    const outcome = applyOne(d, report);
    if (outcome.kind === "wait") {
      waiting.add(agentName);
    } else if (outcome.kind === "applied") {
      d.updateReport(
        report,
        { outcome: "Applied", processedAt: d.now, error: undefined },
        why("ReportApplied", outcome.message),
      );
    } else {
      d.updateReport(
        report,
        { outcome: "Rejected", processedAt: d.now, error: outcome.reason },
        why("ReportRejected", outcome.reason, true),
      );
    }
  }
  d.pendingReportAgents = waiting;
}

function applyOne(d: Draft, r: ReportView): Outcome {
  const agent = d.agent(r.spec.agent);
  if (!agent) return rejected(`agent ${r.spec.agent} does not exist in town ${d.snap.config.name}`);
  if (r.spec.session > agent.state.session) return { kind: "wait" };
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
      d.other({
        type: "Escalate",
        agent: agent.name,
        bead: bead.name,
        severity: r.spec.severity ?? "Medium",
        why: why("Escalated", message, true),
        cause: r.name,
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
        undefined,
        r.name,
      );
      return applied("escalation recorded");
    }
    case "Checkpoint":
      d.updateAgent(
        agent.name,
        { checkpoint: { data: r.spec.data ?? "", session: r.spec.session, time: d.now } },
        why("Checkpointed", `checkpoint of session ${r.spec.session} saved`),
        r.name,
      );
      return applied("checkpoint saved");
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
    d.bead(mergeRequestName(bead.name, bead.state.attempts)) !== undefined
  );
}

function polecatDone(d: Draft, r: ReportView, agent: AgentView, bead: BeadView): Outcome {
  if (bead.spec.type !== "Issue") return rejected("a polecat reports Done on an Issue");
  const w = why("WorkDone", `${agent.name} finished ${bead.name}${r.spec.summary ? `: ${r.spec.summary}` : ""}`);
  if (bead.spec.reworkOf) {
    if (!isTerminal(bead.state.phase)) {
      d.updateBead(
        bead.name,
        { phase: "Closed", phaseSince: d.now, resolution: "ReworkDone", reason: "ReworkDone" },
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
  const mrName = mergeRequestName(bead.name, Math.max(1, bead.state.attempts));
  const branch = r.spec.branch ?? bead.state.branch ?? `gt/${bead.spec.rig}/${bead.name}`;
  const target = targetBranchOf(d, bead);
  if (!d.bead(mrName)) {
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
      why: why("MergeRequestCreated", `${mrName} reviews ${branch} into ${target}`),
      cause: r.name,
    });
  }
  d.updateBead(bead.name, { phase: "InReview", phaseSince: d.now, branch, reason: "WorkDone" }, w, r.name);
  release(d, agent.name, w, r.name);
  return applied(`merge request ${mrName} created`);
}

function targetBranchOf(d: Draft, bead: BeadView): string {
  const rig = d.snap.config.rigs.get(bead.spec.rig ?? "");
  const convoy = bead.spec.convoy ? d.convoy(bead.spec.convoy) : undefined;
  return convoy?.spec.mergeMode === "ReviewThenLand" ? `convoy/${convoy.name}` : (rig?.defaultBranch ?? "main");
}

function refineryDone(d: Draft, r: ReportView, agent: AgentView, mr: BeadView): Outcome {
  if (mr.spec.type !== "MergeRequest") return rejected("a refinery reports Done on a MergeRequest");
  if (isTerminal(mr.state.phase)) {
    release(d, agent.name, why("Released", `${mr.name} was already ${mr.state.phase}`), r.name);
    return applied(`${mr.name} was already ${mr.state.phase}`);
  }
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
  const reworkOfThisSession = reworkName(mr.name, Math.max(1, mr.state.attempts));
  if (openReworks(d, mr.name).length > 0 || d.bead(reworkOfThisSession) || d.creates(reworkOfThisSession)) {
    // Done after RequestChanges releases the refinery; merging now would skip the rework (or,
    // if the rework already finished, merge work nobody reviewed).
    const w = why("WaitingForRework", `${mr.name} waits for its rework`);
    d.updateBead(
      mr.name,
      { phase: "Open", phaseSince: d.now, assignee: undefined, reason: "WaitingForRework" },
      w,
      r.name,
    );
    release(d, agent.name, w, r.name);
    return applied("refinery released; waiting for rework");
  }
  completeMerge(
    d,
    mr,
    r.spec.commit,
    why("Merged", `${agent.name} merged ${mr.spec.branch} into ${mr.spec.targetBranch}`),
    r.name,
  );
  release(d, agent.name, why("Released", `${mr.name} merged`), r.name);
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
  const name = reworkName(mr.name, Math.max(1, mr.state.attempts));
  if (!d.bead(name)) {
    d.createBead({
      name,
      spec: {
        ...derivedFrom(mr),
        type: "Issue",
        title: `Rework: ${mr.spec.title}`.slice(0, 200),
        description: r.spec.feedback ?? "",
        branch: mr.spec.branch,
        reworkOf: mr.name,
        feedback: r.spec.feedback,
        files: r.spec.files ?? [],
      },
      why: why(
        "ChangesRequested",
        `${agent.name} asked for changes on ${mr.name}: ${r.spec.feedback ?? ""}`.slice(0, 1000),
      ),
      cause: r.name,
    });
  }
  return applied(`rework ${name} created`);
}
