// Orphans speak: convoys and beads naming a town that does not exist say so, once.
import { describe, expect, it } from "vitest";
import { planOrphans } from "../../../src/core/orphans.ts";
import { convoyOf, issue, T0 } from "./builders.ts";

const input = (o: { beads?: ReturnType<typeof issue>[]; convoys?: ReturnType<typeof convoyOf>[] }) => ({
  town: "gt",
  namespace: "demo",
  convoys: o.convoys ?? [],
  beads: o.beads ?? [],
});

describe("planOrphans", () => {
  it("a convoy and a bead of a missing town get Ready=False and Stalled=True, TownNotFound, with one Warning", () => {
    const actions = planOrphans(input({ convoys: [convoyOf("c", [{ name: "a" }])], beads: [issue("x")] }), T0);
    expect(actions.map((a) => [a.type, "name" in a ? a.name : ""])).toEqual([
      ["UpdateConvoyStatus", "c"],
      ["UpdateBeadStatus", "x"],
    ]);
    const write = actions[0] as Extract<(typeof actions)[0], { type: "UpdateConvoyStatus" }>;
    const conditions = write.status.conditions as { type: string; status: string; reason: string; message: string }[];
    expect(conditions.map((c) => [c.type, c.status, c.reason])).toEqual([
      ["Ready", "False", "TownNotFound"],
      ["Stalled", "True", "TownNotFound"],
    ]);
    expect(conditions[0]?.message).toBe(
      "town gt does not exist in namespace demo: create it, or set spec.town to an existing Town",
    );
    expect(write.events).toEqual([{ reason: "TownNotFound", message: conditions[0]?.message, warning: true }]);
  });

  it("once they say so, nothing is written again; other towns' objects are left alone", () => {
    const first = planOrphans(input({ beads: [issue("x")] }), T0);
    const said = issue("x", {
      status: {
        conditions: (first[0] as unknown as { status: { conditions: never[] } }).status.conditions,
        observedGeneration: 1,
      },
    });
    expect(planOrphans(input({ beads: [said, issue("y", { spec: { town: "other" } })] }), T0 + 1000)).toEqual([]);
  });
});
