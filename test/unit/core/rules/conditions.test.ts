// conditions.ts: lastTransitionTime moves only when status flips; abnormal-true conditions are
// removed rather than set False; unchanged lists keep their identity (no write).
import { describe, expect, it } from "vitest";
import type { Condition } from "../../../../src/api/meta.ts";
import {
  findCondition,
  isTrue,
  removeCondition,
  setAbnormal,
  setCondition,
  transitions,
} from "../../../../src/core/conditions.ts";
import { iso, MIN, T0 } from "../builders.ts";

const NOW = T0 + 10 * MIN;
const ready: Condition = {
  type: "Ready",
  status: "False",
  reason: "Pending",
  message: "waiting",
  lastTransitionTime: iso(T0),
  observedGeneration: 1,
};
const list: readonly Condition[] = [ready];

describe("setCondition", () => {
  it.each([
    {
      name: "nothing changes: the same array",
      want: { type: "Ready", status: "False", reason: "Pending", message: "waiting" },
      generation: 1,
      result: "same",
    },
    {
      name: "reason changes, status does not: lastTransitionTime kept",
      want: { type: "Ready", status: "False", reason: "Blocked", message: "waiting for y" },
      generation: 1,
      result: [{ ...ready, reason: "Blocked", message: "waiting for y" }],
    },
    {
      name: "observedGeneration changes: lastTransitionTime kept",
      want: { type: "Ready", status: "False", reason: "Pending", message: "waiting" },
      generation: 2,
      result: [{ ...ready, observedGeneration: 2 }],
    },
    {
      name: "status flips: lastTransitionTime is now",
      want: { type: "Ready", status: "True", reason: "Merged", message: "merged" },
      generation: 1,
      result: [{ ...ready, status: "True", reason: "Merged", message: "merged", lastTransitionTime: iso(NOW) }],
    },
    {
      name: "a new type is appended with lastTransitionTime now",
      want: { type: "Blocked", status: "True", reason: "DependenciesOpen", message: "y" },
      generation: undefined,
      result: [
        ready,
        { type: "Blocked", status: "True", reason: "DependenciesOpen", message: "y", lastTransitionTime: iso(NOW) },
      ],
    },
  ] as const)("$name", ({ want, generation, result }) => {
    const out = setCondition(list, want, NOW, generation);
    if (result === "same") expect(out).toBe(list);
    else expect(out).toEqual(result);
  });

  it("messages are capped at 32768 characters", () => {
    const out = setCondition([], { type: "Ready", status: "True", reason: "R", message: "m".repeat(40000) }, NOW);
    expect(out[0]?.message).toHaveLength(32768);
  });
});

describe("abnormal-true conditions", () => {
  it("setAbnormal sets True when active and removes the condition otherwise", () => {
    const on = setAbnormal(list, "Stalled", { reason: "Cancelled", message: "cancelled" }, NOW, 1);
    expect(findCondition(on, "Stalled")).toMatchObject({ status: "True", reason: "Cancelled" });
    expect(isTrue(on, "Stalled")).toBe(true);
    const off = setAbnormal(on, "Stalled", undefined, NOW);
    expect(off).toEqual(list);
    expect(findCondition(off, "Stalled")).toBeUndefined();
    expect(isTrue(off, "Stalled")).toBe(false);
  });

  it("removeCondition keeps the same array when the condition is absent", () => {
    expect(removeCondition(list, "Stalled")).toBe(list);
    expect(removeCondition(list, "Ready")).toEqual([]);
  });
});

describe("transitions", () => {
  it("reports new conditions and status or reason changes, not message-only changes", () => {
    const before: Condition[] = [ready, { ...ready, type: "Other" }, { ...ready, type: "Third" }];
    const after: Condition[] = [
      { ...ready, message: "still waiting" },
      { ...ready, type: "Other", reason: "Blocked" },
      { ...ready, type: "Third", status: "True" },
      { ...ready, type: "New" },
    ];
    expect(transitions(before, after).map((c) => c.type)).toEqual(["Other", "Third", "New"]);
  });
});
