import { describe, expect, it } from "vitest";
import { creatorOf, type Story, tellStories } from "../../../src/controller/transition-events.ts";
import type { Why } from "../../../src/core/actions.ts";

const why = (reason: string, message: string, warning?: boolean): Why => ({
  reason,
  message,
  ...(warning ? { warning } : {}),
});
const dispatched = why("Dispatched", "toast takes x");

describe("tellStories", () => {
  it("tells an agent's step that retells its bead's on the bead's Event, naming the agent as related", () => {
    const bead: Story = { kind: "Bead", name: "x", whys: [dispatched, why("Blocked", "Blocked=False")] };
    const agent: Story = { kind: "Agent", name: "toast", whys: [dispatched, dispatched] };
    const told = tellStories([agent, bead]);
    expect(told).toEqual([
      {
        story: bead,
        transition: { type: "Normal", reason: "Dispatched", note: "toast takes x; Blocked=False" },
        related: agent,
      },
    ]);
  });

  it("keeps an agent's Event when it did something its bead did not tell", () => {
    const bead: Story = { kind: "Bead", name: "x", whys: [dispatched] };
    const agent: Story = { kind: "Agent", name: "toast", whys: [why("PolecatCreated", "new polecat"), dispatched] };
    expect(tellStories([bead, agent]).map((t) => [t.story.name, t.transition.reason, t.related?.name])).toEqual([
      ["x", "Dispatched", undefined],
      ["toast", "PolecatCreated", undefined],
    ]);
  });

  it("names at most one related agent per bead", () => {
    const bead: Story = { kind: "Bead", name: "x", whys: [dispatched] };
    const first: Story = { kind: "Agent", name: "toast", whys: [dispatched] };
    const second: Story = { kind: "Agent", name: "nux", whys: [dispatched] };
    const told = tellStories([bead, first, second]);
    expect(told.map((t) => [t.story.name, t.related?.name])).toEqual([
      ["x", "toast"],
      ["nux", undefined],
    ]);
  });

  it("tells an agent's steps on two beads by both, each naming it", () => {
    const merged = why("Merged", "refinery merged x-mr-1");
    const started = why("ReviewStarted", "refinery reviews y-mr-1");
    const mr1: Story = { kind: "Bead", name: "x-mr-1", whys: [merged] };
    const mr2: Story = { kind: "Bead", name: "y-mr-1", whys: [started] };
    const refinery: Story = { kind: "Agent", name: "refinery", whys: [merged, started] };
    expect(tellStories([mr1, refinery, mr2]).map((t) => [t.story.name, t.related?.name])).toEqual([
      ["x-mr-1", "refinery"],
      ["y-mr-1", "refinery"],
    ]);
    // One step on a bead that already names another agent: the agent tells its own story.
    const toast: Story = { kind: "Agent", name: "toast", whys: [merged] };
    expect(tellStories([mr1, toast, refinery, mr2]).map((t) => [t.story.name, t.related?.name])).toEqual([
      ["x-mr-1", "toast"],
      ["refinery", undefined],
      ["y-mr-1", undefined],
    ]);
  });

  it("keeps a failure on both objects: an agent's warning is never folded", () => {
    const failed = why("ErrImagePull", "toast-3: ErrImagePull: no such image", true);
    const bead: Story = { kind: "Bead", name: "x", whys: [failed] };
    const agent: Story = { kind: "Agent", name: "toast", whys: [failed] };
    expect(tellStories([bead, agent]).map((t) => [t.story.name, t.related?.name, t.transition.type])).toEqual([
      ["x", undefined, "Warning"],
      ["toast", undefined, "Warning"],
    ]);
  });

  it("folds only into beads: two agents telling the same step stay two Events", () => {
    const a: Story = { kind: "Agent", name: "toast", whys: [dispatched] };
    const town: Story = { kind: "Town", name: "gt", whys: [dispatched] };
    expect(tellStories([town, a]).map((t) => t.story.name)).toEqual(["gt", "toast"]);
  });
});

describe("creatorOf and what a plan made", () => {
  it("tells a bead's creation on what it was made for", () => {
    expect(creatorOf({ source: { kind: "Bead", name: "x" }, convoy: "c" })).toEqual({ kind: "Bead", name: "x" });
    expect(creatorOf({ source: { kind: "Convoy", name: "c" } })).toEqual({ kind: "Convoy", name: "c" });
    expect(creatorOf({ reworkOf: "x-mr-1", convoy: "c" })).toEqual({ kind: "Bead", name: "x-mr-1" });
    expect(creatorOf({ convoy: "c" })).toEqual({ kind: "Convoy", name: "c" });
    expect(creatorOf({})).toBeUndefined();
  });

  it("names the object's own step first and what it made after, and folds its agent on its own steps", () => {
    const done = why("WorkDone", "toast finished x");
    const bead: Story = { kind: "Bead", name: "x", whys: [done], made: [why("MergeRequestCreated", "x-mr-1 reviews")] };
    const agent: Story = { kind: "Agent", name: "toast", whys: [done] };
    const convoy: Story = {
      kind: "Convoy",
      name: "c",
      whys: [],
      made: [why("TaskCreated", "a"), why("TaskCreated", "b")],
    };
    expect(tellStories([bead, agent, convoy])).toEqual([
      {
        story: bead,
        transition: { type: "Normal", reason: "WorkDone", note: "toast finished x; x-mr-1 reviews" },
        related: agent,
      },
      { story: convoy, transition: { type: "Normal", reason: "TaskCreated", note: "a; b" } },
    ]);
  });
});
