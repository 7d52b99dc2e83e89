// §5.8 Invariants, checked on the observed state after every plan. A violation is reported
// (metric, Warning Event, Town condition), never silently repaired. Where a single lost write can
// leave a state that the very next plan repairs, the invariant allows a grace period of one
// timeout — the simulation kills the controller between any two writes and still requires these
// to hold.
import type { Violation } from "../api/town.ts";
import type { BeadView, Snapshot } from "./snapshot.ts";
import { isLive, isTerminal } from "./snapshot.ts";

export const INVARIANTS = {
  1: "at most one agent hooked per bead, and a hooked agent is the bead's assignee",
  2: "a Working agent has a hook and a live or starting session",
  3: "at most one direct-merge merge request InProgress per rig",
  4: "an InReview issue has a live merge request",
  5: "at most one live landing per convoy, and a Landed convoy's landing merged",
  6: "no bead is Closed without a merge",
  7: "at most one live session per agent",
  8: "at most one live session per bead",
} as const;

export function checkInvariants(snap: Snapshot, now: number): Violation[] {
  const out: Violation[] = [];
  const fail = (invariant: keyof typeof INVARIANTS, object: string, detail: string) =>
    out.push({ invariant, object, message: `${INVARIANTS[invariant]}: ${detail}`.slice(0, 1024) });
  const t = snap.config.timeouts;

  // A session that ended and reported is waiting for the operator, not lost: a busy operator may
  // read its report later than the grace below (seen at 10 s timeouts on a loaded machine).
  const reported = new Set(snap.pendingReports.map((r) => `${r.spec.agent}/${r.spec.session}`));
  const hooked = new Map<string, string[]>();
  for (const a of snap.agents.values()) {
    const hook = a.state.hook;
    if (hook) push(hooked, hook, a.name);
    const live = (snap.sessionsByAgent.get(a.name) ?? []).filter((s) => isLive(s, now, t.heartbeatTimeout));
    if (live.length > 1) fail(7, a.name, `${a.name} runs ${live.map((s) => s.name).join(", ")}`);
    if (a.state.phase === "Working") {
      if (!hook) fail(2, a.name, `${a.name} is Working with no hook`);
      // Grace: a session that just ended is noticed by the next plan.
      const lease = snap.leases.get(a.name)?.renewTime;
      const current = (snap.sessionsByAgent.get(a.name) ?? []).find((s) => s.session === a.state.session);
      const evidence = Math.max(a.state.sessionStart ?? 0, lease ?? 0, current?.finished ?? 0);
      const waiting = reported.has(`${a.name}/${a.state.session}`);
      if (live.length === 0 && !waiting && now - evidence > t.heartbeatTimeout + t.startupGrace) {
        fail(2, a.name, `${a.name} is Working but session ${a.state.session} is not running`);
      }
    }
  }
  for (const [bead, agents] of hooked) {
    if (agents.length > 1) fail(1, bead, `${bead} is hooked by ${agents.join(", ")}`);
    const b = snap.beads.get(bead);
    const agent = agents[0] as string;
    if (b && !isTerminal(b.state.phase) && b.state.assignee && b.state.assignee !== agent) {
      fail(1, bead, `${agent} is hooked to ${bead}, which is assigned to ${b.state.assignee}`);
    }
  }
  for (const [bead, all] of snap.liveSessionsByBead) {
    const sessions = all.filter((s) => isLive(s, now, t.heartbeatTimeout));
    if (sessions.length > 1) fail(8, bead, `${bead} has live sessions ${sessions.map((s) => s.name).join(", ")}`);
  }

  const reviewing = new Map<string, string[]>();
  for (const b of snap.beads.values()) {
    const s = b.state;
    if (b.spec.type === "MergeRequest" && s.phase === "InProgress" && !s.prURL) {
      const rig = b.spec.rig ?? "";
      push(reviewing, rig, b.name);
    }
    if (b.spec.type === "Issue" && s.phase === "InReview") {
      const mrs = snap.mergeRequestsBySource.get(b.name) ?? [];
      if (!mrs.some((m) => !isTerminal(m.state.phase))) {
        const since = mrs.reduce((m, x) => Math.max(m, x.state.phaseSince), s.phaseSince);
        if (now - since > 2 * t.orphanedInReview) fail(4, b.name, `${b.name} is InReview with no live merge request`);
      }
    }
    if (s.phase === "Closed") checkClosed(snap, b, fail);
  }
  for (const [rig, mrs] of reviewing) if (mrs.length > 1) fail(3, rig, `rig ${rig} reviews ${mrs.join(", ")}`);

  for (const c of snap.convoys.values()) {
    const landings = snap.mergeRequestsBySource.get(`convoy/${c.name}`) ?? [];
    const live = landings.filter((m) => !isTerminal(m.state.phase));
    if (live.length > 1) fail(5, c.name, `${c.name} has live landings ${live.map((m) => m.name).join(", ")}`);
    const merged = landings.some((m) => m.state.phase === "Closed" && m.state.resolution === "Merged");
    if (c.state.phase === "Landed" && c.spec.mergeMode === "ReviewThenLand" && !merged) {
      fail(5, c.name, `${c.name} is Landed but no landing merge request merged`);
    }
  }
  return out;
}

function push(map: Map<string, string[]>, key: string, value: string): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function checkClosed(snap: Snapshot, b: BeadView, fail: (i: 6, o: string, d: string) => void): void {
  const name = b.name;
  const s = b.state;
  const mergedMR = (mr: string | undefined) => {
    const m = mr ? snap.beads.get(mr) : undefined;
    return m?.spec.type === "MergeRequest" && m.state.phase === "Closed" && m.state.resolution === "Merged";
  };
  if (b.spec.type === "MergeRequest") {
    if (s.resolution === "Merged") return;
    if (s.resolution === "Superseded" && mergedMR(s.mergedBy)) return;
    fail(6, name, `merge request ${name} is Closed (${s.resolution ?? "no resolution"}) without being merged`);
    return;
  }
  if (s.resolution === "ReworkDone" && b.spec.reworkOf) return;
  if (s.resolution === "Merged" && mergedMR(s.mergedBy)) return;
  fail(6, name, `${name} is Closed (${s.resolution ?? "no resolution"}) but no merged merge request is recorded`);
}
