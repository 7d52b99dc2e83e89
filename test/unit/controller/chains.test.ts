// A plan's actions split into independent chains: what touches the same objects (directly, through
// the report that caused it, or through the work a bead belongs to) stays together in plan order;
// town and convoy status come last.
import { describe, expect, it } from "vitest";
import { type BeadOrigin, splitIntoChains } from "../../../src/controller/chains.ts";
import type { Action } from "../../../src/core/actions.ts";

const why = { reason: "R", message: "m" };
const beadStatus = (name: string, cause?: string): Action => ({
  type: "UpdateBeadStatus",
  name,
  resourceVersion: "1",
  status: { reason: name },
  events: [],
  ...(cause ? { cause } : {}),
});
const agentStatus = (name: string, cause?: string): Action => ({
  type: "UpdateAgentStatus",
  name,
  resourceVersion: "1",
  status: {},
  events: [],
  ...(cause ? { cause } : {}),
});
const hook = (agent: string, bead: string | null, cause?: string): Action => ({
  type: "SetHook",
  agent,
  resourceVersion: "1",
  hook: bead,
  why,
  ...(cause ? { cause } : {}),
});
const start = (agent: string, bead: string): Action => ({
  type: "StartSession",
  agent,
  role: "Polecat",
  rig: "app",
  session: 1,
  pod: `${agent}-1`,
  bead,
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
});
const town: Action = { type: "UpdateTownStatus", name: "gt", resourceVersion: "1", status: {}, events: [] };
const convoy: Action = { type: "UpdateConvoyStatus", name: "c", resourceVersion: "1", status: {}, events: [] };
const names = (chains: Action[][]) =>
  chains.map((c) => c.map((a) => `${a.type}:${"name" in a ? a.name : "agent" in a ? a.agent : ""}`));

const origins: Record<string, BeadOrigin> = {
  "x-mr-1": { source: { kind: "Bead", name: "x" } },
  "x-mr-2": { source: { kind: "Bead", name: "x" } },
  "x-mr-1-rework-1": { reworkOf: "x-mr-1" },
  "c-landing-1": { source: { kind: "Convoy", name: "c" } },
};
const hooks: Record<string, string> = { refinery: "x-mr-1", birch: "p" };
const view = { beadOf: (name: string) => origins[name], hookOf: (agent: string) => hooks[agent] };

describe("splitting a plan into chains", () => {
  it("two dispatches are two chains, each in plan order; the town's status comes last", () => {
    const plan = [
      beadStatus("a"),
      hook("toast", "a"),
      beadStatus("b"),
      hook("maple", "b"),
      start("toast", "a"),
      start("maple", "b"),
      agentStatus("toast"),
      agentStatus("maple"),
      town,
    ];
    const { chains, last } = splitIntoChains(plan, view);
    expect(names(chains)).toEqual([
      ["UpdateBeadStatus:a", "SetHook:toast", "StartSession:toast", "UpdateAgentStatus:toast"],
      ["UpdateBeadStatus:b", "SetHook:maple", "StartSession:maple", "UpdateAgentStatus:maple"],
    ]);
    expect(last).toEqual([town]);
  });

  it("a report's effects and then its own status are one chain; a freed agent's new work joins it", () => {
    const plan: Action[] = [
      { type: "CreateBead", name: "x-mr-1", spec: { source: { kind: "Bead", name: "x" } } as never, why, cause: "r1" },
      beadStatus("x", "r1"),
      hook("toast", null, "r1"),
      { type: "UpdateReportStatus", name: "r1", resourceVersion: "1", status: {}, events: [] },
      { type: "UpdateReportStatus", name: "r2", resourceVersion: "1", status: {}, events: [] },
      beadStatus("y"),
      hook("toast", "y"),
    ];
    expect(names(splitIntoChains(plan, view).chains)).toEqual([
      [
        "CreateBead:x-mr-1",
        "UpdateBeadStatus:x",
        "SetHook:toast",
        "UpdateReportStatus:r1",
        "UpdateBeadStatus:y",
        "SetHook:toast",
      ],
      ["UpdateReportStatus:r2"],
    ]);
  });

  it("a merge request, its rework and its siblings belong to their issue; a landing to its convoy", () => {
    const plan = [
      beadStatus("x-mr-1"),
      beadStatus("x-mr-1-rework-1"),
      beadStatus("x"),
      beadStatus("x-mr-2"),
      beadStatus("c-landing-1"),
      convoy,
      beadStatus("z"),
    ];
    const { chains, last } = splitIntoChains(plan, view);
    expect(names(chains)).toEqual([
      ["UpdateBeadStatus:x-mr-1", "UpdateBeadStatus:x-mr-1-rework-1", "UpdateBeadStatus:x", "UpdateBeadStatus:x-mr-2"],
      ["UpdateBeadStatus:c-landing-1"],
      ["UpdateBeadStatus:z"],
    ]);
    expect(last).toEqual([convoy]);
  });

  it("an agent goes with the work it is hooked to and the work it is hooked to next", () => {
    // birch is hooked to p: releasing it stays after p's write, and its next bead q joins them.
    const plan = [beadStatus("p"), hook("birch", null), beadStatus("q"), hook("birch", "q"), beadStatus("r")];
    expect(names(splitIntoChains(plan, view).chains)).toEqual([
      ["UpdateBeadStatus:p", "SetHook:birch", "UpdateBeadStatus:q", "SetHook:birch"],
      ["UpdateBeadStatus:r"],
    ]);
    // The refinery's merge of x-mr-1 (no report: a polled PR) keeps the writes in order.
    const merge = [beadStatus("x-mr-1"), beadStatus("x"), hook("refinery", null), agentStatus("refinery")];
    expect(splitIntoChains(merge, view).chains).toHaveLength(1);
  });
});

describe("what must wait for other work", () => {
  it("a dependent's dispatch follows its blocker's closing; a landing waits for every member", () => {
    const deps = {
      beadOf: (name: string) =>
        name === "c-b"
          ? { dependsOn: ["c-a"] }
          : name === "c-landing-1"
            ? { source: { kind: "Convoy" as const, name: "c" } }
            : undefined,
      hookOf: () => undefined,
    };
    const landing: Action = {
      type: "CreateBead",
      name: "c-landing-1",
      spec: { source: { kind: "Convoy", name: "c" } } as never,
      why,
    };
    const plan = [beadStatus("c-a"), landing, beadStatus("c-b"), hook("toast", "c-b"), beadStatus("other")];
    const { chains, last } = splitIntoChains(plan, deps);
    expect(names(chains)).toEqual([
      ["UpdateBeadStatus:c-a", "UpdateBeadStatus:c-b", "SetHook:toast"],
      ["UpdateBeadStatus:other"],
    ]);
    expect(last).toEqual([landing]);
  });

  it("a dependent's write that leaves it Blocked, and its creation, do not wait for its blockers", () => {
    const deps = {
      beadOf: (name: string) => (name === "c-b" || name === "c-c" ? { dependsOn: ["c-a"] } : undefined),
      hookOf: () => undefined,
    };
    const blocked = (name: string, status: "True" | "False"): Action =>
      ({
        ...beadStatus(name),
        status: {
          conditions: [
            { type: "Ready", status: "False" },
            { type: "Blocked", status },
          ],
        },
      }) as Action;
    const created: Action = { type: "CreateBead", name: "c-d", spec: { dependsOn: ["c-a"] } as never, why };
    const plan = [beadStatus("c-a"), hook("toast", "c-a"), blocked("c-b", "True"), created, blocked("c-c", "False")];
    expect(names(splitIntoChains(plan, deps).chains)).toEqual([
      ["UpdateBeadStatus:c-a", "SetHook:toast", "UpdateBeadStatus:c-c"],
      ["UpdateBeadStatus:c-b"],
      ["CreateBead:c-d"],
    ]);
  });
});
