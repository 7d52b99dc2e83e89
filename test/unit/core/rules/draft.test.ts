// draft.ts: the copy-on-write plan under construction — later rules read earlier decisions,
// consecutive status writes to one object fold into one write, derived fields are amended into
// the last write, and writes that change nothing are dropped.
import { describe, expect, it } from "vitest";
import { Draft } from "../../../../src/core/draft.ts";
import { convoyOf, iso, issue, MIN, ofType, polecat, report, snapshotOf, T0 } from "../builders.ts";

const NOW = T0 + MIN;
const w = (reason: string) => ({ reason, message: reason.toLowerCase() });

function draft(): Draft {
  return new Draft(
    snapshotOf({
      beads: [issue("x"), issue("y")],
      agents: [polecat("gt-app-toast", { status: { phase: "Idle", session: 1, idleSince: iso(T0) } })],
      convoys: [convoyOf("c", [{ name: "a" }])],
      reports: [report("r", { agent: "gt-app-toast", bead: "x", type: "Done" })],
    }),
    NOW,
  );
}

describe("Draft", () => {
  it("later reads see earlier writes; the snapshot is untouched", () => {
    const d = draft();
    d.updateBead("x", { phase: "InProgress" }, w("A"));
    expect(d.bead("x")?.state.phase).toBe("InProgress");
    expect(d.snap.beads.get("x")?.state.phase).toBe("Open");
    expect([...d.touchedBeads()]).toEqual(["x"]);
  });

  it("consecutive writes to one object fold into one write with every event and the first cause", () => {
    const d = draft();
    d.updateBead("x", { phase: "InProgress" }, w("A"), "r1");
    d.updateBead("x", { assignee: "gt-app-toast" }, w("B"), "r2");
    expect(d.actions()).toEqual([
      {
        type: "UpdateBeadStatus",
        name: "x",
        resourceVersion: "rv-x",
        status: { phase: "InProgress", assignee: "gt-app-toast" },
        events: [w("A"), w("B")],
        cause: "r1",
      },
    ]);
  });

  it("writes separated by another write stay separate, in order", () => {
    const d = draft();
    d.updateBead("x", { phase: "InProgress" }, w("A"));
    d.updateBead("y", { phase: "InProgress" }, w("B"));
    d.updateBead("x", { assignee: "a" }, w("C"));
    expect(d.actions().map((a) => ("name" in a ? a.name : ""))).toEqual(["x", "y", "x"]);
    const [, , third] = ofType(d.actions(), "UpdateBeadStatus");
    expect(third?.status).toEqual({ assignee: "a" });
  });

  it("a write that changes nothing is dropped, and so is one that is undone", () => {
    const d = draft();
    d.updateBead("x", { phase: "Open" }, w("A"));
    d.updateAgent("gt-app-toast", { phase: "Working" }, w("B"));
    d.updateAgent("gt-app-toast", { phase: "Idle" }, w("C"));
    expect(d.actions()).toEqual([]);
  });

  it("amend merges derived fields into the last write of the object anywhere in the log", () => {
    const d = draft();
    d.updateBead("x", { phase: "InProgress" }, w("A"));
    d.updateBead("y", { phase: "InProgress" }, w("B"));
    d.amend("Bead", "x", { observedGeneration: 1 }, [w("Derived")]);
    expect(ofType(d.actions(), "UpdateBeadStatus")).toMatchObject([
      { name: "x", status: { phase: "InProgress", observedGeneration: 1 }, events: [w("A"), w("Derived")] },
      { name: "y" },
    ]);
    expect(d.bead("x")?.state.observedGeneration).toBe(1);
  });

  it.each([
    {
      kind: "Bead",
      name: "x",
      type: "UpdateBeadStatus",
      change: { observedGeneration: 7 },
      patch: { observedGeneration: 7 },
    },
    {
      kind: "Agent",
      name: "gt-app-toast",
      type: "UpdateAgentStatus",
      change: { activeTools: 3 },
      patch: { activeTools: 3 },
    },
    {
      kind: "Convoy",
      name: "c",
      type: "UpdateConvoyStatus",
      change: { observedGeneration: 7 },
      patch: { observedGeneration: 7 },
    },
  ] as const)("amend without an earlier write of the $kind adds one", ({ kind, name, type, change, patch }) => {
    const d = draft();
    d.amend(kind, name, change as never, [w("Derived")]);
    expect(ofType(d.actions(), type)).toMatchObject([{ name, status: patch, events: [w("Derived")] }]);
  });

  it("amend of a report merges into its status write; of a missing object it does nothing", () => {
    const d = draft();
    const r = d.snap.pendingReports[0];
    if (!r) throw new Error("no report");
    d.updateReport(r, { attempts: 1 }, w("A"));
    d.amend("Report", "r", { error: "e" }, []);
    d.amend("Report", "missing", { error: "e" }, []);
    d.amend("Bead", "missing", { phase: "Closed" }, []);
    expect(d.report("r")?.state).toMatchObject({ attempts: 1, error: "e" });
    expect(d.actions()).toMatchObject([{ type: "UpdateReportStatus", name: "r", status: { attempts: 1, error: "e" } }]);
  });

  it("writes to objects that do not exist are programming errors", () => {
    const d = draft();
    expect(() => d.updateBead("nope", {}, w("A"))).toThrow("bead nope is not in the snapshot");
    expect(() => d.updateAgent("nope", {}, undefined)).toThrow("agent nope is not in the snapshot");
    expect(() => d.updateConvoy("nope", {}, undefined)).toThrow("convoy nope is not in the snapshot");
    expect(() => d.setHook("nope", "x", w("A"))).toThrow("agent nope is not in the snapshot");
  });

  it("hooks: the index follows setHook, and setting the same hook writes nothing", () => {
    const d = draft();
    expect(d.hookedTo("x")).toEqual([]);
    d.setHook("gt-app-toast", "x", w("Hook"));
    d.setHook("gt-app-toast", "x", w("Again"));
    expect(d.hookedTo("x").map((a) => a.name)).toEqual(["gt-app-toast"]);
    d.setHook("gt-app-toast", "y", w("Move"));
    expect(d.hookedTo("x")).toEqual([]);
    expect(d.hookedTo("y").map((a) => a.name)).toEqual(["gt-app-toast"]);
    expect(ofType(d.actions(), "SetHook").map((a) => a.hook)).toEqual(["x", "y"]);
  });

  it('a created agent is visible at once and later writes to it carry resourceVersion ""', () => {
    const d = draft();
    d.createAgent("gt-app-maple", "Polecat", "app", w("Created"));
    d.setHook("gt-app-maple", "x", w("Hook"));
    d.updateAgent("gt-app-maple", { phase: "Working" }, undefined);
    expect([...d.allAgents()].map((a) => a.name)).toEqual(["gt-app-toast", "gt-app-maple"]);
    expect(d.hookedTo("x").map((a) => a.name)).toEqual(["gt-app-maple"]);
    expect(d.actions()).toMatchObject([
      { type: "CreateAgent", name: "gt-app-maple" },
      { type: "SetHook", agent: "gt-app-maple", resourceVersion: "" },
      { type: "UpdateAgentStatus", name: "gt-app-maple", resourceVersion: "", status: { phase: "Working" } },
    ]);
  });

  it("a bead is created once per plan, and its reworks are tracked", () => {
    const d = draft();
    const spec = { ...issue("r1").spec, reworkOf: "x-mr-1" };
    d.createBead({ name: "r1", spec, why: w("A") });
    d.createBead({ name: "r1", spec, why: w("B") });
    d.createBead({ name: "r2", spec, why: w("C") });
    expect(d.creates("r1")).toBe(true);
    expect(d.creates("r3")).toBe(false);
    expect(d.reworksCreatedFor("x-mr-1")).toEqual(["r1", "r2"]);
    expect(d.reworksCreatedFor("other")).toEqual([]);
    expect(ofType(d.actions(), "CreateBead").map((a) => a.name)).toEqual(["r1", "r2"]);
  });

  it("a pod is stopped once per plan", () => {
    const d = draft();
    d.stopSession("gt-app-toast", "gt-app-toast-1", w("A"));
    d.stopSession("gt-app-toast", "gt-app-toast-1", w("B"));
    expect(ofType(d.actions(), "StopSession")).toHaveLength(1);
  });

  it("a convoy write without an event", () => {
    const d = draft();
    d.updateConvoy("c", { phase: "Active" }, undefined);
    expect(d.convoy("c")?.state.phase).toBe("Active");
    expect(d.actions()).toEqual([
      { type: "UpdateConvoyStatus", name: "c", resourceVersion: "rv-c", status: { phase: "Active" }, events: [] },
    ]);
  });
});
