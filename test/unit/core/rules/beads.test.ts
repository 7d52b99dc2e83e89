// §5.3 Beads: cancel, retry with back-off and the attempt cap, stale InProgress, orphaned
// InReview, and lazy assignment (priority, age, per-rig and town-wide limits, staged, suspend).
import { describe, expect, it } from "vitest";
import type { Agent } from "../../../../src/api/agent.ts";
import {
  BACKOFF_STEPS,
  beadStatus,
  conditionsOf,
  convoyOf,
  effects,
  type Fixture,
  iso,
  issue,
  type Limits,
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
  SEC,
  T0,
  town,
  withObjects,
  workingStatus,
} from "../builders.ts";

const TOAST = "gt-app-toast";
const MAPLE = "gt-app-maple";
const P = T0 + 10 * MIN;

const dispatchedTo = (p: ReturnType<typeof planAt>, bead: string) =>
  ofType(p, "StartSession")
    .filter((a) => a.bead === bead)
    .map((a) => a.agent);

describe("cancel", () => {
  const NOW = P + MIN;
  it("an InProgress issue fails (Cancelled), its agent's session is stopped and the agent released", () => {
    const p = planAt(
      {
        beads: [issue("x", { phase: "InProgress", assignee: TOAST, attempts: 1, since: P, spec: { cancel: true } })],
        agents: [polecat(TOAST, { hook: "x", status: workingStatus(TOAST, "x", { heartbeat: NOW }) })],
        sessions: [pod(TOAST, 1, { bead: "x", started: P })],
        leases: [lease(TOAST, { renewTime: NOW })],
      },
      NOW,
    );
    const w = { reason: "Cancelled", message: "x was cancelled (spec.cancel)" };
    expect(effects(p)).toMatchObject([
      {
        type: "UpdateBeadStatus",
        name: "x",
        status: { phase: "Failed", lastPhaseTransitionTime: iso(NOW), resolution: "Cancelled", reason: "Cancelled" },
      },
      { type: "StopSession", agent: TOAST, pod: `${TOAST}-1`, why: w },
      { type: "UpdateAgentStatus", name: TOAST, status: { phase: "Idle", idleSince: iso(NOW) } },
      { type: "SetHook", agent: TOAST, hook: null, why: w },
    ]);
  });

  it.each([
    { name: "an Open issue", bead: issue("x", { spec: { cancel: true } }) },
    {
      name: "an Open merge request",
      bead: mergeRequest("x-mr-1", "x", { spec: { cancel: true } }),
    },
  ])("$name fails (Cancelled) and is never dispatched", ({ bead }) => {
    const p = planAt({ beads: [bead] }, P);
    expect(effects(p)).toMatchObject([
      {
        type: "UpdateBeadStatus",
        name: bead.metadata.name,
        status: { phase: "Failed", resolution: "Cancelled", reason: "Cancelled" },
      },
    ]);
    expect(conditionsOf(p, "Bead", bead.metadata.name).Stalled).toMatchObject({ status: "True", reason: "Cancelled" });
  });

  it("a cancel that arrives with the merge does not fail the merged issue", () => {
    const ref = "gt-app-refinery";
    const p = planAt(
      {
        beads: [
          issue("x", { phase: "InReview", attempts: 1, since: P, spec: { cancel: true } }),
          mergeRequest("x-mr-1", "x", { phase: "InProgress", assignee: ref, attempts: 1, since: P }),
        ],
        agents: [refinery({ hook: "x-mr-1", status: workingStatus(ref, "x-mr-1", { start: P, heartbeat: P + MIN }) })],
        sessions: [pod(ref, 1, { bead: "x-mr-1", created: P })],
        leases: [lease(ref, { renewTime: P + MIN })],
        reports: [report("r", { agent: ref, bead: "x-mr-1", type: "Done" })],
      },
      P + MIN,
    );
    expect(beadStatus(p, "x")).toMatchObject({ phase: "Closed", resolution: "Merged" });
    expect(reasons(p, "x")).not.toContain("Cancelled");
  });

  // Found by the simulation (seed -1896166982): a convoy deleted in the plan that applied its
  // task's Done made the merge request without an owner. The garbage collector took the task
  // before a plan cancelled it (and, through it, its merge request), which was then reviewed and
  // merged: cancelled work merged.
  it.each([
    { name: "a merge request", bead: mergeRequest("c-x-mr-1", "c-x", { spec: { convoy: "c" } }) },
    { name: "a rework", bead: rework("c-x-mr-1-rework-1", "c-x-mr-1", { spec: { convoy: "c" } }) },
  ])("$name of a convoy that is gone, made without an owner, is cancelled and never dispatched", ({ bead }) => {
    const p = planAt({ beads: [bead] }, P);
    expect(effects(p)).toMatchObject([
      {
        type: "UpdateBeadStatus",
        name: bead.metadata.name,
        status: { phase: "Failed", resolution: "Cancelled", reason: "ConvoyDeleted" },
      },
    ]);
    expect(ofType(p, "UpdateBeadStatus")[0]?.events).toContainEqual(
      expect.objectContaining({ reason: "ConvoyDeleted", message: "convoy c no longer exists" }),
    );
  });

  it("an issue naming a convoy that does not exist (yet) is not cancelled", () => {
    const p = planAt({ town: town({ suspend: true }), beads: [issue("x", { spec: { convoy: "later" } })] }, P);
    expect(reasons(p, "x")).not.toContain("ConvoyDeleted");
    expect(beadStatus(p, "x")?.phase).not.toBe("Failed");
  });

  it("a bead already Closed is left alone", () => {
    const p = planAt(
      { beads: [issue("x", { phase: "Closed", spec: { cancel: true }, status: { resolution: "Merged" } })] },
      P,
    );
    expect(effects(p)).toEqual([]);
  });
});

/** x Open and assigned to toast, which is Idle, hooked, its session `attempts` ended at P. */
function waitingForRetry(attempts: number, o: { limits?: Limits; suspend?: boolean } = {}): Fixture {
  return {
    town: town({ limits: o.limits, suspend: o.suspend }),
    beads: [issue("x", { phase: "Open", assignee: TOAST, attempts, since: P })],
    agents: [polecat(TOAST, { hook: "x", status: { phase: "Idle", session: attempts, idleSince: iso(P) } })],
    sessions: [pod(TOAST, attempts, { bead: "x", phase: "Failed", exitCode: 1, finished: P })],
  };
}

describe("retry: back-off counted from the bead's lastPhaseTransitionTime (2, 2, 5, 10, 30 min)", () => {
  it.each([...BACKOFF_STEPS, { attempts: 7, backoff: 30 * MIN, limits: { maxDispatchAttempts: 10 } }])(
    "after $attempts attempts: waits $backoff ms, then re-dispatches to the same agent",
    ({ attempts, backoff, limits }) => {
      const f = waitingForRetry(attempts, { limits });
      const before = planAt(f, P + backoff - 1);
      expect(effects(before)).toEqual([]);
      expect(before.nextWakeAt).toBe(P + backoff);
      const due = P + backoff;
      const session = attempts + 1;
      const p = planAt(f, due);
      expect(effects(p)).toMatchObject([
        {
          type: "UpdateBeadStatus",
          name: "x",
          status: {
            phase: "InProgress",
            lastPhaseTransitionTime: iso(due),
            dispatchAttempts: attempts + 1,
            lastDispatchTime: iso(due),
            branch: "gt/app/x",
            reason: "Redispatched",
          },
        },
        {
          type: "StartSession",
          agent: TOAST,
          session,
          pod: `${TOAST}-${session}`,
          bead: "x",
          why: { reason: "Redispatched", message: `${TOAST} retries x (attempt ${attempts + 1})` },
        },
        {
          type: "UpdateAgentStatus",
          name: TOAST,
          status: {
            phase: "Working",
            session,
            pod: `${TOAST}-${session}`,
            sessionStartTime: iso(due),
            idleSince: null,
          },
        },
      ]);
      // Same agent, already hooked: no hook write, and the assignee stays.
      expect(ofType(p, "SetHook")).toEqual([]);
      expect(beadStatus(p, "x")?.assignee).toBeUndefined();
    },
  );

  it.each([
    { attempts: 5, limits: {} },
    { attempts: 6, limits: {} },
    { attempts: 3, limits: { maxDispatchAttempts: 3 } },
  ])("at $attempts attempts with limits $limits the bead fails and the agent is released", ({ attempts, limits }) => {
    const p = planAt(waitingForRetry(attempts, { limits }), P);
    expect(effects(p)).toMatchObject([
      {
        type: "UpdateBeadStatus",
        name: "x",
        status: {
          phase: "Failed",
          resolution: "MaxDispatchAttempts",
          reason: `x failed after ${attempts} sessions (limits.maxDispatchAttempts)`,
        },
        events: expect.arrayContaining([
          {
            reason: "MaxDispatchAttempts",
            message: `x failed after ${attempts} sessions (limits.maxDispatchAttempts)`,
            warning: true,
          },
        ]),
      },
      { type: "SetHook", agent: TOAST, hook: null },
      // A bead that fails for good is a durable escalation on the town (and a Warning Event).
      { type: "Escalate", bead: "x", severity: "High", why: { reason: "MaxDispatchAttempts", warning: true } },
    ]);
  });

  it.each([
    { name: "town suspended", fixture: waitingForRetry(1, { suspend: true }) },
    {
      name: "a blocker is open",
      fixture: withObjects(waitingForRetry(1), {
        beads: [
          issue("x", { phase: "Open", assignee: TOAST, attempts: 1, since: P, spec: { dependsOn: ["dep"] } }),
          issue("dep", { phase: "InProgress", since: P + 20 * MIN }),
        ],
      }),
    },
    {
      name: "the agent is Stalled",
      fixture: withObjects(waitingForRetry(1), {
        agents: [polecat(TOAST, { hook: "x", status: { phase: "Stalled", session: 1 } })],
        sessions: [pod(TOAST, 1, { bead: "x", deleting: true })],
        leases: [lease(TOAST, { renewTime: P + 20 * MIN })],
      }),
    },
    {
      name: "the agent still runs a session",
      fixture: withObjects(waitingForRetry(1), {
        sessions: [pod(TOAST, 1, { bead: "x", deleting: true })],
        agents: [polecat(TOAST, { hook: "x", status: { phase: "Idle", session: 1, idleSince: iso(P + 20 * MIN) } })],
      }),
    },
    {
      name: "another agent runs a session for the bead",
      fixture: withObjects(waitingForRetry(1), {
        agents: [polecat(MAPLE, { status: { phase: "Idle", session: 4, idleSince: iso(P + 20 * MIN) } })],
        sessions: [pod(MAPLE, 4, { bead: "x" })],
      }),
    },
  ])("no re-dispatch while $name", ({ fixture }) => {
    const p = planAt(fixture, P + 20 * MIN);
    expect(dispatchedTo(p, "x")).toEqual([]);
    expect(beadStatus(p, "x")?.phase).toBeUndefined();
  });

  it.each([
    {
      name: "the assignee is no longer hooked to it",
      agents: [polecat(TOAST, { status: { phase: "Idle", session: 1, idleSince: iso(P) } })],
      message: `${TOAST} no longer holds x`,
    },
    { name: "the assignee is gone", agents: [] as Agent[], message: `agent ${TOAST} is gone` },
  ])("the assignment is cleared when $name", ({ agents, message }) => {
    const p = planAt({ ...waitingForRetry(1), agents }, P + 20 * MIN);
    expect(effects(p).filter((a) => a.type === "UpdateBeadStatus")).toMatchObject([
      { name: "x", status: { assignee: null }, events: expect.arrayContaining([{ reason: "Unassigned", message }]) },
    ]);
    expect(dispatchedTo(p, "x")).toEqual([]);
  });

  it("the assignment stays while another agent is hooked to the bead", () => {
    const f = withObjects(waitingForRetry(1), {
      agents: [
        polecat(TOAST, { status: { phase: "Idle", session: 1, idleSince: iso(P) } }),
        polecat(MAPLE, { hook: "x", status: workingStatus(MAPLE, "x", { start: P + 20 * MIN }) }),
      ],
      sessions: [pod(MAPLE, 1, { created: P + 20 * MIN })],
    });
    const p = planAt(f, P + 20 * MIN);
    expect(beadStatus(p, "x")?.assignee).toBeUndefined();
    expect(dispatchedTo(p, "x")).toEqual([]);
  });
});

describe("stale InProgress (5 min, no working agent, no fresh heartbeat)", () => {
  /**
   * x InProgress for toast, which is Idle but still hooked and whose pod still runs (it went Idle
   * `idle` ms before the check, so the lingering-session rule is still waiting).
   */
  const stale = (
    o: { agent?: Agent | null; renew?: number; timeouts?: Record<string, string>; idleSince?: number } = {},
  ): Fixture => ({
    town: town({ timeouts: o.timeouts }),
    beads: [issue("x", { phase: "InProgress", assignee: TOAST, attempts: 1, since: P })],
    agents:
      o.agent === null
        ? []
        : [
            o.agent ??
              polecat(TOAST, { hook: "x", status: { phase: "Idle", session: 1, idleSince: iso(o.idleSince ?? P) } }),
          ],
    sessions: o.agent === null ? [] : [pod(TOAST, 1, { bead: "x", started: P })],
    leases: o.renew === undefined ? [] : [lease(TOAST, { renewTime: o.renew })],
  });
  const reopened = (now: number, unhook: boolean) => [
    {
      type: "UpdateBeadStatus",
      name: "x",
      status: { phase: "Open", lastPhaseTransitionTime: iso(now), assignee: null, reason: "StaleInProgress" },
    },
    ...(unhook ? [{ type: "SetHook", agent: TOAST, hook: null, why: { reason: "StaleInProgress" } }] : []),
  ];

  it.each([
    { name: "hooked Idle agent", fixture: stale({ idleSince: P + 5 * MIN - 10 * SEC }), d: 5 * MIN, unhook: true },
    {
      name: "staleInProgress overridden to 1m",
      fixture: stale({ timeouts: { staleInProgress: "1m" }, idleSince: P + MIN - 10 * SEC }),
      d: MIN,
      unhook: true,
    },
  ])(
    "$name: nothing at phase + d (wakes 1 ms later), reopened unassigned at phase + d + 1",
    ({ fixture, d, unhook }) => {
      const at = planAt(fixture, P + d);
      expect(effects(at)).toEqual([]);
      expect(at.nextWakeAt).toBe(P + d + 1);
      expect(effects(planAt(fixture, P + d + 1))).toMatchObject(reopened(P + d + 1, unhook));
    },
  );

  it("claimed but never hooked (the controller died after the claim): reopened unassigned once the session's start window passed", () => {
    const window = 180 * SEC + 90 * SEC; // startupGrace + heartbeatTimeout
    const fixture = stale({ agent: null });
    const before = planAt(fixture, P + window);
    expect(effects(before)).toEqual([]);
    expect(before.nextWakeAt).toBe(P + window + 1);
    expect(effects(planAt(fixture, P + window + 1))).toMatchObject([
      {
        type: "UpdateBeadStatus",
        name: "x",
        status: {
          phase: "Open",
          lastPhaseTransitionTime: iso(P + window + 1),
          assignee: null,
          reason: "DispatchInterrupted",
        },
      },
    ]);
  });

  it.each([
    { name: "heartbeat exactly heartbeatTimeout old is fresh", age: 90 * SEC, fires: false },
    { name: "heartbeat heartbeatTimeout + 1 ms old is stale", age: 90 * SEC + 1, fires: true },
  ])("$name", ({ age, fires }) => {
    const now = P + 30 * MIN;
    const p = planAt(stale({ renew: now - age, idleSince: now - 10 * SEC }), now);
    expect(beadStatus(p, "x")?.phase).toBe(fires ? "Open" : undefined);
  });

  it("a Working hooked agent keeps the bead InProgress however old", () => {
    const now = P + 3 * 60 * MIN;
    const p = planAt(
      {
        ...stale({
          agent: polecat(TOAST, { hook: "x", status: workingStatus(TOAST, "x", { start: now, heartbeat: now }) }),
          renew: now,
        }),
        sessions: [pod(TOAST, 1, { bead: "x", started: now })],
      },
      now,
    );
    expect(effects(p)).toEqual([]);
  });
});

describe("interrupted dispatch (the operator died between the claim and the session)", () => {
  const CLAIM = P + 10 * MIN;
  /**
   * x claimed for toast at CLAIM (attempt `attempts`), toast hooked but Idle: its last session (1)
   * started at `sessionStart` and its pod is gone or finished; no pod 2 exists unless `pod2`.
   */
  const interrupted = (
    o: { attempts?: number; sessionStart?: number; interrupted?: number; pod2?: boolean } = {},
  ): Fixture => ({
    beads: [
      issue("x", {
        phase: "InProgress",
        assignee: TOAST,
        attempts: o.attempts ?? 2,
        since: CLAIM,
        status: {
          lastDispatchTime: iso(CLAIM),
          ...(o.interrupted === undefined ? {} : { interruptedDispatches: o.interrupted }),
        },
      }),
    ],
    agents: [
      polecat(TOAST, {
        hook: "x",
        status: {
          phase: "Idle",
          session: 1,
          sessionStartTime: iso(o.sessionStart ?? P),
          idleSince: iso(P + 5 * MIN),
        },
      }),
    ],
    sessions: [
      pod(TOAST, 1, { bead: "x", phase: "Failed", created: P, started: P }),
      ...(o.pod2 ? [pod(TOAST, 2, { bead: "x", phase: "Failed", created: CLAIM, started: CLAIM })] : []),
    ],
  });

  it("its session never existed: reopened for the retry rule and the attempt given back", () => {
    const p = planAt(interrupted(), CLAIM + SEC);
    expect(beadStatus(p, "x")).toMatchObject({
      phase: "Open",
      reason: "DispatchInterrupted",
      dispatchAttempts: 1,
      interruptedDispatches: 1,
      sessionCharged: false,
    });
    expect(reasons(p, "x")).toContain("DispatchInterrupted");
  });

  it("however often it happens, the bead does not fail for sessions it never had", () => {
    // At the budget's last attempt: refunded, not failed at the cap.
    const p = planAt(interrupted({ attempts: 5, interrupted: 3 }), CLAIM + SEC);
    expect(beadStatus(p, "x")).toMatchObject({ phase: "Open", dispatchAttempts: 4, interruptedDispatches: 4 });
  });

  it("refunds are capped at limits.maxDispatchAttempts: past that it is charged, and says so", () => {
    const p = planAt(interrupted({ interrupted: 5 }), CLAIM + SEC);
    const status = beadStatus(p, "x");
    expect(status).toMatchObject({ phase: "Open", reason: "DispatchInterrupted" });
    expect(status?.dispatchAttempts).toBeUndefined();
    expect(status?.interruptedDispatches).toBeUndefined();
    const events = ofType(p, "UpdateBeadStatus").flatMap((a) => a.events ?? []);
    expect(events.map((e) => e.message).join("\n")).toContain("5 interrupted dispatches were already given back");
  });

  it.each([
    {
      name: "the agent was marked Working for this claim (a session that ran and was lost)",
      o: { sessionStart: CLAIM },
    },
    { name: "a pod for the claim's session exists", o: { pod2: true } },
  ])("$name: charged as before", ({ o }) => {
    const p = planAt(interrupted(o), CLAIM + SEC);
    expect(beadStatus(p, "x")?.dispatchAttempts).toBeUndefined();
    expect(beadStatus(p, "x")?.interruptedDispatches).toBeUndefined();
  });
});

describe("orphaned InReview (5 min after the issue or its last merge request changed, unless one merged)", () => {
  const inReview = (mrs: ReturnType<typeof mergeRequest>[]): Fixture => ({
    beads: [issue("x", { phase: "InReview", assignee: TOAST, attempts: 1, since: P }), ...mrs],
  });
  const P2 = P + MIN;

  it.each([
    {
      name: "its only merge request failed: reopened unassigned",
      fixture: inReview([mergeRequest("x-mr-1", "x", { phase: "Failed", since: P2 })]),
      since: P2,
      status: { phase: "Open", assignee: null, reason: "OrphanedInReview" },
    },
    {
      name: "no merge request at all: reopened",
      fixture: inReview([]),
      since: P,
      status: { phase: "Open", assignee: null, reason: "OrphanedInReview" },
    },
  ])("$name", ({ fixture, since, status }) => {
    const at = planAt(fixture, since + 5 * MIN);
    expect(effects(at)).toEqual([]);
    expect(at.nextWakeAt).toBe(since + 5 * MIN + 1);
    const p = planAt(fixture, since + 5 * MIN + 1);
    expect(effects(p)).toMatchObject([
      { type: "UpdateBeadStatus", name: "x", status: { ...status, lastPhaseTransitionTime: iso(since + 5 * MIN + 1) } },
    ]);
  });

  it("a merged merge request closes the issue at once: only the issue's own write was lost (controller killed between the two)", () => {
    const fixture = inReview([
      mergeRequest("x-mr-1", "x", { phase: "Failed", since: P }),
      mergeRequest("x-mr-2", "x", { phase: "Closed", since: P2, status: { resolution: "Merged" } }),
    ]);
    const p = planAt(fixture, P2 + 1);
    expect(effects(p)).toMatchObject([
      {
        type: "UpdateBeadStatus",
        name: "x",
        status: { phase: "Closed", resolution: "Merged", mergedBy: "x-mr-2", reason: "Merged" },
      },
    ]);
  });

  it("a live merge request keeps the issue InReview however old", () => {
    const p = planAt(inReview([mergeRequest("x-mr-1", "x", { phase: "InProgress", since: P })]), P + 60 * MIN);
    expect(beadStatus(p, "x")?.phase).toBeUndefined();
  });
});

describe("lazy assignment", () => {
  it("a bead redone after a force-stop never goes back to the polecat that hung on it, even the only free one", () => {
    const f: Fixture = {
      town: town(),
      beads: [
        issue("x", { since: T0, attempts: 1, status: { phase: "Open", forceStops: 1, forceStoppedAgent: TOAST } }),
      ],
      agents: [polecat(TOAST)],
    };
    const to = dispatchedTo(planAt(f, T0 + 60 * MIN), "x");
    expect(to).toHaveLength(1);
    expect(to).not.toContain(TOAST);
  });

  it("an Open, unblocked issue gets a new polecat: created, claimed, hooked, started, Working", () => {
    const p = planAt({ beads: [issue("x", { spec: { description: "do x" } })] }, P);
    expect(effects(p)).toMatchObject([
      { type: "CreateAgent", name: TOAST, role: "Polecat", rig: "app", why: { reason: "PolecatCreated" } },
      {
        type: "UpdateBeadStatus",
        name: "x",
        resourceVersion: "rv-x",
        status: {
          phase: "InProgress",
          lastPhaseTransitionTime: iso(P),
          assignee: TOAST,
          dispatchAttempts: 1,
          lastDispatchTime: iso(P),
          branch: "gt/app/x",
          reason: "Dispatched",
        },
      },
      { type: "SetHook", agent: TOAST, resourceVersion: "", hook: "x" },
      {
        type: "StartSession",
        agent: TOAST,
        role: "Polecat",
        rig: "app",
        session: 1,
        pod: `${TOAST}-1`,
        bead: "x",
        context: {
          beadTitle: "bead x",
          beadDescription: "do x",
          branch: "gt/app/x",
          baseBranch: "main",
          targetBranch: "main",
          mergeStrategy: "Direct",
          gates: [],
        },
      },
      {
        type: "UpdateAgentStatus",
        name: TOAST,
        resourceVersion: "",
        status: { phase: "Working", session: 1, pod: `${TOAST}-1`, sessionBead: "x", sessionStartTime: iso(P) },
      },
    ]);
  });

  it("a convoy member in ReviewThenLand branches from and targets the feature branch", () => {
    const p = planAt(
      {
        convoys: [convoyOf("c", [{ name: "a" }])],
        beads: [issue("c-a", { spec: { convoy: "c" } })],
      },
      P,
    );
    expect(ofType(p, "StartSession")[0]?.context).toMatchObject({
      branch: "gt/app/c-a",
      baseBranch: "convoy/c",
      targetBranch: "convoy/c",
    });
  });

  it("a free Idle polecat of the rig is reused (first by name)", () => {
    const free = (name: string, o: Partial<Agent["status"]> = {}) =>
      polecat(name, { status: { phase: "Idle", session: 2, idleSince: iso(P), ...o } });
    const p = planAt(
      {
        beads: [issue("x")],
        agents: [free(TOAST), free("gt-app-sage"), free(MAPLE), free("gt-app-birch-other", { phase: "Idle" })].map(
          (a) => (a.metadata.name === "gt-app-birch-other" ? { ...a, spec: { ...a.spec, rig: "other" } } : a),
        ),
      },
      P,
    );
    expect(ofType(p, "CreateAgent")).toEqual([]);
    expect(ofType(p, "StartSession")).toMatchObject([{ agent: MAPLE, session: 3, pod: `${MAPLE}-3` }]);
    expect(ofType(p, "SetHook")).toMatchObject([{ agent: MAPLE, resourceVersion: `rv-${MAPLE}`, hook: "x" }]);
  });

  // Case 6 of issue 8: a checkpoint saved on bead y was handed to the same polecat's next,
  // unrelated bead x as "your previous session". A checkpoint belongs to its bead.
  it("a checkpoint goes to the next session of its own bead only, whichever polecat runs it", () => {
    const checkpoint = { data: "ctx of y", agent: MAPLE, session: 2, time: iso(P) };
    const p = planAt(
      {
        beads: [
          issue("x"),
          issue("y", { phase: "Closed", status: { resolution: "Merged", checkpoint } }),
          issue("z", { since: P - 10 * MIN, attempts: 1, status: { checkpoint: { ...checkpoint, data: "ctx of z" } } }),
        ],
        agents: [polecat(MAPLE, { status: { phase: "Idle", session: 2, idleSince: iso(P) } })],
        town: town({ limits: { maxPolecatsPerRig: 2 } }),
      },
      P,
    );
    const starts = ofType(p, "StartSession");
    expect(starts.map((a) => [a.bead, a.context.checkpoint])).toEqual([
      ["x", undefined],
      ["z", "ctx of z"],
    ]);
  });

  it.each([
    { name: "being deleted", agent: polecat(TOAST, { deleting: true, status: { phase: "Idle", session: 1 } }) },
    {
      name: "still running a session",
      agent: polecat(TOAST, { status: { phase: "Idle", session: 1, idleSince: iso(P) } }),
      sessions: [pod(TOAST, 1, { bead: "old" })],
    },
    { name: "of another rig", agent: polecat("gt-web-toast", { rig: "web", status: { phase: "Idle", session: 1 } }) },
    { name: "a refinery", agent: refinery({ status: { phase: "Idle", session: 1 } }) },
  ])("an agent $name is not reused: a new polecat gets the next free pool name", ({ agent, sessions }) => {
    const p = planAt(
      {
        town: town({ rigs: [{ name: "app" }, { name: "web" }] }),
        beads: [issue("x")],
        agents: [agent],
        sessions: sessions ?? [],
      },
      P,
    );
    const expected = agent.metadata.name === TOAST ? MAPLE : TOAST;
    expect(ofType(p, "CreateAgent")).toMatchObject([{ name: expected, role: "Polecat", rig: "app" }]);
    expect(dispatchedTo(p, "x")).toEqual([expected]);
  });

  it.each([
    {
      name: "priority first",
      beads: [issue("a", { spec: { priority: 3 }, created: T0 }), issue("b", { spec: { priority: 1 }, created: P })],
      first: "b",
    },
    {
      name: "then age",
      beads: [issue("a", { created: T0 + SEC }), issue("b", { created: T0 })],
      first: "b",
    },
    {
      name: "then name",
      beads: [issue("b", { created: T0 }), issue("a", { created: T0 })],
      first: "a",
    },
  ])("order at the per-rig limit: $name; the rest waits with WaitingForCapacity", ({ beads, first }) => {
    const p = planAt({ town: town({ limits: { maxPolecatsPerRig: 1 } }), beads }, P);
    const other = first === "a" ? "b" : "a";
    expect(dispatchedTo(p, first)).toEqual([TOAST]);
    expect(dispatchedTo(p, other)).toEqual([]);
    expect(conditionsOf(p, "Bead", other).Ready).toMatchObject({
      status: "False",
      reason: "WaitingForCapacity",
      message: "all polecats of the rig or town are busy",
    });
  });

  it("dispatches as many beads as the limit allows in one plan, each to its own polecat", () => {
    const p = planAt(
      {
        town: town({ limits: { maxPolecatsPerRig: 2 } }),
        beads: [issue("a", { created: T0 }), issue("b", { created: T0 + 1 }), issue("c", { created: T0 + 2 })],
      },
      P,
    );
    expect(ofType(p, "StartSession").map((a) => [a.bead, a.agent])).toEqual([
      ["a", TOAST],
      ["b", MAPLE],
    ]);
    expect(conditionsOf(p, "Bead", "c").Ready).toMatchObject({ reason: "WaitingForCapacity" });
  });

  const busy: { name: string; agent: Agent; sessions?: ReturnType<typeof pod>[] }[] = [
    {
      name: "hooked (Idle)",
      agent: polecat(MAPLE, { hook: "y", status: { phase: "Idle", session: 1, idleSince: iso(P) } }),
    },
    {
      name: "Working",
      agent: polecat(MAPLE, { hook: "y", status: workingStatus(MAPLE, "y", { start: P }) }),
      sessions: [pod(MAPLE, 1, { bead: "y", created: P })],
    },
    {
      name: "Stalled",
      agent: polecat(MAPLE, { status: { phase: "Stalled", session: 1 } }),
      sessions: [pod(MAPLE, 1, { bead: "y", created: P, deleting: true })],
    },
    {
      name: "Idle with a live session",
      agent: polecat(MAPLE, { status: { phase: "Idle", session: 1, idleSince: iso(P) } }),
      sessions: [pod(MAPLE, 1, { bead: "y", created: P })],
    },
  ];

  it.each(busy)("a polecat $name counts against maxPolecatsPerRig", ({ agent, sessions }) => {
    const f: Fixture = {
      town: town({ limits: { maxPolecatsPerRig: 1 } }),
      beads: [issue("x"), issue("y", { phase: "InProgress", assignee: MAPLE, since: P })],
      agents: [agent],
      sessions: sessions ?? [],
    };
    const p = planAt(f, P);
    expect(dispatchedTo(p, "x")).toEqual([]);
    expect(conditionsOf(p, "Bead", "x").Ready).toMatchObject({ reason: "WaitingForCapacity" });
    const roomier = planAt({ ...f, town: town({ limits: { maxPolecatsPerRig: 2 } }) }, P);
    expect(dispatchedTo(roomier, "x")).toHaveLength(1);
  });

  it("a busy refinery does not count against the polecat limits", () => {
    const p = planAt(
      {
        town: town({ limits: { maxPolecatsPerRig: 1 } }),
        beads: [issue("x")],
        agents: [refinery({ status: { phase: "Idle", session: 1 } })],
        sessions: [pod("gt-app-refinery", 1, { bead: "m" })],
      },
      P,
    );
    expect(dispatchedTo(p, "x")).toEqual([TOAST]);
  });

  it("the town-wide maxPolecats holds across rigs", () => {
    const f = (maxPolecats: number): Fixture => ({
      town: town({ rigs: [{ name: "app" }, { name: "web" }], limits: { maxPolecatsPerRig: 5, maxPolecats } }),
      beads: [issue("y", { phase: "InProgress", assignee: TOAST, since: P }), issue("w", { spec: { rig: "web" } })],
      agents: [polecat(TOAST, { hook: "y", status: { phase: "Idle", session: 1, idleSince: iso(P) } })],
    });
    const full = planAt(f(1), P);
    expect(dispatchedTo(full, "w")).toEqual([]);
    expect(conditionsOf(full, "Bead", "w").Ready).toMatchObject({ reason: "WaitingForCapacity" });
    expect(dispatchedTo(planAt(f(2), P), "w")).toEqual(["gt-web-toast"]);
  });

  it("maxPolecats defaults to maxPolecatsPerRig × rigs", () => {
    const p = planAt(
      {
        town: town({ rigs: [{ name: "app" }, { name: "web" }], limits: { maxPolecatsPerRig: 1 } }),
        beads: [issue("a"), issue("w", { spec: { rig: "web" } })],
      },
      P,
    );
    expect(ofType(p, "StartSession").map((a) => a.agent)).toEqual([TOAST, "gt-web-toast"]);
  });

  it.each([
    {
      name: "a blocker is open (Blocked)",
      fixture: {
        beads: [issue("x", { spec: { dependsOn: ["dep"] } }), issue("dep", { phase: "InProgress", since: P })],
      },
      ready: "Blocked",
    },
    {
      name: "a blocker does not exist yet (Blocked)",
      fixture: { beads: [issue("x", { spec: { dependsOn: ["later"] } })] },
      ready: "Blocked",
    },
    { name: "it has no rig (NoRig)", fixture: { beads: [issue("x", { spec: { rig: undefined } })] }, ready: "NoRig" },
    {
      name: "its rig is unknown (UnknownRig, naming it)",
      fixture: { beads: [issue("x", { spec: { rig: "nope" } })] },
      ready: "UnknownRig",
    },
    {
      name: "its convoy is staged (Staged)",
      fixture: {
        convoys: [convoyOf("c", [{ name: "x" }], { staged: true })],
        beads: [issue("c-x", { spec: { convoy: "c" } })],
      },
      ready: "Staged",
      bead: "c-x",
    },
    {
      name: "the town is suspended",
      fixture: { town: town({ suspend: true }), beads: [issue("x")] },
      ready: "Pending",
    },
    {
      name: "a Working agent is already hooked to it",
      fixture: {
        beads: [issue("x", { since: P })],
        agents: [polecat(MAPLE, { hook: "x", status: workingStatus(MAPLE, "x", { start: P }) })],
        sessions: [pod(MAPLE, 1, { created: P })],
      },
      ready: "Pending",
    },
    {
      name: "a session for it is still running",
      fixture: {
        beads: [issue("x")],
        agents: [polecat(MAPLE, { status: { phase: "Idle", session: 1, idleSince: iso(P) } })],
        sessions: [pod(MAPLE, 1, { bead: "x" })],
      },
      ready: "Pending",
    },
  ])("not dispatched when $name", ({ fixture, ready, bead }) => {
    const name = bead ?? "x";
    const p = planAt(fixture as Fixture, P);
    expect(dispatchedTo(p, name)).toEqual([]);
    expect(beadStatus(p, name)?.phase).toBeUndefined();
    expect(conditionsOf(p, "Bead", name).Ready).toMatchObject({ status: "False", reason: ready });
  });

  it("an Idle agent hooked to an unassigned issue is released, and the issue dispatched normally", () => {
    const p = planAt(
      {
        beads: [issue("x", { since: P })],
        agents: [polecat(MAPLE, { hook: "x", status: { phase: "Idle", session: 1, idleSince: iso(P) } })],
      },
      P,
    );
    expect(ofType(p, "SetHook")).toMatchObject([
      { agent: MAPLE, hook: null, why: { reason: "Unhooked" } },
      { agent: MAPLE, hook: "x", why: { reason: "Dispatched" } },
    ]);
  });

  it.each(["Closed", "Failed"] as const)("a %s blocker is resolved", (phase) => {
    const p = planAt(
      {
        beads: [
          issue("x", { spec: { dependsOn: ["dep"] } }),
          issue("dep", { phase, status: { resolution: phase === "Closed" ? "Merged" : "Cancelled" } }),
        ],
      },
      P,
    );
    expect(dispatchedTo(p, "x")).toEqual([TOAST]);
  });

  it("flipping a staged convoy to active dispatches its ready members", () => {
    const beads = [issue("c-x", { spec: { convoy: "c" } })];
    const staged = planAt({ convoys: [convoyOf("c", [{ name: "x" }], { staged: true })], beads }, P);
    expect(ofType(staged, "StartSession")).toEqual([]);
    const active = planAt({ convoys: [convoyOf("c", [{ name: "x" }], { staged: false })], beads }, P);
    expect(dispatchedTo(active, "c-x")).toEqual([TOAST]);
  });
});
