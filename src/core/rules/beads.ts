// §5.3 Beads: retry with back-off, stale and orphaned work, and lazy assignment of open issues to
// polecats within the rig and town limits — every new session within the bead's one budget.
import type { Draft } from "../draft.ts";
import { polecatName } from "../names.ts";
import type { AgentView, BeadView } from "../snapshot.ts";
import { isTerminal } from "../snapshot.ts";
import { neverStarted, refundInterrupted } from "./interrupted.ts";
import { probeConfigurationHold } from "./session-failures.ts";
import {
  beadHasLiveSession,
  budgetSpent,
  dispatch,
  dispatchBlocked,
  failBead,
  isFree,
  nextSessionDue,
  release,
  why,
} from "./work.ts";

/** The blockers of a bead that are not finished yet (unknown names block: they may still appear). */
/** A dependency blocks until it is Closed or Failed; one not (yet) in the snapshot blocks too. */
export function blocks(d: Draft, dep: string): boolean {
  const b = d.bead(dep);
  return !b || !isTerminal(b.state.phase);
}

export function openBlockers(d: Draft, bead: BeadView): string[] {
  return bead.spec.dependsOn.filter((dep) => blocks(d, dep));
}

export function inStagedConvoy(d: Draft, bead: BeadView): boolean {
  const convoy = bead.spec.convoy ? d.convoy(bead.spec.convoy) : undefined;
  return convoy?.spec.staged === true;
}

export function reconcileBeads(d: Draft): void {
  const candidates: BeadView[] = [];
  for (const snapBead of d.snap.activeBeads) {
    const bead = d.current(snapBead);
    if (bead.spec.type !== "Issue" || isTerminal(bead.state.phase) || bead.spec.cancel) continue;
    if (bead.state.phase === "InProgress") staleInProgress(d, bead);
    else if (bead.state.phase === "InReview") orphanedInReview(d, bead);
    else if (bead.state.hold) {
      if (probeConfigurationHold(d, bead)) candidates.push(d.bead(bead.name) as BeadView);
    } else if (bead.state.assignee) retry(d, bead);
    else if (budgetSpent(d, bead)) failAtCap(d, bead);
    else candidates.push(bead);
  }
  assign(d, candidates);
}

/** The one cap every path to a new session meets: dispatch, retry, redo after review, recovery. */
function failAtCap(d: Draft, bead: BeadView): void {
  failBead(
    d,
    bead,
    "MaxDispatchAttempts",
    why(
      "MaxDispatchAttempts",
      `${bead.name} failed after ${bead.state.attempts} sessions (limits.maxDispatchAttempts)`,
      true,
    ),
  );
}

function freshHeartbeat(d: Draft, agent: AgentView): boolean {
  const renew = d.snap.leases.get(agent.name)?.renewTime;
  return renew !== undefined && d.now - renew <= d.snap.config.timeouts.heartbeatTimeout;
}

/**
 * A dispatch cut short by a controller that died mid-plan. If the assignee is hooked but Idle with
 * no session, the session was never started: back to Open for the retry rule, at once. If the
 * assignee was never hooked (the claim was the last write), nobody is coming: once the window a
 * session has to start in has passed, the bead is reopened unassigned — without waiting out the
 * much longer stale-InProgress timeout.
 */
function interruptedDispatch(d: Draft, bead: BeadView): boolean {
  if (beadHasLiveSession(d, bead.name)) return false;
  const agent = d.agent(bead.state.assignee ?? "");
  if (agent && agent.state.hook === bead.name) {
    if (agent.role !== "Polecat" || agent.state.phase !== "Idle") return false;
    if (d.pendingReportAgents.has(agent.name) || d.liveSessions(agent.name).length > 0) return false;
    const refund = refundInterrupted(d, bead, neverStarted(d, bead, agent));
    d.updateBead(
      bead.name,
      { ...refund.change, phase: "Open", phaseSince: d.now, reason: "DispatchInterrupted" },
      why(
        "DispatchInterrupted",
        `${agent.name} was hooked to ${bead.name} but no session is running; retrying${refund.said}`,
        true,
      ),
    );
    return true;
  }
  const t = d.snap.config.timeouts;
  const since = bead.state.lastDispatch ?? bead.state.phaseSince;
  const window = t.startupGrace + t.heartbeatTimeout;
  if (d.now - since <= window) {
    d.wake.at(since + window + 1);
    return false;
  }
  // The hook is written before the session is created: a claim without its hook never had one.
  const refund = refundInterrupted(d, bead, true);
  const w = why(
    "DispatchInterrupted",
    `${bead.name} was claimed for ${bead.state.assignee ?? "nobody"}, who never started on it${refund.said}`,
    true,
  );
  d.updateBead(
    bead.name,
    { ...refund.change, phase: "Open", phaseSince: d.now, assignee: undefined, reason: "DispatchInterrupted" },
    w,
  );
  for (const a of d.hookedTo(bead.name)) release(d, a.name, w);
  return true;
}

function staleInProgress(d: Draft, bead: BeadView): void {
  if (interruptedDispatch(d, bead)) return;
  const t = d.snap.config.timeouts;
  const hooked = d.hookedTo(bead.name);
  if (hooked.some((a) => a.state.phase === "Working" || freshHeartbeat(d, a))) return;
  if (d.now - bead.state.phaseSince <= t.staleInProgress) {
    d.wake.at(bead.state.phaseSince + t.staleInProgress + 1);
    return;
  }
  const w = why(
    "StaleInProgress",
    `${bead.name} in progress for over ${t.staleInProgress / 60000} min with no working agent`,
    true,
  );
  d.updateBead(bead.name, { phase: "Open", phaseSince: d.now, assignee: undefined, reason: "StaleInProgress" }, w);
  for (const a of hooked) release(d, a.name, w);
}

function orphanedInReview(d: Draft, bead: BeadView): void {
  const mrs = (d.snap.mergeRequestsBySource.get(bead.name) ?? []).map((m) => d.bead(m.name) as BeadView);
  if (mrs.some((m) => !isTerminal(m.state.phase)) || mrs.some((m) => d.creates(m.name))) return;
  // A merged MR is a durable fact: the issue's own closing write was lost (a controller killed
  // between the two), and there is nothing to wait for.
  const merged = mrs.find((m) => m.state.phase === "Closed" && m.state.resolution === "Merged");
  if (merged) {
    d.updateBead(
      bead.name,
      {
        phase: "Closed",
        phaseSince: d.now,
        resolution: "Merged",
        mergedBy: merged.name,
        reason: "Merged",
        hold: undefined,
      },
      why("Merged", `merged by ${merged.name}`),
    );
    return;
  }
  const t = d.snap.config.timeouts;
  const since = mrs.reduce((max, m) => Math.max(max, m.state.phaseSince), bead.state.phaseSince);
  if (d.now - since <= t.orphanedInReview) {
    d.wake.at(since + t.orphanedInReview + 1);
    return;
  }
  d.updateBead(
    bead.name,
    { phase: "Open", phaseSince: d.now, assignee: undefined, reason: "OrphanedInReview" },
    why("OrphanedInReview", `${bead.name} was in review with no live merge request; it will be redone`, true),
  );
}

/** An Open issue that keeps its assignee is waiting to be re-dispatched to that same agent. */
function retry(d: Draft, bead: BeadView): void {
  const agent = d.agent(bead.state.assignee ?? "");
  const hooked = agent?.state.hook === bead.name;
  if (!agent || !hooked) {
    // The hook was released (or the agent deleted): clear the assignment so anyone can take it.
    if (agent && d.hookedTo(bead.name).length === 0) {
      d.updateBead(bead.name, { assignee: undefined }, why("Unassigned", `${agent.name} no longer holds ${bead.name}`));
    } else if (!agent) {
      d.updateBead(bead.name, { assignee: undefined }, why("Unassigned", `agent ${bead.state.assignee} is gone`));
    }
    return;
  }
  if (agent.state.phase !== "Idle" || d.liveSessions(agent.name).length > 0 || beadHasLiveSession(d, bead.name)) return;
  if (budgetSpent(d, bead)) {
    failAtCap(d, bead);
    return;
  }
  const blockers = openBlockers(d, bead);
  if (blockers.length > 0) {
    // A blocker came back (it was retried or recreated): do not hold a polecat, and with it the
    // rig's capacity, while waiting for it — the blocker itself may need that polecat.
    const w = why(
      "WaitingForBlockers",
      `${bead.name} waits for ${blockers.join(", ")} again; ${agent.name} is released`,
    );
    d.updateBead(bead.name, { assignee: undefined }, w);
    release(d, agent.name, w);
    return;
  }
  if (dispatchBlocked(d)) return;
  const due = nextSessionDue(d, bead);
  if (d.now < due) {
    d.wake.at(due);
    return;
  }
  if (bead.state.handoffPending) {
    dispatch(d, agent, bead, "HandoffContinued", `${agent.name} continues ${bead.name} in a fresh session`);
    return;
  }
  dispatch(d, agent, bead, "Redispatched", `${agent.name} retries ${bead.name} (attempt ${bead.state.attempts + 1})`);
}

interface Capacity {
  perRig: Map<string, number>;
  town: number;
  usedNames: Set<string>;
  /** Per rig, the polecat index below which every name is taken (names are only ever added). */
  nextIndex: Map<string, number>;
}

/** A polecat is busy while hooked, Working, Stalled, or still running a session. */
function capacity(d: Draft): Capacity {
  const perRig = new Map<string, number>();
  const usedNames = new Set<string>();
  let town = 0;
  for (const a of d.allAgents()) {
    usedNames.add(a.name);
    if (a.role !== "Polecat") continue;
    if (a.state.hook || a.state.phase !== "Idle" || d.liveSessions(a.name).length > 0) {
      perRig.set(a.rig, (perRig.get(a.rig) ?? 0) + 1);
      town++;
    }
  }
  return { perRig, town, usedNames, nextIndex: new Map() };
}

function assign(d: Draft, candidates: BeadView[]): void {
  const cfg = d.snap.config;
  const ready = candidates.filter(
    (b) =>
      b.spec.rig !== undefined &&
      cfg.rigs.has(b.spec.rig) &&
      !inStagedConvoy(d, b) &&
      d.hookedTo(b.name).length === 0 &&
      !beadHasLiveSession(d, b.name) &&
      openBlockers(d, b).length === 0 &&
      (d.probing.has(b.name) || backedOff(d, b)),
  );
  if (ready.length === 0 || dispatchBlocked(d)) return;
  ready.sort((a, b) => a.spec.priority - b.spec.priority || a.created - b.created || (a.name < b.name ? -1 : 1));
  const cap = capacity(d);
  const free = new Map<string, AgentView[]>();
  for (const a of d.allAgents()) {
    if (a.role !== "Polecat" || !isFree(d, a)) continue;
    const list = free.get(a.rig);
    if (list) list.push(a);
    else free.set(a.rig, [a]);
  }
  for (const list of free.values()) list.sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const bead of ready) {
    const rig = bead.spec.rig as string;
    if ((cap.perRig.get(rig) ?? 0) >= cfg.maxPolecatsPerRig || cap.town >= cfg.maxPolecats) {
      d.waitingForCapacity.add(bead.name);
      continue;
    }
    const agent = takeFree(free.get(rig), bead.state.forceStoppedAgent) ?? newPolecat(d, rig, cap);
    cap.perRig.set(rig, (cap.perRig.get(rig) ?? 0) + 1);
    cap.town++;
    dispatch(d, agent, bead, "Dispatched", `${agent.name} takes ${bead.name}`);
  }
}

/** A redo after a force-stop goes to another polecat than the one that hung. */
function takeFree(list: AgentView[] | undefined, avoid: string | undefined): AgentView | undefined {
  if (!list) return undefined;
  const i = list.findIndex((a) => a.name !== avoid);
  return i < 0 ? undefined : list.splice(i, 1)[0];
}

/** A bead redone after a failed session waits out its back-off, whoever takes it next. */
function backedOff(d: Draft, bead: BeadView): boolean {
  const due = nextSessionDue(d, bead);
  if (d.now >= due) return true;
  d.wake.at(due);
  return false;
}

/** The rig's first unused polecat name (the search resumes where the last one stopped). */
function newPolecat(d: Draft, rig: string, cap: Capacity): AgentView {
  const used = cap.usedNames;
  let i = cap.nextIndex.get(rig) ?? 0;
  while (used.has(polecatName(d.snap.config.name, rig, i))) i++;
  cap.nextIndex.set(rig, i + 1);
  const name = polecatName(d.snap.config.name, rig, i);
  used.add(name);
  return d.createAgent(name, "Polecat", rig, why("PolecatCreated", `new polecat ${name} for rig ${rig}`));
}
