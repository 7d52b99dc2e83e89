// The status pass: bead, agent and town conditions per kstatus (Ready summary; Blocked, Stalled,
// Degraded, Escalated present only when true; lastTransitionTime moves only on status flips),
// town counts, and a converged town whose plan makes zero writes.
import { describe, expect, it } from "vitest";
import type { Bead } from "../../../../src/api/bead.ts";
import type { Condition } from "../../../../src/api/meta.ts";
import type { Escalation, Town } from "../../../../src/api/town.ts";
import { plan } from "../../../../src/core/plan.ts";
import { agentView, beadView, convoyView, snapshotFromViews } from "../../../../src/core/snapshot.ts";
import {
  applyStatus,
  beadStatus,
  conditionsOf,
  convoyOf,
  type Fixture,
  HOUR,
  iso,
  issue,
  lease,
  MIN,
  mergeRequest,
  ofType,
  planAt,
  pod,
  polecat,
  reasons,
  refinery,
  report,
  rework,
  T0,
  town,
  townStatus,
  withObjects,
  workingStatus,
} from "../builders.ts";

const NOW = T0 + HOUR;
const OLD = T0 - HOUR;
const TOAST = "gt-app-toast";
const ABNORMAL = ["Blocked", "Stalled", "Degraded", "Escalated"];

const cond = (type: string, status: "True" | "False", reason: string, message = "m", at = OLD): Condition => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: iso(at),
  observedGeneration: 1,
});

/** Every condition any status write of the plan carries. */
function allConditions(p: ReturnType<typeof planAt>): Condition[] {
  return p.actions.flatMap((a) => ("status" in a ? ((a.status.conditions ?? []) as Condition[]) : []));
}

describe("bead Ready (and Blocked / Stalled)", () => {
  const suspended = town({ suspend: true });
  it.each([
    {
      name: "Open, waiting to be dispatched",
      fixture: { town: suspended, beads: [issue("x")] },
      ready: { status: "False", reason: "Pending", message: "waiting to be dispatched" },
    },
    {
      name: "Open with an open blocker",
      fixture: {
        town: suspended,
        beads: [
          issue("x", { spec: { dependsOn: ["d1", "d2"] } }),
          issue("d2", { phase: "Closed", status: { resolution: "Merged" } }),
        ],
      },
      ready: { status: "False", reason: "Blocked", message: "waiting for d1" },
      blocked: { status: "True", reason: "DependenciesOpen", message: "waiting for d1" },
    },
    {
      name: "Open without a rig",
      fixture: { beads: [issue("x", { spec: { rig: undefined } })] },
      ready: { status: "False", reason: "NoRig", message: "no rig: tracked, never dispatched" },
    },
    {
      name: "Open, assigned, waiting for its retry",
      fixture: {
        beads: [issue("x", { assignee: TOAST, attempts: 1, since: NOW })],
        agents: [polecat(TOAST, { hook: "x", status: { phase: "Idle", session: 1, idleSince: iso(NOW) } })],
      },
      ready: { status: "False", reason: "WaitingForRetry", message: `${TOAST} retries after a back-off` },
    },
    {
      name: "Open in a staged convoy",
      fixture: {
        convoys: [convoyOf("c", [{ name: "x" }], { staged: true })],
        beads: [issue("c-x", { spec: { convoy: "c" } })],
      },
      bead: "c-x",
      ready: { status: "False", reason: "Staged", message: "convoy c is staged" },
    },
    {
      name: "Open merge request waiting for rework",
      fixture: {
        town: suspended,
        beads: [mergeRequest("x-mr-1", "x"), rework("x-mr-1-rework-1", "x-mr-1")],
      },
      bead: "x-mr-1",
      ready: { status: "False", reason: "WaitingForRework", message: "waiting for x-mr-1-rework-1" },
    },
    {
      name: "InProgress",
      fixture: {
        beads: [issue("x", { phase: "InProgress", assignee: TOAST, since: NOW })],
        agents: [polecat(TOAST, { hook: "x", status: workingStatus(TOAST, "x", { start: NOW, heartbeat: NOW }) })],
        sessions: [pod(TOAST, 1, { bead: "x", created: NOW })],
        leases: [lease(TOAST, { renewTime: NOW })],
      },
      ready: { status: "False", reason: "InProgress", message: `${TOAST} is working on it` },
    },
    {
      name: "InProgress without an assignee",
      fixture: { beads: [issue("x", { phase: "InProgress", since: NOW })] },
      ready: { status: "False", reason: "InProgress", message: "an agent is working on it" },
    },
    {
      name: "InReview",
      fixture: { town: suspended, beads: [issue("x", { phase: "InReview", since: NOW }), mergeRequest("x-mr-1", "x")] },
      ready: { status: "False", reason: "InReview", message: "waiting for its merge request" },
    },
    {
      name: "Failed in this plan (cancelled)",
      fixture: { beads: [issue("x", { spec: { cancel: true } })] },
      ready: { status: "False", reason: "Cancelled", message: "Cancelled" },
      stalled: { status: "True", reason: "Cancelled", message: "Cancelled" },
    },
    {
      name: "Closed in this plan (merged)",
      fixture: {
        beads: [
          issue("x", { phase: "InReview", since: T0 }),
          mergeRequest("x-mr-1", "x", { phase: "Closed", since: T0, status: { resolution: "Merged" } }),
        ],
      },
      ready: { status: "True", reason: "Merged", message: "merged by x-mr-1" },
    },
  ])("$name", ({ fixture, bead, ready, blocked, stalled }) => {
    const name = bead ?? "x";
    const p = planAt(fixture as Fixture, NOW);
    const c = conditionsOf(p, "Bead", name);
    expect(c.Ready).toEqual({ type: "Ready", ...ready, lastTransitionTime: iso(NOW), observedGeneration: 1 });
    expect(c.Blocked).toEqual(
      blocked && { type: "Blocked", ...blocked, lastTransitionTime: iso(NOW), observedGeneration: 1 },
    );
    expect(c.Stalled).toEqual(
      stalled && { type: "Stalled", ...stalled, lastTransitionTime: iso(NOW), observedGeneration: 1 },
    );
    expect(Object.keys(c).sort()).toEqual(
      ["Ready", ...(blocked ? ["Blocked"] : []), ...(stalled ? ["Stalled"] : [])].sort(),
    );
  });

  it("a terminal bead this plan does not touch gets no write", () => {
    const p = planAt({ beads: [issue("x", { phase: "Closed", status: { resolution: "Merged" } })] }, NOW);
    expect(beadStatus(p, "x")).toBeUndefined();
  });

  it("Blocked is removed (not set False) when the blocker finishes; Ready's reason changes without a transition", () => {
    const x = issue("x", {
      spec: { dependsOn: ["d"] },
      status: {
        conditions: [
          cond("Ready", "False", "Blocked", "waiting for d"),
          cond("Blocked", "True", "DependenciesOpen", "waiting for d"),
        ],
        observedGeneration: 1,
      },
    });
    const p = planAt(
      {
        town: town({ suspend: true }),
        beads: [x, issue("d", { phase: "Failed", status: { resolution: "Cancelled" } })],
      },
      NOW,
    );
    const write = ofType(p, "UpdateBeadStatus").find((a) => a.name === "x");
    expect(write?.status.conditions).toEqual([
      { ...cond("Ready", "False", "Pending", "waiting to be dispatched"), lastTransitionTime: iso(OLD) },
    ]);
    // Neither a reason change nor a removal is a status flip: no condition Event.
    expect(write?.events).toEqual([]);
  });

  it("lastTransitionTime moves when Ready flips, and the flip is told once (by the change's own Event)", () => {
    const x = issue("x", {
      phase: "InReview",
      since: T0,
      status: {
        conditions: [cond("Ready", "False", "InReview", "waiting for its merge request")],
        observedGeneration: 1,
      },
    });
    const p = planAt(
      { beads: [x, mergeRequest("x-mr-1", "x", { phase: "Closed", since: T0, status: { resolution: "Merged" } })] },
      NOW,
    );
    const write = ofType(p, "UpdateBeadStatus").find((a) => a.name === "x");
    expect(write?.status.conditions).toEqual([cond("Ready", "True", "Merged", "merged by x-mr-1", NOW)]);
    expect(write?.events).toEqual([{ reason: "Merged", message: "merged by x-mr-1" }]);
  });

  it("a condition that no change of this plan told is its own Event (Blocked=True)", () => {
    const x = issue("x", {
      status: { conditions: [cond("Ready", "False", "Pending", "waiting to be dispatched")], observedGeneration: 1 },
      spec: { dependsOn: ["y"] },
    });
    const p = planAt({ beads: [x, issue("y", { phase: "InProgress", since: T0 })] }, NOW);
    const write = ofType(p, "UpdateBeadStatus").find((a) => a.name === "x");
    expect(write?.events.map((e) => e.reason)).toEqual(["DependenciesOpen"]);
  });

  it("a new generation is observed: conditions carry it, lastTransitionTime stays", () => {
    const x = issue("x", {
      generation: 4,
      status: { conditions: [cond("Ready", "False", "Pending", "waiting to be dispatched")], observedGeneration: 1 },
    });
    const p = planAt({ town: town({ suspend: true }), beads: [x] }, NOW);
    expect(beadStatus(p, "x")).toEqual({
      conditions: [{ ...cond("Ready", "False", "Pending", "waiting to be dispatched"), observedGeneration: 4 }],
      observedGeneration: 4,
    });
  });

  it("a bead whose status was never written gets phase Open and its creation time on the first write", () => {
    const { status: _none, ...fresh } = issue("x", { created: T0 + 5 * MIN });
    const p = planAt({ town: town({ suspend: true }), beads: [fresh as Bead] }, NOW);
    expect(beadStatus(p, "x")).toMatchObject({
      phase: "Open",
      lastPhaseTransitionTime: iso(T0 + 5 * MIN),
      observedGeneration: 1,
    });
    // Its creation told that it is waiting: no Event for the state it was made in.
    expect(reasons(p, "x")).toEqual([]);
  });

  it("a new bead on a rig the town does not have: its first Stalled is an Event", () => {
    const { status: _none, ...fresh } = issue("x", { spec: { rig: "nope" } });
    const p = planAt({ town: town({ suspend: true }), beads: [fresh as Bead] }, NOW);
    expect(beadStatus(p, "x")).toMatchObject({ phase: "Open" });
    expect(reasons(p, "x")).toEqual(["UnknownRig"]);
  });
});

describe("conditions found current are remade when what they read changes", () => {
  // The operator makes one view per object version and plans from the same views again, and the
  // status pass remembers, by view, the beads whose conditions it found current. Here the bead's
  // view is the same object in both plans; only something its conditions read changes.
  const suspended = town({ suspend: true });
  const converged = (f: Fixture): Fixture => {
    let settled = f;
    for (let i = 0; i < 3; i++) settled = applyStatus(settled, planAt(settled, NOW));
    expect(planAt(settled, NOW).actions).toEqual([]);
    return settled;
  };
  const views = (f: Fixture) => ({
    town: f.town ?? suspended,
    convoys: (f.convoys ?? []).map(convoyView),
    beads: (f.beads ?? []).map(beadView),
    agents: (f.agents ?? []).map(agentView),
    reports: [],
    sessions: f.sessions ?? [],
    leases: f.leases ?? [],
  });
  type Views = ReturnType<typeof views>;
  const planFrom = (v: Views) => plan(snapshotFromViews(v), NOW);
  const readyOf = (p: ReturnType<typeof planFrom>, bead: string) =>
    (beadStatus(p, bead)?.conditions as Condition[] | undefined)?.find((c) => c.type === "Ready");
  const replaced = (v: Views, bead: Bead) => v.beads.map((b) => (b.name === bead.metadata.name ? beadView(bead) : b));

  it("a blocker that finished: Blocked goes, Ready says Pending", () => {
    const v = views(converged({ town: suspended, beads: [issue("x", { spec: { dependsOn: ["d"] } }), issue("d")] }));
    expect(planFrom(v).actions).toEqual([]);
    const p = planFrom({
      ...v,
      beads: replaced(v, issue("d", { phase: "Failed", status: { resolution: "Cancelled" } })),
    });
    expect(readyOf(p, "x")).toMatchObject({ reason: "Pending" });
    expect(((beadStatus(p, "x")?.conditions ?? []) as Condition[]).map((c) => c.type)).toEqual(["Ready"]);
  });

  it("a blocker that finished while another came back: Ready names the one still open", () => {
    const v = views(
      converged({
        town: suspended,
        beads: [
          issue("x", { spec: { dependsOn: ["d", "e"] } }),
          issue("d"),
          issue("e", { phase: "Failed", status: { resolution: "Cancelled" } }),
        ],
      }),
    );
    expect(planFrom(v).actions).toEqual([]);
    // As many blockers as before, not the same ones: d closed, e open again (retried).
    const p = planFrom({
      ...v,
      beads: replaced(
        { ...v, beads: replaced(v, issue("d", { phase: "Failed", status: { resolution: "Cancelled" } })) },
        issue("e"),
      ),
    });
    expect(readyOf(p, "x")).toMatchObject({ reason: "Blocked", message: "waiting for e" });
  });

  it("a rig the town no longer has: Stalled UnknownRig", () => {
    const v = views(converged({ town: suspended, beads: [issue("x")] }));
    expect(planFrom(v).actions).toEqual([]);
    const moved: Town = town({ suspend: true, rigs: [{ name: "web" }] });
    const p = planFrom({ ...v, town: moved });
    expect(readyOf(p, "x")).toMatchObject({ reason: "UnknownRig", message: expect.stringContaining("(rigs: web)") });
  });

  it("capacity no longer the reason: a suspended town's waiting bead is Pending", () => {
    const busy = converged({
      town: town({ limits: { maxPolecatsPerRig: 1 } }),
      beads: [issue("x", { phase: "InProgress", assignee: TOAST, attempts: 1, since: NOW - MIN }), issue("y")],
      agents: [polecat(TOAST, { hook: "x", status: workingStatus(TOAST, "x", { start: NOW - MIN, heartbeat: NOW }) })],
      sessions: [pod(TOAST, 1, { bead: "x", created: NOW - MIN })],
      leases: [lease(TOAST, { renewTime: NOW, activityTime: NOW })],
    });
    const v = views(busy);
    const y = v.beads.find((b) => b.name === "y");
    expect(y?.state.conditions.find((c) => c.type === "Ready")).toMatchObject({ reason: "WaitingForCapacity" });
    expect(planFrom(v).actions).toEqual([]);
    const p = planFrom({ ...v, town: town({ suspend: true, limits: { maxPolecatsPerRig: 1 } }) });
    expect(readyOf(p, "y")).toMatchObject({ reason: "Pending" });
  });

  it("a merge request's rework that ended: WaitingForRework is over", () => {
    const v = views(
      converged({
        town: suspended,
        beads: [issue("x"), mergeRequest("x-mr-1", "x"), rework("x-mr-1-rework-1", "x-mr-1")],
      }),
    );
    expect(planFrom(v).actions).toEqual([]);
    const ended = rework("x-mr-1-rework-1", "x-mr-1", { phase: "Failed", status: { resolution: "Cancelled" } });
    const p = planFrom({ ...v, beads: replaced(v, ended) });
    expect(readyOf(p, "x-mr-1")).toMatchObject({ reason: "Pending" });
  });

  it("its convoy unstaged: Ready says Pending instead of Staged", () => {
    const staged = convoyOf("c", [{ name: "a" }], { staged: true });
    const v = views(
      converged({ town: suspended, convoys: [staged], beads: [issue("c-a", { spec: { convoy: "c" } })] }),
    );
    expect(planFrom(v).actions).toEqual([]);
    const p = planFrom({ ...v, convoys: [convoyView(convoyOf("c", [{ name: "a" }]))] });
    expect(readyOf(p, "c-a")).toMatchObject({ reason: "Pending" });
  });
});

describe("agent Ready (and Stalled)", () => {
  it.each([
    {
      name: "Idle",
      fixture: { agents: [polecat(TOAST, { status: { phase: "Idle", session: 1, idleSince: iso(NOW) } })] },
      ready: { status: "True", reason: "Idle", message: "Idle" },
    },
    {
      name: "Working",
      fixture: {
        beads: [issue("x", { phase: "InProgress", assignee: TOAST, since: NOW })],
        agents: [polecat(TOAST, { hook: "x", status: workingStatus(TOAST, "x", { start: NOW, heartbeat: NOW }) })],
        sessions: [pod(TOAST, 1, { bead: "x", created: NOW })],
        leases: [lease(TOAST, { renewTime: NOW })],
      },
      ready: { status: "True", reason: "Working", message: "Working on x" },
    },
    {
      name: "Stalled",
      fixture: {
        beads: [issue("x", { phase: "InProgress", assignee: TOAST, since: NOW })],
        agents: [polecat(TOAST, { hook: "x", status: { phase: "Stalled", session: 1 } })],
        sessions: [pod(TOAST, 1, { bead: "x", created: NOW, deleting: true })],
        leases: [lease(TOAST, { renewTime: NOW })],
      },
      ready: { status: "False", reason: "Stalled", message: "Stalled on x" },
      stalled: { status: "True", reason: "GUPPForceStop", message: "stopped for inactivity" },
    },
  ])("$name", ({ fixture, ready, stalled }) => {
    const c = conditionsOf(planAt(fixture as Fixture, NOW), "Agent", TOAST);
    expect(c.Ready).toEqual({ type: "Ready", ...ready, lastTransitionTime: iso(NOW) });
    expect(c.Stalled).toEqual(stalled && { type: "Stalled", ...stalled, lastTransitionTime: iso(NOW) });
  });

  it("Stalled is removed when a Stalled agent's session is lost and it goes Idle", () => {
    const p = planAt(
      {
        beads: [
          issue("x", {
            phase: "InProgress",
            assignee: TOAST,
            since: NOW,
            attempts: 1,
            status: { lastDispatchTime: iso(OLD) },
          }),
        ],
        agents: [
          polecat(TOAST, {
            hook: "x",
            status: {
              phase: "Stalled",
              session: 1,
              conditions: [
                { ...cond("Ready", "False", "Stalled", "Stalled on x"), observedGeneration: undefined },
                {
                  ...cond("Stalled", "True", "GUPPForceStop", "stopped for inactivity"),
                  observedGeneration: undefined,
                },
              ],
            },
          }),
        ],
      },
      NOW,
    );
    const c = conditionsOf(p, "Agent", TOAST);
    expect(Object.keys(c)).toEqual(["Ready"]);
    expect(c.Ready).toMatchObject({ status: "True", reason: "Idle", lastTransitionTime: iso(NOW) });
  });
});

const escalation = (id: string, o: Partial<Escalation> = {}): Escalation => ({
  id,
  severity: "Medium",
  reason: "Stuck",
  message: `${id} needs a person`,
  firstTime: iso(NOW - HOUR),
  lastTime: iso(NOW - HOUR),
  raisedTime: iso(NOW - HOUR),
  count: 1,
  level: 0,
  acknowledged: false,
  ...o,
});

describe("town status", () => {
  it("counts beads and agents by phase after the plan, and is Ready", () => {
    const f: Fixture = {
      town: town({ suspend: true, rigs: [{ name: "app" }, { name: "web" }] }),
      beads: [
        issue("o1"),
        issue("o2"),
        issue("p", { phase: "InProgress", assignee: TOAST, since: NOW }),
        issue("r", { phase: "InReview", since: NOW }),
        mergeRequest("r-mr-1", "r"),
        issue("s", { phase: "InProgress", assignee: "gt-app-birch", since: NOW }),
        issue("c", { phase: "Closed", status: { resolution: "Merged", mergedBy: "c-mr-1" } }),
        mergeRequest("c-mr-1", "c", { phase: "Closed", status: { resolution: "Merged" } }),
        issue("f", { phase: "Failed", status: { resolution: "Cancelled" } }),
        issue("k", { spec: { cancel: true } }),
      ],
      agents: [
        polecat(TOAST, { hook: "p", status: workingStatus(TOAST, "p", { start: NOW, heartbeat: NOW }) }),
        polecat("gt-app-maple", { status: { phase: "Idle", session: 1, idleSince: iso(NOW) } }),
        polecat("gt-app-birch", { hook: "s", status: { phase: "Stalled", session: 1 } }),
      ],
      sessions: [
        pod(TOAST, 1, { bead: "p", created: NOW }),
        pod("gt-app-birch", 1, { bead: "s", created: NOW, deleting: true }),
      ],
      leases: [lease(TOAST, { renewTime: NOW }), lease("gt-app-birch", { renewTime: NOW })],
    };
    const p = planAt(f, NOW);
    expect(townStatus(p)).toEqual({
      observedGeneration: 1,
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "Reconciled",
          message: "the town is reconciled",
          lastTransitionTime: iso(NOW),
          observedGeneration: 1,
        },
      ],
      rigCount: 2,
      beads: { open: 3, inProgress: 2, inReview: 1, closed: 2, failed: 2 },
      agents: { idle: 1, working: 1, stalled: 1 },
      workingAgents: 1,
      openBeads: 3,
    });
    expect(ofType(p, "UpdateTownStatus")[0]).toMatchObject({
      name: "gt",
      resourceVersion: "1",
      events: [{ reason: "Reconciled", message: "Ready=True: the town is reconciled" }],
    });
  });

  it.each([
    {
      name: "an invariant violation: Degraded (InvariantViolated) and the violations listed",
      fixture: {
        town: town({ suspend: true }),
        beads: [issue("x", { phase: "InProgress", since: NOW })],
        agents: [
          polecat(TOAST, { hook: "x", status: { phase: "Idle", session: 1, idleSince: iso(NOW) } }),
          polecat("gt-app-maple", { hook: "x", status: { phase: "Idle", session: 1, idleSince: iso(NOW) } }),
        ],
      },
      degraded: {
        reason: "InvariantViolated",
        message:
          "1 invariant violation(s): at most one agent hooked per bead, and a hooked agent is the bead's assignee: x is hooked by gt-app-toast, gt-app-maple",
      },
      violations: 1,
    },
    {
      name: "a poisoned report: Degraded (ReportsPoisoned)",
      fixture: {
        reports: [
          report(
            "bad",
            { agent: TOAST, bead: "x", type: "Done" },
            { status: { outcome: "Poisoned", processedAt: iso(NOW) } },
          ),
        ],
      },
      degraded: { reason: "ReportsPoisoned", message: "poisoned reports: bad" },
      violations: 0,
    },
    {
      name: "an unacknowledged escalation: Escalated",
      fixture: {
        town: town({ status: { rigCount: 1, workingAgents: 0, openBeads: 0, escalations: [escalation("stuck-x")] } }),
      },
      escalated: {
        reason: "Unacknowledged",
        message: "unacknowledged escalations: stuck-x; acknowledge with spec.acknowledgedEscalations",
      },
      violations: 0,
    },
  ])("$name", ({ fixture, degraded, escalated, violations }) => {
    const p = planAt(fixture as Fixture, NOW);
    const c = conditionsOf(p, "Town");
    expect(c.Degraded).toEqual(
      degraded && {
        type: "Degraded",
        status: "True",
        ...degraded,
        lastTransitionTime: iso(NOW),
        observedGeneration: 1,
      },
    );
    expect(c.Escalated).toEqual(
      escalated && {
        type: "Escalated",
        status: "True",
        ...escalated,
        lastTransitionTime: iso(NOW),
        observedGeneration: 1,
      },
    );
    expect(p.violations).toHaveLength(violations);
    expect(townStatus(p)?.violations).toEqual(violations > 0 ? p.violations : undefined);
    const warnings = ofType(p, "UpdateTownStatus")[0]?.events.filter((e) => e.warning);
    expect(warnings?.map((e) => e.reason)).toEqual([degraded?.reason ?? escalated?.reason]);
  });

  it("Degraded and Escalated are removed once healthy; an unchanged Ready is not rewritten", () => {
    const ready = {
      type: "Ready",
      status: "True" as const,
      reason: "Reconciled",
      message: "the town is reconciled",
      lastTransitionTime: iso(OLD),
      observedGeneration: 1,
    };
    const t = town({
      status: {
        observedGeneration: 1,
        conditions: [ready, cond("Degraded", "True", "ReportsPoisoned"), cond("Escalated", "True", "AgentEscalated")],
        rigCount: 1,
        beads: { open: 0, inProgress: 0, inReview: 0, closed: 0, failed: 0 },
        agents: { idle: 0, working: 0, stalled: 0 },
        workingAgents: 0,
        openBeads: 0,
        violations: [{ invariant: 7, message: "old" }],
      },
    });
    const p = planAt({ town: t }, NOW);
    expect(ofType(p, "UpdateTownStatus")).toEqual([
      {
        type: "UpdateTownStatus",
        name: "gt",
        resourceVersion: "1",
        status: { conditions: [ready], violations: [] },
        events: [],
      },
    ]);
  });
});

describe("a converged town makes no writes", () => {
  /** A busy town: a Working polecat, a bead waiting for capacity, a landed convoy, an idle refinery, a processed report. */
  const busy = (): Fixture => ({
    town: town({ limits: { maxPolecatsPerRig: 1 } }),
    convoys: [convoyOf("c", [{ name: "a" }], { mergeMode: "ReviewAndMerge", status: { phase: "Landed" } })],
    beads: [
      issue("x", { phase: "InProgress", assignee: TOAST, attempts: 1, since: NOW - MIN }),
      issue("y"),
      issue("z", { spec: { dependsOn: ["x"] } }),
      issue("c-a", { phase: "Closed", spec: { convoy: "c" }, status: { resolution: "Merged", mergedBy: "c-a-mr-1" } }),
      mergeRequest("c-a-mr-1", "c-a", { phase: "Closed", spec: { convoy: "c" }, status: { resolution: "Merged" } }),
    ],
    agents: [
      polecat(TOAST, { hook: "x", status: workingStatus(TOAST, "x", { start: NOW - MIN, heartbeat: NOW }) }),
      refinery({ status: { phase: "Idle", session: 1, idleSince: iso(NOW - MIN) } }),
    ],
    sessions: [
      pod(TOAST, 1, { bead: "x", created: NOW - MIN }),
      pod("gt-app-refinery", 1, { phase: "Succeeded", finished: NOW - MIN }),
    ],
    leases: [lease(TOAST, { renewTime: NOW, activityTime: NOW })],
    reports: [
      report(
        "done",
        { agent: TOAST, bead: "q", type: "Done" },
        { status: { outcome: "Applied", processedAt: iso(NOW - MIN) } },
      ),
    ],
  });

  it("the first plan only derives status; planned again from its result, nothing is written", () => {
    const first = planAt(busy(), NOW);
    expect(new Set(first.actions.map((a) => a.type))).toEqual(
      new Set(["UpdateBeadStatus", "UpdateAgentStatus", "UpdateConvoyStatus", "UpdateTownStatus"]),
    );
    for (const c of allConditions(first)) if (ABNORMAL.includes(c.type)) expect(c.status).toBe("True");
    const settled = applyStatus(busy(), first);
    expect(planAt(settled, NOW).actions).toEqual([]);
    // Later, before any deadline: still nothing (lastTransitionTime does not move by itself).
    const later = planAt(settled, NOW + 30 * 1000);
    expect(later.actions).toEqual([]);
    expect(later.nextWakeAt).toBe(NOW + 90 * 1000 + 1);
  });

  it("only a flip moves lastTransitionTime: a reason change keeps it", () => {
    const settled = applyStatus(busy(), planAt(busy(), NOW));
    // y stops waiting for capacity when the polecat finishes: Ready stays False, reason changes.
    const freed = withObjects(settled, {
      beads: [
        ...(settled.beads ?? [])
          .filter((b) => b.metadata.name === "x")
          .map((b) => ({
            ...b,
            status: { ...b.status, phase: "Closed" as const, resolution: "Merged" as const, mergedBy: "x-mr-1" },
          })),
        mergeRequest("x-mr-1", "x", { phase: "Closed", status: { resolution: "Merged" } }),
      ],
      agents: [polecat(TOAST, { status: { phase: "Idle", session: 1, idleSince: iso(NOW) } })],
      sessions: [pod(TOAST, 1, { bead: "x", phase: "Succeeded", finished: NOW })],
    });
    const p = planAt({ ...freed, town: town({ suspend: true, status: freed.town?.status }) }, NOW + MIN);
    const z = conditionsOf(p, "Bead", "z");
    expect(z.Ready).toMatchObject({ reason: "Pending", lastTransitionTime: iso(NOW) });
    expect(z.Blocked).toBeUndefined();
    expect(conditionsOf(p, "Bead", "y").Ready).toMatchObject({ reason: "Pending", lastTransitionTime: iso(NOW) });
  });
});

describe("escalations are bounded", () => {
  it("at most 50: a new one pushes out the oldest acknowledged ones first, never an unacknowledged one", () => {
    // 50 escalations, the first five acknowledged and older than the rest; a bead failing at its
    // cap raises a 51st.
    const old = Array.from({ length: 50 }, (_, i) =>
      escalation(`e-${i}`, {
        lastTime: iso(NOW - HOUR + i * MIN),
        raisedTime: iso(NOW - 10 * MIN),
        acknowledged: i < 5,
      }),
    );
    const f: Fixture = {
      town: town({
        acknowledgedEscalations: old.slice(0, 5).map((e) => e.id),
        status: { rigCount: 1, workingAgents: 0, openBeads: 0, escalations: old },
      }),
      beads: [issue("x", { attempts: 5, since: NOW - HOUR })],
    };
    const list = (townStatus(planAt(f, NOW)) as { escalations?: Escalation[] } | undefined)?.escalations ?? [];
    expect(list).toHaveLength(50);
    expect(list.map((e) => e.id)).toContain("max-dispatch-attempts-x");
    expect(list.map((e) => e.id)).not.toContain("e-0");
    expect(list.filter((e) => !e.acknowledged)).toHaveLength(46);
  });
});
