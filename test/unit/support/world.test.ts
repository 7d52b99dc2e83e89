// world.ts: applies actions as the actuator applies them to the API — merge-patch status writes,
// resourceVersion preconditions chained through a batch ("" = created in this batch), idempotent
// creates and deletes, failed writes charged to the report that caused them, stopAfter.
import { describe, expect, it } from "vitest";
import type { Action } from "../../../src/core/actions.ts";
import { ApplyError, mergePatch, World } from "../../support/world.ts";
import { MIN, T0, town } from "../core/builders.ts";
import { bead, convoy } from "../core/harness.ts";

const why = { reason: "Test", message: "test" };
const OLD = new Date(T0 - MIN).toISOString();

describe("mergePatch (RFC 7386)", () => {
  it.each([
    { name: "sets a field", target: { a: 1 }, patch: { b: 2 }, out: { a: 1, b: 2 } },
    { name: "replaces a scalar", target: { a: 1 }, patch: { a: 3 }, out: { a: 3 } },
    { name: "null removes", target: { a: 1, b: 2 }, patch: { a: null }, out: { b: 2 } },
    { name: "null on a missing field is a no-op", target: { a: 1 }, patch: { z: null }, out: { a: 1 } },
    {
      name: "objects merge recursively",
      target: { pr: { state: "Open", lastError: "x" } },
      patch: { pr: { lastError: null, consecutiveErrors: 0 } },
      out: { pr: { state: "Open", consecutiveErrors: 0 } },
    },
    { name: "arrays are replaced", target: { l: [1, 2, 3] }, patch: { l: [4] }, out: { l: [4] } },
    { name: "an object replaces a scalar", target: { a: 1 }, patch: { a: { b: 1 } }, out: { a: { b: 1 } } },
    { name: "an object replaces an array", target: { a: [1] }, patch: { a: { b: 1 } }, out: { a: { b: 1 } } },
  ])("$name", ({ target, patch, out }) => {
    const before = structuredClone(target);
    expect(mergePatch(target, patch)).toEqual(out);
    expect(target).toEqual(before);
  });
});

function world(): World {
  const w = new World(town(), T0, { strict: true });
  w.addBead(bead("x"));
  return w;
}
const rv = (w: World, name: string) => w.bead(name).metadata.resourceVersion as string;
const beadWrite = (name: string, resourceVersion: string, status: Record<string, unknown>, cause?: string): Action => ({
  type: "UpdateBeadStatus",
  name,
  resourceVersion,
  status,
  events: [why],
  ...(cause ? { cause } : {}),
});
const createAgent: Action = { type: "CreateAgent", name: "gt-app-toast", role: "Polecat", rig: "app", why };

describe("status writes", () => {
  it("merge-patch the status and bump the resourceVersion", () => {
    const w = world();
    const before = rv(w, "x");
    expect(w.apply([beadWrite("x", before, { phase: "InProgress", assignee: "a" })])).toEqual({ applied: 1 });
    expect(w.apply([beadWrite("x", rv(w, "x"), { assignee: null, reason: "R" })])).toEqual({ applied: 1 });
    expect(w.bead("x").status).toEqual({ phase: "InProgress", reason: "R" });
    expect(rv(w, "x")).not.toBe(before);
    expect(w.bead("x").metadata.generation).toBe(1);
  });

  it("a write from a stale view conflicts and stops its chain; independent work and no summaries go on", () => {
    const w = world();
    const stale = rv(w, "x");
    w.apply([beadWrite("x", stale, { phase: "InProgress" })]);
    const town = w.town.metadata.resourceVersion as string;
    const result = w.apply([
      beadWrite("x", stale, { phase: "Failed" }),
      beadWrite("x", "", { reason: "after the conflict" }),
      createAgent,
      { type: "UpdateTownStatus", name: "gt", resourceVersion: town, status: { rigCount: 9 }, events: [] },
    ]);
    expect(result.applied).toBe(1);
    expect(result.error).toBeInstanceOf(ApplyError);
    expect(result.error?.code).toBe("Conflict");
    expect(result.error?.message).toContain(`plan read ${stale}`);
    expect(w.bead("x").status).toMatchObject({ phase: "InProgress" });
    expect(w.bead("x").status?.reason).toBeUndefined();
    expect(w.agents.map((a) => a.metadata.name)).toEqual(["gt-app-toast"]);
    expect(w.town.status).toBeUndefined();
  });

  it("with stopAfter, the controller died after n writes sent round-robin from its chains", () => {
    const w = world();
    w.addBead(bead("y"));
    const plan: Action[] = [
      beadWrite("x", rv(w, "x"), { reason: "x1" }),
      beadWrite("x", rv(w, "x"), { reason: "x2" }),
      beadWrite("y", rv(w, "y"), { reason: "y1" }),
      createAgent,
    ];
    expect(w.apply(plan, { stopAfter: 3 })).toEqual({ applied: 3 });
    expect(w.bead("x").status?.reason).toBe("x1");
    expect(w.bead("y").status?.reason).toBe("y1");
    expect(w.agents).toHaveLength(1);
  });

  it("writes to one object in one batch chain: each carries the version the plan read", () => {
    const w = world();
    const read = rv(w, "x");
    const result = w.apply([beadWrite("x", read, { phase: "Open" }), beadWrite("x", read, { phase: "InProgress" })]);
    expect(result).toEqual({ applied: 2 });
    expect(w.bead("x").status?.phase).toBe("InProgress");
  });

  it('resourceVersion "" means created in this batch', () => {
    const w = world();
    const result = w.apply([
      createAgent,
      { type: "SetHook", agent: "gt-app-toast", resourceVersion: "", hook: "x", why },
      {
        type: "UpdateAgentStatus",
        name: "gt-app-toast",
        resourceVersion: "",
        status: { phase: "Working" },
        events: [],
      },
    ]);
    expect(result).toEqual({ applied: 3 });
    expect(w.agent("gt-app-toast")).toMatchObject({ spec: { hook: "x" }, status: { phase: "Working" } });
    // In a later batch "" no longer matches anything: the plan never read the object.
    const again = w.apply([{ type: "SetHook", agent: "gt-app-toast", resourceVersion: "", hook: null, why }]);
    expect(again.error?.code).toBe("Conflict");
    expect(again.error?.message).toContain("plan read nothing");
    expect(w.agent("gt-app-toast")?.spec.hook).toBe("x");
  });

  it("SetHook null removes the hook and bumps generation (a spec change)", () => {
    const w = world();
    w.apply([createAgent, { type: "SetHook", agent: "gt-app-toast", resourceVersion: "", hook: "x", why }]);
    const a = w.agent("gt-app-toast");
    w.apply([
      { type: "SetHook", agent: "gt-app-toast", resourceVersion: a?.metadata.resourceVersion ?? "", hook: null, why },
    ]);
    expect(w.agent("gt-app-toast")?.spec.hook).toBeUndefined();
    expect(w.agent("gt-app-toast")?.metadata.generation).toBe((a?.metadata.generation ?? 0) + 1);
  });

  it.each([
    { name: "a bead status", action: beadWrite("nope", "1", { phase: "Open" }) },
    {
      name: "an agent's hook",
      action: { type: "SetHook", agent: "nope", resourceVersion: "1", hook: null, why } as Action,
    },
    {
      name: "a session of a missing agent",
      action: {
        type: "StartSession",
        agent: "nope",
        role: "Polecat",
        rig: "app",
        session: 1,
        pod: "nope-1",
        bead: "x",
        context: {
          beadTitle: "t",
          beadDescription: "",
          branch: "b",
          baseBranch: "main",
          targetBranch: "main",
          mergeStrategy: "Direct",
          gates: [],
        },
        why,
      } as Action,
    },
  ])("writing $name of a missing object is NotFound", ({ action }) => {
    expect(world().apply([action]).error?.code).toBe("NotFound");
  });

  it("the town status is a conflict-checked merge patch too", () => {
    const w = world();
    const read = w.town.metadata.resourceVersion as string;
    const write = (status: Record<string, unknown>): Action => ({
      type: "UpdateTownStatus",
      name: "gt",
      resourceVersion: read,
      status,
      events: [],
    });
    expect(w.apply([write({ rigCount: 1 }), write({ openBeads: 2 })])).toEqual({ applied: 2 });
    expect(w.town.status).toMatchObject({ rigCount: 1, openBeads: 2 });
    expect(w.apply([write({ rigCount: 3 })]).error?.code).toBe("Conflict");
  });
});

describe("idempotent creates and deletes", () => {
  it("creating an existing bead is success and leaves it as it was", () => {
    const w = world();
    const read = rv(w, "x");
    const create: Action = { type: "CreateBead", name: "x", spec: { ...bead("x").spec, title: "other" }, why };
    expect(w.apply([create, beadWrite("x", read, { phase: "Open" })])).toEqual({ applied: 2 });
    expect(w.bead("x").spec.title).toBe("bead x");
  });

  it("creating an existing agent or session is success", () => {
    const w = world();
    w.apply([createAgent]);
    const agentRV = w.agent("gt-app-toast")?.metadata.resourceVersion;
    const start: Action = {
      type: "StartSession",
      agent: "gt-app-toast",
      role: "Polecat",
      rig: "app",
      session: 1,
      pod: "gt-app-toast-1",
      bead: "x",
      context: {
        beadTitle: "t",
        beadDescription: "",
        branch: "b",
        baseBranch: "m",
        targetBranch: "m",
        mergeStrategy: "Direct",
        gates: [],
      },
      why,
    };
    expect(w.apply([createAgent, start])).toEqual({ applied: 2 });
    w.now += MIN;
    expect(w.apply([start])).toEqual({ applied: 1 });
    expect(w.agent("gt-app-toast")?.metadata.resourceVersion).toBe(agentRV);
    expect(w.sessions).toEqual([
      {
        name: "gt-app-toast-1",
        agent: "gt-app-toast",
        session: 1,
        bead: "x",
        phase: "Pending",
        created: T0,
        deleting: false,
      },
    ]);
  });

  it("stopping, deleting what is gone is success", () => {
    const w = world();
    const result = w.apply([
      { type: "StopSession", agent: "a", pod: "a-1", why },
      { type: "DeleteAgent", name: "a", uid: "u", resourceVersion: "1", why },
      { type: "DeleteReport", name: "r", why },
    ]);
    expect(result).toEqual({ applied: 3 });
  });

  it("a stopped session is terminating until the runtime finishes it", () => {
    const w = world();
    w.setSession({ name: "p-1", agent: "p", session: 1, phase: "Running", created: T0, deleting: false });
    w.apply([{ type: "StopSession", agent: "p", pod: "p-1", why }]);
    expect(w.sessions[0]?.deleting).toBe(true);
    w.finishDeletions();
    expect(w.sessions).toEqual([]);
  });

  it("deleting an agent takes its sessions and lease; a re-hooked agent is not deleted", () => {
    const w = world();
    w.apply([createAgent]);
    const agentRV = w.agent("gt-app-toast")?.metadata.resourceVersion as string;
    w.setSession({
      name: "gt-app-toast-1",
      agent: "gt-app-toast",
      session: 1,
      phase: "Succeeded",
      created: T0,
      deleting: false,
    });
    w.setSession({ name: "other-1", agent: "other", session: 1, phase: "Running", created: T0, deleting: false });
    w.setLease({ agent: "gt-app-toast", activeTools: 0 });
    w.apply([{ type: "SetHook", agent: "gt-app-toast", resourceVersion: agentRV, hook: "x", why }]);
    const stale = w.apply([{ type: "DeleteAgent", name: "gt-app-toast", uid: "u", resourceVersion: agentRV, why }]);
    expect(stale.error?.code).toBe("Conflict");
    const current = w.agent("gt-app-toast")?.metadata.resourceVersion as string;
    expect(w.apply([{ type: "DeleteAgent", name: "gt-app-toast", uid: "u", resourceVersion: current, why }])).toEqual({
      applied: 1,
    });
    expect(w.agents).toEqual([]);
    // The garbage collector deletes the agent's pods: they terminate, then they are gone.
    expect(w.sessions.map((s) => [s.name, s.deleting])).toEqual([
      ["gt-app-toast-1", true],
      ["other-1", false],
    ]);
    w.finishDeletions();
    expect(w.sessions.map((s) => s.name)).toEqual(["other-1"]);
    expect(w.lease("gt-app-toast")).toBeUndefined();
  });
});

describe("failed writes are charged to the report that caused them", () => {
  const setup = () => {
    const w = world();
    const report = w.addReport({ town: "gt", agent: "gt-app-toast", bead: "x", session: 1, type: "Done" });
    return { w, report };
  };

  it("an injected failure on a caused write: attempts + 1, lastAttemptTime, error; its chain stops there", () => {
    const { w, report } = setup();
    w.now = T0 + MIN;
    const actions = [
      beadWrite("x", rv(w, "x"), { phase: "InReview" }, report),
      { type: "UpdateReportStatus", name: report, resourceVersion: "", status: { outcome: "Applied" }, events: [] },
      createAgent,
    ] as Action[];
    const result = w.apply(actions, { fail: (a) => (a.type === "UpdateBeadStatus" ? "webhook denied" : undefined) });
    expect(result.applied).toBe(1);
    expect(w.agents).toHaveLength(1);
    expect(result.error).toMatchObject({ code: "Injected", message: "webhook denied" });
    expect(w.reports[0]?.status).toEqual({
      attempts: 1,
      lastAttemptTime: new Date(T0 + MIN).toISOString(),
      error: "webhook denied",
    });
    w.apply(actions, { fail: () => "again" });
    expect(w.reports[0]?.status).toMatchObject({ attempts: 2, error: "again" });
  });

  it("a conflict on a caused write is not charged: a stale view is replanned, as the actuator does", () => {
    const { w, report } = setup();
    expect(w.apply([beadWrite("x", "stale", { phase: "InReview" }, report)]).error?.code).toBe("Conflict");
    expect(w.reports[0]?.status).toBeUndefined();
  });

  it("a status the API server would refuse is charged (the CRD schema is the zod schema)", () => {
    const { w, report } = setup();
    const result = w.apply([beadWrite("x", rv(w, "x"), { phase: "Sleeping" }, report)]);
    expect(result.error?.code).toBe("Invalid");
    expect(w.reports[0]?.status).toMatchObject({
      attempts: 1,
      error: expect.stringContaining("Bead status is invalid"),
    });
    expect(w.bead("x").status).toBeUndefined();
  });

  it("a failure without a cause, or with a cause that no longer exists, charges nothing", () => {
    const { w } = setup();
    w.apply([beadWrite("x", "stale", { phase: "InReview" })]);
    w.apply([beadWrite("x", "stale", { phase: "InReview" }, "gone")]);
    expect(w.reports[0]?.status).toBeUndefined();
  });

  it("an error that is not an API error is not swallowed", () => {
    const w = world();
    const invalid = { type: "CreateBead", name: "y", spec: { town: "NOT A LABEL" }, why } as unknown as Action;
    expect(() => w.apply([invalid])).toThrow();
  });
});

describe("apply bookkeeping", () => {
  it("stopAfter applies only a prefix: the controller died after it", () => {
    const w = world();
    const read = rv(w, "x");
    const result = w.apply([beadWrite("x", read, { phase: "InProgress" }), createAgent, createAgent], { stopAfter: 1 });
    expect(result).toEqual({ applied: 1 });
    expect(w.agents).toEqual([]);
    expect(w.log).toHaveLength(1);
  });

  it("records the actuator's Events: one per object per batch, telling all it did, on the object", () => {
    const w = world();
    const nudge: Action = {
      type: "Nudge",
      agent: "gt-app-toast",
      tier: "warn",
      why: { reason: "NudgeWarn", message: "n" },
    };
    w.apply([
      createAgent,
      {
        type: "UpdateBeadStatus",
        name: "x",
        resourceVersion: rv(w, "x"),
        status: { phase: "Open" },
        events: [why, { reason: "Warn", message: "w", warning: true }],
      },
      nudge,
      nudge,
      {
        type: "Escalate",
        agent: "gt-app-toast",
        severity: "High",
        why: { reason: "Escalated", message: "e", warning: true },
      },
      { type: "StopSession", agent: "gt-app-gone", pod: "gt-app-gone-1", why },
      { type: "DeleteReport", name: "r", why: { reason: "ReportCollected", message: "old" } },
    ]);
    w.apply([nudge]);
    const byObject = (a: { kind: string; name: string }, b: typeof a) =>
      `${a.kind}/${a.name}`.localeCompare(`${b.kind}/${b.name}`);
    expect(w.events.slice(0, 3).sort(byObject)).toEqual([
      // An escalation is the town's story only (the rule that raised it told the agent's).
      { kind: "Agent", name: "gt-app-toast", reason: "Test", message: "test; n", warning: false },
      { kind: "Bead", name: "x", reason: "Test", message: "test; w", warning: true },
      { kind: "Town", name: "gt", reason: "Escalated", message: "e", warning: true },
    ]);
    expect(w.events.slice(3)).toEqual([
      { kind: "Agent", name: "gt-app-toast", reason: "NudgeWarn", message: "n", warning: false },
    ]);
  });

  it("labels and owns what it creates, gives a new agent its lease, stamps the town's last reconcile", () => {
    const w = world();
    w.addConvoy(convoy("c", [{ name: "a" }]));
    const uid = w.convoys[0]?.metadata.uid as string;
    w.now = T0 + MIN;
    w.apply([
      createAgent,
      {
        type: "CreateBead",
        name: "c-a",
        spec: { ...bead("c-a").spec, convoy: "c" },
        ownerConvoy: { name: "c", uid },
        why,
      },
      {
        type: "StartSession",
        agent: "gt-app-toast",
        role: "Polecat",
        rig: "app",
        session: 1,
        pod: "gt-app-toast-1",
        bead: "c-a",
        context: {
          beadTitle: "t",
          beadDescription: "",
          branch: "b",
          baseBranch: "m",
          targetBranch: "m",
          mergeStrategy: "Direct",
          gates: [],
        },
        why,
      },
      {
        type: "UpdateTownStatus",
        name: "gt",
        resourceVersion: w.town.metadata.resourceVersion as string,
        status: {},
        events: [],
      },
    ]);
    expect(w.agent("gt-app-toast")?.metadata).toMatchObject({
      labels: { "gastown.dev/town": "gt", "gastown.dev/rig": "app", "gastown.dev/role": "polecat" },
      ownerReferences: [{ kind: "Town", name: "gt", uid: "town-uid", blockOwnerDeletion: true }],
    });
    expect(w.bead("c-a").metadata).toMatchObject({
      labels: { "gastown.dev/town": "gt", "gastown.dev/convoy": "c" },
      ownerReferences: [{ kind: "Convoy", name: "c", uid }],
    });
    expect(w.lease("gt-app-toast")).toEqual({ agent: "gt-app-toast", activeTools: 0 });
    expect(w.town.status).toMatchObject({
      lastReconcile: { time: new Date(T0 + MIN).toISOString(), durationMs: 0, actions: 4 },
      rigCount: 0,
      openBeads: 0,
    });
  });

  it.each([
    {
      name: "merged",
      forge: () => ({ state: "Merged" as const, mergeCommit: "def5678" }),
      pr: { state: "Merged", lastPolledTime: "t", lastAttemptTime: "t", consecutiveErrors: 0, mergeCommit: "def5678" },
    },
    {
      name: "an error keeps the last good poll and counts the error",
      forge: () => new Error("forge down"),
      pr: { state: "Open", lastPolledTime: OLD, lastAttemptTime: "t", lastError: "forge down", consecutiveErrors: 3 },
    },
  ])("PollPullRequest records what the forge said: $name", ({ forge, pr }) => {
    const w = world();
    w.apply([
      beadWrite("x", rv(w, "x"), {
        pullRequest: { state: "Open", lastPolledTime: OLD, lastAttemptTime: OLD, consecutiveErrors: 2 },
      }),
    ]);
    w.forge = forge;
    const t = new Date(T0).toISOString();
    w.apply([
      { type: "PollPullRequest", bead: "x", rig: "app", url: "https://f/1", why },
      { type: "PollPullRequest", bead: "gone", rig: "app", url: "https://f/2", why },
    ]);
    const expected = Object.fromEntries(Object.entries(pr).map(([k, v]) => [k, v === "t" ? t : v]));
    expect(w.bead("x").status?.pullRequest).toEqual(expected);
  });

  it("the default forge says Open; a first failed poll starts the error count at 1", () => {
    const w = world();
    w.apply([{ type: "PollPullRequest", bead: "x", rig: "app", url: "https://f/1", why }]);
    expect(w.bead("x").status?.pullRequest).toMatchObject({ state: "Open", consecutiveErrors: 0 });
    const v = world();
    v.forge = () => new Error("down");
    v.apply([{ type: "PollPullRequest", bead: "x", rig: "app", url: "https://f/1", why }]);
    expect(v.bead("x").status?.pullRequest).toEqual({
      lastAttemptTime: new Date(T0).toISOString(),
      lastError: "down",
      consecutiveErrors: 1,
    });
  });

  it("sessions can be removed (a pod deleted behind the controller's back)", () => {
    const w = world();
    w.setSession({ name: "p-1", agent: "p", session: 1, phase: "Running", created: T0, deleting: false });
    w.removeSession("p-1");
    expect(w.sessions).toEqual([]);
  });

  it("freeze keeps a stale view to plan from", () => {
    const w = world();
    const frozen = w.freeze();
    w.addBead(bead("y"));
    w.apply([beadWrite("x", rv(w, "x"), { phase: "InProgress" })]);
    const snap = frozen();
    expect([...snap.beads.keys()]).toEqual(["x"]);
    expect(snap.beads.get("x")?.state.phase).toBe("Open");
    expect(w.snapshot().beads.get("x")?.state.phase).toBe("InProgress");
  });

  it("users' spec edits bump generation and resourceVersion", () => {
    const w = world();
    w.addConvoy(convoy("c", [{ name: "a" }], { staged: true }));
    const before = rv(w, "x");
    w.editBeadSpec("x", { cancel: true });
    expect(w.bead("x")).toMatchObject({ spec: { cancel: true }, metadata: { generation: 2 } });
    expect(rv(w, "x")).not.toBe(before);
    w.editConvoySpec("c", { staged: false });
    expect(w.convoys[0]).toMatchObject({ spec: { staged: false }, metadata: { generation: 2 } });
    expect(() => w.editConvoySpec("nope", {})).toThrow("no convoy nope");
    expect(() => w.bead("nope")).toThrow("no bead nope");
  });

  it("reports are named so that names sort in creation order", () => {
    const w = world();
    const a = w.addReport({ town: "gt", agent: "gt-app-toast", bead: "x", session: 1, type: "Checkpoint", data: "1" });
    const b = w.addReport({ town: "gt", agent: "gt-app-toast", bead: "x", session: 1, type: "Done" });
    expect(a < b).toBe(true);
    expect(b.endsWith("-done")).toBe(true);
    expect(w.addReport({ town: "gt", agent: "a", bead: "x", session: 1, type: "Done" }, "mine")).toBe("mine");
  });
});

describe("writes that change nothing", () => {
  it("keep the resourceVersion, as the API server does: a later write from the same view applies", () => {
    const w = world();
    w.apply([beadWrite("x", rv(w, "x"), { reason: "A" })]);
    const read = rv(w, "x");
    expect(w.apply([beadWrite("x", read, { reason: "A" })])).toEqual({ applied: 1 });
    expect(rv(w, "x")).toBe(read);
    expect(w.apply([beadWrite("x", read, { reason: "B" })])).toEqual({ applied: 1 });
    expect(rv(w, "x")).not.toBe(read);
  });
});

describe("Event notes", () => {
  it("are cut to the 1 KB the Events API holds, as the recorder cuts them", () => {
    const w = world();
    const long = "ü".repeat(600);
    w.apply([{ type: "Nudge", agent: "a", tier: "warn", why: { reason: "NudgeWarn", message: long } }]);
    const note = w.events[0]?.message ?? "";
    expect(Buffer.byteLength(note)).toBeLessThanOrEqual(1024);
    expect(note.endsWith("…")).toBe(true);
  });
});
