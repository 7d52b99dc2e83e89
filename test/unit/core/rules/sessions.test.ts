// §5.2 Sessions and agents: lost sessions (heartbeat, startup grace, pod gone/failed/finished),
// hooks that are no longer valid, lingering and superseded sessions, adoption, heartbeat copies.
import { describe, expect, it } from "vitest";
import type { Agent } from "../../../../src/api/agent.ts";
import type { SessionObservation } from "../../../../src/core/snapshot.ts";
import {
  agentStatus,
  effects,
  type Fixture,
  iso,
  issue,
  lease,
  MIN,
  mergeRequest,
  ofType,
  planAt,
  pod,
  polecat,
  refinery,
  SEC,
  T0,
  town,
  withObjects,
  workingStatus,
} from "../builders.ts";

const TOAST = "gt-app-toast";
const POD = `${TOAST}-1`;
const R = T0 + 10 * MIN;

/** toast Working on x (InProgress, assigned to it) in session 1. */
function working(extra: Fixture = {}): Fixture {
  return withObjects(
    {
      beads: [issue("x", { phase: "InProgress", assignee: TOAST, attempts: 1, since: T0 })],
      agents: [polecat(TOAST, { hook: "x", status: workingStatus(TOAST, "x", { heartbeat: R }) })],
      sessions: [pod(TOAST, 1, { bead: "x", started: T0 + 10 * SEC })],
      leases: [lease(TOAST, { renewTime: R })],
    },
    extra,
  );
}

const lost = (now: number, reason: string, message: string, o: { stop?: boolean; exitCode?: number } = {}) => [
  ...(o.stop === false
    ? []
    : [{ type: "StopSession", agent: TOAST, pod: POD, why: { reason, message, warning: true } }]),
  {
    type: "UpdateBeadStatus",
    name: "x",
    status: { phase: "Open", lastPhaseTransitionTime: iso(now), reason },
    events: expect.arrayContaining([{ reason, message, warning: true }]),
  },
  {
    type: "UpdateAgentStatus",
    name: TOAST,
    status: {
      phase: "Idle",
      idleSince: iso(now),
      lastSessionExit: {
        session: 1,
        ...(o.exitCode === undefined ? {} : { exitCode: o.exitCode }),
        reason: message,
        time: iso(now),
      },
    },
  },
];

describe("a Working agent's session is lost at the heartbeat deadline (Stale: now - t > d)", () => {
  const S = T0 + 10 * SEC; // pod start
  const rows = [
    {
      name: "lease renewed in this session: heartbeatTimeout (90 s) after the renewal",
      fixture: working(),
      deadline: R + 90 * SEC,
      message: "no heartbeat from gt-app-toast-1 for more than 90s",
    },
    {
      name: "lease never renewed: startupGrace + heartbeatTimeout after pod start",
      fixture: {
        ...working({ agents: [polecat(TOAST, { hook: "x", status: workingStatus(TOAST, "x") })] }),
        leases: [],
      },
      deadline: S + 180 * SEC + 90 * SEC,
      message: "gt-app-toast-1 never sent a heartbeat",
    },
    {
      name: "lease renewed only in an earlier session counts as never renewed",
      fixture: working({
        leases: [lease(TOAST, { renewTime: T0 - MIN, session: 0 })],
        agents: [polecat(TOAST, { hook: "x", status: workingStatus(TOAST, "x") })],
      }),
      deadline: S + 180 * SEC + 90 * SEC,
      message: "gt-app-toast-1 never sent a heartbeat",
    },
    {
      name: "pod not started yet: the grace counts from pod creation",
      fixture: {
        ...working({
          agents: [polecat(TOAST, { hook: "x", status: workingStatus(TOAST, "x") })],
          sessions: [pod(TOAST, 1, { bead: "x", phase: "Pending", created: T0 + 5 * SEC })],
        }),
        leases: [],
      },
      deadline: T0 + 5 * SEC + 180 * SEC + 90 * SEC,
      message: "gt-app-toast-1 never sent a heartbeat",
    },
    {
      name: "overridden timeouts (startupGrace 60s, heartbeatTimeout 30s)",
      fixture: {
        ...working({
          town: town({ timeouts: { startupGrace: "60s", heartbeatTimeout: "30s", heartbeatPeriod: "10s" } }),
          agents: [polecat(TOAST, { hook: "x", status: workingStatus(TOAST, "x") })],
        }),
        leases: [],
      },
      deadline: S + 90 * SEC,
      message: "gt-app-toast-1 never sent a heartbeat",
    },
  ];

  it.each(rows)("$name: at the deadline nothing happens and the plan wakes just after it", ({ fixture, deadline }) => {
    const p = planAt(fixture, deadline);
    expect(effects(p)).toEqual([]);
    expect(p.nextWakeAt).toBe(deadline + 1);
  });

  it.each(rows)("$name: one ms later the session is lost", ({ fixture, deadline, message }) => {
    const p = planAt(fixture, deadline + 1);
    // The bead goes back to Open keeping assignee and hook: the retry rule re-dispatches it.
    expect(effects(p)).toMatchObject(lost(deadline + 1, "SessionLost", message));
    expect(ofType(p, "SetHook")).toEqual([]);
    const [write] = ofType(effects(p), "UpdateBeadStatus");
    expect(Object.keys(write?.status ?? {})).toEqual(["phase", "lastPhaseTransitionTime", "reason"]);
  });
});

describe("a Working agent whose pod is gone, failed or finished is set Idle at once", () => {
  const NOW = R + 5 * SEC;
  it.each([
    {
      name: "pod gone",
      sessions: [] as SessionObservation[],
      reason: "SessionLost",
      message: "session gt-app-toast-1 is gone",
      stop: false,
    },
    {
      name: "pod succeeded without Done (exit 0 does not close the bead)",
      sessions: [pod(TOAST, 1, { bead: "x", phase: "Succeeded", exitCode: 0, finished: R })],
      reason: "SessionEndedWithoutDone",
      message: "session gt-app-toast-1 exited 0 without reporting Done",
      stop: false,
      exitCode: 0,
    },
    {
      name: "pod OOM-killed",
      sessions: [pod(TOAST, 1, { bead: "x", phase: "Failed", exitCode: 137, reason: "OOMKilled", finished: R })],
      reason: "SessionFailed",
      message: "session gt-app-toast-1 failed with exit code 137 (OOMKilled)",
      stop: false,
      exitCode: 137,
    },
    {
      name: "pod evicted (no exit code)",
      sessions: [pod(TOAST, 1, { bead: "x", phase: "Failed", reason: "Evicted", finished: R })],
      reason: "SessionFailed",
      message: "session gt-app-toast-1 failed (Evicted)",
      stop: false,
    },
    {
      name: "pod failed with nothing known",
      sessions: [pod(TOAST, 1, { bead: "x", phase: "Failed" })],
      reason: "SessionFailed",
      message: "session gt-app-toast-1 failed",
      stop: false,
    },
  ])("$name", ({ sessions, reason, message, stop, exitCode }) => {
    const f = working();
    const p = planAt({ ...f, sessions }, NOW);
    expect(effects(p)).toMatchObject(lost(NOW, reason, message, { stop, exitCode }));
  });

  it("a refinery's lost session leaves its merge request InProgress (the review queue retries it)", () => {
    const ref = "gt-app-refinery";
    const p = planAt(
      {
        beads: [mergeRequest("x-mr-1", "x", { phase: "InProgress", assignee: ref, attempts: 1 })],
        agents: [refinery({ hook: "x-mr-1", status: workingStatus(ref, "x-mr-1") })],
      },
      NOW,
    );
    expect(effects(p)).toMatchObject([
      { type: "UpdateAgentStatus", name: ref, status: { phase: "Idle", lastSessionExit: { session: 1 } } },
    ]);
  });

  it("a lost session does not reopen a bead assigned to another agent", () => {
    const f = working({
      beads: [issue("x", { phase: "InProgress", assignee: "gt-app-maple", attempts: 1, since: NOW })],
    });
    const p = planAt({ ...f, sessions: [] }, NOW);
    expect(effects(p).filter((a) => a.type === "UpdateBeadStatus" && a.status.phase !== undefined)).toEqual([]);
    expect(agentStatus(p, TOAST)).toMatchObject({ phase: "Idle" });
  });

  it("a Working agent without a hook goes Idle", () => {
    const p = planAt(
      {
        agents: [polecat(TOAST, { status: workingStatus(TOAST, "x", { heartbeat: R }) })],
        sessions: [pod(TOAST, 1, { bead: "x" })],
        leases: [lease(TOAST, { renewTime: R })],
      },
      R,
    );
    expect(effects(p)).toMatchObject([
      {
        type: "UpdateAgentStatus",
        name: TOAST,
        status: { phase: "Idle", idleSince: iso(R) },
        events: expect.arrayContaining([{ reason: "Unhooked", message: "gt-app-toast has no hook" }]),
      },
    ]);
  });
});

describe("an Idle agent's hook", () => {
  const NOW = R;
  const idle = (hook: string, o: { role?: "Polecat" | "Refinery"; checkpoint?: boolean } = {}): Agent => {
    const status = {
      phase: "Idle" as const,
      session: 1,
      idleSince: iso(T0),
      ...(o.checkpoint ? { checkpoint: { data: "saved", session: 1, time: iso(T0) } } : {}),
    };
    return o.role === "Refinery" ? refinery({ hook, status }) : polecat(TOAST, { hook, status });
  };
  const ref = "gt-app-refinery";

  it.each([
    {
      name: "a missing bead: unhooked",
      fixture: { agents: [idle("x", { checkpoint: true })] },
      agent: TOAST,
      unhook: "gt-app-toast released: x is gone",
    },
    {
      name: "a Closed bead: unhooked",
      fixture: {
        agents: [idle("x", { checkpoint: true })],
        beads: [issue("x", { phase: "Closed", assignee: TOAST, status: { resolution: "Merged" } })],
      },
      agent: TOAST,
      unhook: "gt-app-toast released: x is Closed",
    },
    {
      name: "an issue InReview: unhooked, checkpoint kept",
      fixture: {
        agents: [idle("x", { checkpoint: true })],
        beads: [issue("x", { phase: "InReview", assignee: TOAST }), mergeRequest("x-mr-1", "x")],
      },
      agent: TOAST,
      unhook: "gt-app-toast released: x is InReview",
    },
    {
      name: "an issue assigned to another agent: unhooked",
      fixture: {
        agents: [idle("x")],
        beads: [issue("x", { phase: "InProgress", assignee: "gt-app-maple" })],
      },
      agent: TOAST,
      unhook: "gt-app-toast released: x is InProgress and not assigned to it",
    },
    {
      name: "a polecat hooked to a merge request: unhooked",
      fixture: {
        agents: [idle("x-mr-1")],
        beads: [mergeRequest("x-mr-1", "x", { phase: "InProgress", assignee: TOAST })],
      },
      agent: TOAST,
      unhook: "gt-app-toast released: x-mr-1 is InProgress",
    },
    {
      name: "a refinery hooked to an Open merge request: unhooked",
      fixture: {
        agents: [idle("x-mr-1", { role: "Refinery" })],
        beads: [mergeRequest("x-mr-1", "x", { phase: "Open", assignee: ref }), issue("other", { phase: "InProgress" })],
        town: town({ suspend: true }),
      },
      agent: ref,
      unhook: "gt-app-refinery released: x-mr-1 is Open",
    },
    {
      name: "a refinery hooked to an issue: unhooked",
      fixture: {
        agents: [idle("x", { role: "Refinery" })],
        beads: [issue("x", { phase: "InProgress", assignee: ref })],
      },
      agent: ref,
      unhook: "gt-app-refinery released: x is InProgress",
    },
  ])("$name", ({ fixture, agent, unhook }) => {
    const p = planAt(fixture as Fixture, NOW);
    expect(ofType(p, "SetHook").filter((a) => a.agent === agent)).toMatchObject([
      { agent, hook: null, why: { reason: "Unhooked", message: unhook } },
    ]);
  });

  it.each([
    {
      name: "a polecat hooked to its Open issue (waiting for its retry)",
      fixture: {
        agents: [idle("x")],
        beads: [issue("x", { phase: "Open", assignee: TOAST, attempts: 1, since: NOW })],
      },
    },
    {
      name: "a polecat hooked to its InProgress issue",
      fixture: { agents: [idle("x")], beads: [issue("x", { phase: "InProgress", assignee: TOAST, since: NOW })] },
    },
    {
      name: "a refinery hooked to its InProgress merge request (waiting for its retry)",
      fixture: {
        agents: [idle("x-mr-1", { role: "Refinery" })],
        beads: [mergeRequest("x-mr-1", "x", { phase: "InProgress", assignee: ref, attempts: 1, since: NOW })],
      },
    },
  ])("keeps a valid hook: $name", ({ fixture }) => {
    expect(ofType(planAt(fixture as Fixture, NOW), "SetHook")).toEqual([]);
  });
});

describe("sessions nobody should run", () => {
  const I = T0 + 20 * MIN;
  const idleWith = (sessions: SessionObservation[], session = 1): Fixture => ({
    agents: [polecat(TOAST, { status: { phase: "Idle", session, idleSince: iso(I) } })],
    sessions,
  });

  it("a session lingering after its agent went Idle: kept for heartbeatTimeout, stopped 1 ms later", () => {
    const f = idleWith([pod(TOAST, 1, { bead: "x" })]);
    const at = planAt(f, I + 90 * SEC);
    expect(effects(at)).toEqual([]);
    expect(at.nextWakeAt).toBe(I + 90 * SEC + 1);
    expect(effects(planAt(f, I + 90 * SEC + 1))).toMatchObject([
      { type: "StopSession", agent: TOAST, pod: POD, why: { reason: "SessionLingering" } },
    ]);
  });

  it("an Idle agent without idleSince: the lingering session is timed from the agent's creation", () => {
    const f: Fixture = {
      agents: [polecat(TOAST, { created: I, status: { phase: "Idle", session: 1, idleSince: undefined } })],
      sessions: [pod(TOAST, 1, { bead: "x" })],
    };
    expect(ofType(planAt(f, I + 90 * SEC), "StopSession")).toEqual([]);
    expect(ofType(planAt(f, I + 90 * SEC + 1), "StopSession")).toMatchObject([{ why: { reason: "SessionLingering" } }]);
  });

  it("a live session older than the agent's current one is stopped at once", () => {
    const f = idleWith([pod(TOAST, 1, { bead: "x" }), pod(TOAST, 2, { bead: "x", phase: "Succeeded" })], 2);
    expect(effects(planAt(f, I))).toMatchObject([
      {
        type: "StopSession",
        pod: POD,
        why: { reason: "SessionSuperseded", message: "gt-app-toast-1 is older than session 2" },
      },
    ]);
  });
});

describe("adopting a session whose Working write was lost", () => {
  const NOW = T0 + MIN;
  const idleHooked = (hook: string, phase: "Idle" | "Working" = "Idle") =>
    polecat(TOAST, {
      hook,
      status: phase === "Idle" ? { phase, session: 1, idleSince: iso(T0) } : workingStatus(TOAST, hook),
    });

  it("an Idle agent hooked to the newer session's bead adopts it", () => {
    const p = planAt(
      {
        beads: [issue("x", { phase: "InProgress", assignee: TOAST, attempts: 2, since: T0 })],
        agents: [idleHooked("x")],
        sessions: [pod(TOAST, 2, { bead: "x", created: T0 + 30 * SEC })],
      },
      NOW,
    );
    expect(effects(p)).toMatchObject([
      {
        type: "UpdateAgentStatus",
        name: TOAST,
        status: {
          phase: "Working",
          session: 2,
          pod: `${TOAST}-2`,
          sessionBead: "x",
          sessionStartTime: iso(T0 + 30 * SEC),
          idleSince: null,
        },
        events: expect.arrayContaining([expect.objectContaining({ reason: "SessionAdopted" })]),
      },
    ]);
  });

  it("of several newer sessions only the newest is adopted; the others are stopped", () => {
    const p = planAt(
      {
        beads: [issue("x", { phase: "InProgress", assignee: TOAST, attempts: 3, since: T0 })],
        agents: [idleHooked("x")],
        sessions: [pod(TOAST, 3, { bead: "x" }), pod(TOAST, 2, { bead: "x" })],
      },
      NOW,
    );
    expect(effects(p)).toMatchObject([
      { type: "StopSession", pod: `${TOAST}-2`, why: { reason: "SessionSuperseded" } },
      { type: "UpdateAgentStatus", status: { phase: "Working", session: 3 } },
    ]);
  });

  it.each([
    { name: "the session runs another bead", hook: "x", phase: "Idle" as const },
    { name: "the agent is already Working", hook: "y", phase: "Working" as const },
  ])("a newer session is stopped when $name", ({ hook, phase }) => {
    const p = planAt(
      {
        beads: [
          issue("x", { phase: "InProgress", assignee: TOAST, since: T0 }),
          issue("y", { phase: "InProgress", since: T0 }),
        ],
        agents: [idleHooked(hook, phase)],
        sessions: [pod(TOAST, 1, { bead: hook, started: T0 }), pod(TOAST, 2, { bead: "y" })],
        leases: [lease(TOAST, { renewTime: NOW })],
      },
      NOW,
    );
    expect(ofType(p, "StopSession")).toMatchObject([{ pod: `${TOAST}-2`, why: { reason: "SessionOrphaned" } }]);
    expect(agentStatus(p, TOAST)?.session).toBeUndefined();
  });
});

describe("the Lease's heartbeat is copied to the Agent at most every 2 × heartbeatTimeout", () => {
  const L = T0 + 30 * MIN;
  const withShown = (shown: number | undefined, leaseSession = 1) =>
    working({
      agents: [polecat(TOAST, { hook: "x", status: workingStatus(TOAST, "x", { heartbeat: shown }) })],
      leases: [
        lease(TOAST, {
          renewTime: L,
          activityTime: L - MIN,
          activityKind: "tool:bash",
          activeTools: 2,
          session: leaseSession,
        }),
      ],
    });

  it.each([
    { name: "never shown", shown: undefined, copied: true },
    { name: "shown exactly 180 s before the renewal", shown: L - 180 * SEC, copied: true },
    { name: "shown 180 s - 1 ms before the renewal", shown: L - 180 * SEC + 1, copied: false },
  ])("$name: copied = $copied", ({ shown, copied }) => {
    const p = planAt(withShown(shown), L);
    expect(effects(p)).toEqual(
      copied
        ? [
            expect.objectContaining({
              type: "UpdateAgentStatus",
              name: TOAST,
              status: {
                lastHeartbeat: iso(L),
                lastActivityTime: iso(L - MIN),
                lastActivityKind: "tool:bash",
                activeTools: 2,
              },
            }),
          ]
        : [],
    );
  });

  it("a lease of another session is not copied", () => {
    const f = withShown(undefined, 2);
    expect(effects(planAt(f, T0 + 2 * MIN))).toEqual([]);
  });
});
