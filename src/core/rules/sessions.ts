// §5.2 Sessions and agents: notice lost sessions (pod gone, failed, finished, or heartbeat
// silent), adopt a session whose "Working" write was lost, stop sessions nobody should be
// running, and unhook idle agents from work they can no longer do.
import type { Draft } from "../draft.ts";
import type { AgentView, SessionObservation } from "../snapshot.ts";
import { isTerminal } from "../snapshot.ts";
import { sessionFailed, sessionFailure, sessionRuns } from "./session-failures.ts";
import { release, why } from "./work.ts";

export function reconcileSessions(d: Draft): void {
  const reported = waitingReports(d);
  for (const name of d.snap.agents.keys()) {
    const agent = d.agent(name) as AgentView;
    stopStaleSessions(d, agent);
    adoptSession(d, agent, reported);
    const current = d.agent(name) as AgentView;
    if (current.state.phase === "Working" || current.state.phase === "Stalled") checkWorking(d, current, reported);
    const after = d.agent(name) as AgentView;
    if (after.state.phase === "Idle") checkIdle(d, after);
    refreshHeartbeat(d, d.agent(name) as AgentView);
  }
}

/** Only the agent's current session may run (invariant 7): older live sessions are stopped. */
function stopStaleSessions(d: Draft, agent: AgentView): void {
  for (const s of d.liveSessions(agent.name)) {
    if (s.session < agent.state.session) {
      d.stopSession(
        agent.name,
        s.name,
        why("SessionSuperseded", `${s.name} is older than session ${agent.state.session}`),
      );
    }
  }
}

/** `agent/session` of every report this plan left unresolved (the reports rule ran first). */
function waitingReports(d: Draft): ReadonlySet<string> {
  const out = new Set<string>();
  for (const r of d.snap.pendingReports) {
    if ((d.report(r.name) ?? r).state.outcome === undefined) out.add(`${r.spec.agent}/${r.spec.session}`);
  }
  return out;
}

/**
 * The dispatch writes the session before marking the agent Working; if that last write was lost,
 * the next plan finds a live session newer than the agent's status and adopts it (or stops it if
 * the agent is no longer hooked to its bead). A session may also have done its work, reported
 * and ended before that plan (the operator's restart outlasted it): it is adopted all the same
 * while a report of it waits, so that the report applies rather than being rejected as from a
 * session nobody ran, and the bead redone and charged for work that was done.
 */
function adoptSession(d: Draft, agent: AgentView, reported: ReadonlySet<string>): void {
  const newer = d.liveSessions(agent.name).filter((s) => s.session > agent.state.session);
  const ended = d
    .sessions(agent.name)
    .filter((s) => s.session > agent.state.session && !d.isLive(s) && reported.has(`${agent.name}/${s.session}`))
    .at(-1);
  const endedIsNewest = ended !== undefined && ended.session > (newer.at(-1)?.session ?? 0);
  if (endedIsNewest && agent.state.phase === "Idle" && agent.state.hook && agent.state.hook === ended.bead) {
    for (const s of newer)
      d.stopSession(agent.name, s.name, why("SessionSuperseded", `${s.name} is not the newest session`));
    adopt(d, agent, ended);
    return;
  }
  const newest = newer[newer.length - 1];
  if (!newest) return;
  for (const s of newer) {
    if (s !== newest)
      d.stopSession(agent.name, s.name, why("SessionSuperseded", `${s.name} is not the newest session`));
  }
  if (agent.state.phase === "Idle" && agent.state.hook && agent.state.hook === newest.bead) {
    adopt(d, agent, newest);
  } else {
    d.stopSession(
      agent.name,
      newest.name,
      why("SessionOrphaned", `${newest.name} runs for work ${agent.name} no longer holds`),
    );
  }
}

function adopt(d: Draft, agent: AgentView, s: SessionObservation): void {
  d.updateAgent(
    agent.name,
    {
      phase: "Working",
      session: s.session,
      pod: s.name,
      sessionBead: s.bead,
      sessionStart: s.created,
      idleSince: undefined,
    },
    why("SessionAdopted", `${s.name} was started but not recorded; adopted`),
  );
}

function currentSession(d: Draft, agent: AgentView): SessionObservation | undefined {
  return d.sessions(agent.name).find((s) => s.session === agent.state.session);
}

/** Why a Working agent's session is lost, or undefined while it is healthy; wakes at the deadline. */
function lostBecause(d: Draft, agent: AgentView, s: SessionObservation | undefined): string | undefined {
  if (!s) return `session ${agent.state.pod ?? agent.state.session} is gone`;
  if (s.deleting && !d.isLive(s) && s.phase !== "Succeeded" && s.phase !== "Failed") {
    return `session ${s.name} is stuck terminating (past its grace period)`;
  }
  if (s.phase === "Succeeded") return `session ${s.name} exited 0 without reporting Done`;
  if (s.phase === "Failed") {
    return `session ${s.name} failed${s.exitCode === undefined ? "" : ` with exit code ${s.exitCode}`}${s.reason ? ` (${s.reason})` : ""}`;
  }
  const t = d.snap.config.timeouts;
  const lease = d.snap.leases.get(agent.name);
  const renewed = lease?.session === s.session ? lease.renewTime : undefined;
  // A session that never renewed its lease gets the startup grace, counted from pod start.
  const deadline =
    renewed !== undefined
      ? renewed + t.heartbeatTimeout
      : (s.started ?? s.created) + t.startupGrace + t.heartbeatTimeout;
  if (d.now > deadline) {
    return renewed !== undefined
      ? `no heartbeat from ${s.name} for more than ${t.heartbeatTimeout / 1000}s`
      : `${s.name} never sent a heartbeat`;
  }
  d.wake.at(deadline + 1);
  return undefined;
}

function checkWorking(d: Draft, agent: AgentView, reported: ReadonlySet<string>): void {
  if (!agent.state.hook) {
    // A force-stopped agent shows Stalled until its session is really gone.
    if (agent.state.phase === "Stalled" && d.liveSessions(agent.name).length > 0) return;
    d.updateAgent(agent.name, { phase: "Idle", idleSince: d.now }, why("Unhooked", `${agent.name} has no hook`));
    return;
  }
  const hooked = d.bead(agent.state.hook);
  if (!hooked || isTerminal(hooked.state.phase)) {
    // The work was cancelled, deleted with its convoy, or finished another way: nobody may go on with it.
    const w = why(
      "WorkGone",
      hooked ? `${hooked.name} is ${hooked.state.phase}; its session is stopped` : `${agent.state.hook} is gone`,
    );
    for (const s of d.liveSessions(agent.name)) d.stopSession(agent.name, s.name, w);
    release(d, agent.name, w);
    return;
  }
  const s = currentSession(d, agent);
  // An ended session's report is its result: it applies first, then the session's end is no loss.
  if (s && !d.isLive(s) && reported.has(`${agent.name}/${s.session}`)) return;
  const failure = s ? sessionFailure(s) : undefined;
  if (s && failure) {
    sessionFailed(d, agent, hooked, s, failure);
    return;
  }
  const lost = lostBecause(d, agent, s);
  if (!lost) {
    const lease = d.snap.leases.get(agent.name);
    if (s && lease?.session === s.session && lease.renewTime !== undefined) sessionRuns(d, agent, hooked, lease);
    return;
  }
  const handedOff = hooked.state.handoffPending;
  const failed = s?.phase === "Failed";
  const reason = handedOff
    ? "SessionHandedOff"
    : s?.phase === "Succeeded"
      ? "SessionEndedWithoutDone"
      : failed
        ? "SessionFailed"
        : "SessionLost";
  const w = handedOff ? why(reason, `${lost}; it handed off, a fresh session continues`) : why(reason, lost, true);
  if (s && d.isLive(s)) d.stopSession(agent.name, s.name, w);
  if (!handedOff) d.recordFailedSession(agent.name, hooked.name, reason);
  // The bead goes back to Open first (keeping its assignee and hook, so the retry rule re-dispatches
  // it to the same agent after the back-off); a merge request stays InProgress (§5.4 retries it).
  const bead = hooked;
  if (bead.spec.type === "Issue" && bead.state.phase === "InProgress" && bead.state.assignee === agent.name) {
    d.updateBead(bead.name, { phase: "Open", phaseSince: d.now, reason }, w);
  }
  d.updateAgent(
    agent.name,
    {
      phase: "Idle",
      idleSince: d.now,
      lastSessionExit: {
        session: agent.state.session,
        ...(s?.exitCode === undefined ? {} : { exitCode: s.exitCode }),
        reason: lost.slice(0, 256),
        time: d.now,
      },
    },
    w,
  );
}

/** Is the agent's hook still work it can do? Otherwise the hook is released. */
function hookIsValid(d: Draft, agent: AgentView): boolean {
  const bead = d.bead(agent.state.hook ?? "");
  if (!bead || isTerminal(bead.state.phase) || bead.state.assignee !== agent.name) return false;
  if (agent.role === "Polecat") return bead.spec.type === "Issue" && bead.state.phase !== "InReview";
  return bead.spec.type === "MergeRequest" && bead.state.phase === "InProgress";
}

function checkIdle(d: Draft, agent: AgentView): void {
  if (agent.state.hook && !d.pendingReportAgents.has(agent.name) && !hookIsValid(d, agent)) {
    const bead = d.bead(agent.state.hook);
    const what = bead
      ? `${bead.name} is ${bead.state.phase}${bead.state.assignee === agent.name ? "" : " and not assigned to it"}`
      : `${agent.state.hook} is gone`;
    release(d, agent.name, why("Unhooked", `${agent.name} released: ${what}`));
  }
  // A session that outlives its agent's assignment (the agent reported Done but did not exit) is
  // stopped once the heartbeat timeout has passed.
  const idleSince = agent.state.idleSince ?? agent.created;
  for (const s of d.liveSessions(agent.name)) {
    if (s.session !== agent.state.session) continue;
    const due = idleSince + d.snap.config.timeouts.heartbeatTimeout;
    if (d.now > due)
      d.stopSession(agent.name, s.name, why("SessionLingering", `${s.name} kept running after its work ended`));
    else d.wake.at(due + 1);
  }
}

/**
 * Copies the Lease's heartbeat and activity into the Agent's status for `kubectl get agents`, but
 * only when the copy is older than twice the heartbeat timeout: the Lease is the source of truth,
 * and a copy on every renewal would double the write load.
 */
function refreshHeartbeat(d: Draft, agent: AgentView): void {
  if (agent.state.phase !== "Working") return;
  const lease = d.snap.leases.get(agent.name);
  if (!lease || lease.session !== agent.state.session || lease.renewTime === undefined) return;
  const every = 2 * d.snap.config.timeouts.heartbeatTimeout;
  const shown = agent.state.lastHeartbeat;
  if (shown !== undefined && lease.renewTime - shown < every) return;
  d.updateAgent(
    agent.name,
    {
      lastHeartbeat: lease.renewTime,
      lastActivity: lease.activityTime,
      lastActivityKind: lease.activityKind,
      activeTools: lease.activeTools,
    },
    undefined,
  );
}
