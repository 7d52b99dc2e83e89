import { describe, expect, it } from "vitest";
import { convoy, makeTown, Sim } from "./harness.ts";

describe("a convoy from start to landing", () => {
  it("ReviewThenLand: every task merges into the feature branch, then one landing merges", () => {
    const sim = new Sim(makeTown());
    sim.world.addConvoy(
      convoy("c", [
        { name: "a" },
        { name: "b", dependsOn: ["a"] },
        { name: "c", dependsOn: ["a"] },
        { name: "d", dependsOn: ["b", "c"] },
      ]),
    );
    sim.runUntil(() => sim.convoyPhase("c") === "Landed");
    expect(sim.violations).toEqual([]);
    const landings = sim.world.beads.filter((b) => b.spec.source?.kind === "Convoy");
    expect(landings.map((b) => [b.metadata.name, b.status?.phase])).toEqual([["c-landing-1", "Closed"]]);
  });

  it("ReviewAndMerge: lands when all tasks merged", () => {
    const sim = new Sim(makeTown());
    sim.world.addConvoy(convoy("m", [{ name: "a" }, { name: "b", dependsOn: ["a"] }], { mergeMode: "ReviewAndMerge" }));
    sim.runUntil(() => sim.convoyPhase("m") === "Landed");
    expect(sim.violations).toEqual([]);
  });
});
