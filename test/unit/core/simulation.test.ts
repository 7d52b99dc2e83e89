// Property-based simulation of whole towns: random rigs, limits, convoys with random dependency
// DAGs, random agent misbehaviour, controller crashes between any two writes, and plans made from
// stale views. A crash kills the controller between two writes; it restarts and plans again from a
// fresh list before the clock moves, as a real restart does. The safety invariants (everything but
// 2 and 4, which are about a live controller noticing things in time) must hold even at the crash
// point; all of them hold after every step; once agents behave, every convoy lands or fails within a
// bounded number of steps. A failure prints fast-check's seed and path; replay
// with GASTOWN_SIM_SEED=<seed> GASTOWN_SIM_PATH=<path>.
import fc from "fast-check";
import { describe, it } from "vitest";
import { checkInvariants } from "../../../src/core/invariants.ts";
import type { Snapshot } from "../../../src/core/snapshot.ts";
import { type Behaviour, convoy, MIN, makeTown, SEC, Sim } from "./harness.ts";

interface TownPlan {
  rigs: { name: string; pr: boolean }[];
  maxPolecatsPerRig: number;
  convoys: {
    name: string;
    mode: "ReviewThenLand" | "ReviewAndMerge";
    rig: number;
    tasks: { deps: number[]; rig: number }[];
  }[];
}

const townPlan: fc.Arbitrary<TownPlan> = fc
  .record({
    rigCount: fc.integer({ min: 1, max: 3 }),
    prRigs: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
    maxPolecatsPerRig: fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 6 })),
    convoys: fc.array(
      fc.record({
        mode: fc.constantFrom("ReviewThenLand" as const, "ReviewAndMerge" as const),
        rig: fc.nat(),
        tasks: fc.array(fc.record({ deps: fc.uniqueArray(fc.nat(), { maxLength: 3 }), rig: fc.nat() }), {
          minLength: 1,
          maxLength: 20,
        }),
      }),
      { minLength: 1, maxLength: 3 },
    ),
  })
  .map(({ rigCount, prRigs, maxPolecatsPerRig, convoys }) => ({
    rigs: Array.from({ length: rigCount }, (_, i) => ({ name: `r${i}`, pr: prRigs[i] ?? false })),
    maxPolecatsPerRig,
    convoys: convoys.map((c, i) => ({
      name: `c${i}`,
      mode: c.mode,
      rig: c.rig % rigCount,
      // Only earlier tasks can be dependencies, so the graph is a DAG.
      tasks: c.tasks.map((t, j) => ({
        deps: j === 0 ? [] : [...new Set(t.deps.map((x) => x % j))],
        rig: t.rig % rigCount,
      })),
    })),
  }));

const chaosBehaviour = fc.constantFrom<Behaviour["kind"]>(
  "done",
  "done",
  "done",
  "crash",
  "exit0",
  "hang",
  "silent",
  "requestChanges",
  "reviewFailed",
  "wrongBead",
);

interface Chaos {
  behaviours: Behaviour["kind"][];
  crashes: boolean[];
  stale: boolean[];
  advances: number[];
  prOutcomes: ("merge" | "close" | "error")[];
}

const chaos: fc.Arbitrary<Chaos> = fc.record({
  behaviours: fc.array(chaosBehaviour, { minLength: 50, maxLength: 200 }),
  crashes: fc.array(fc.boolean(), { minLength: 50, maxLength: 200 }),
  stale: fc.array(fc.boolean(), { minLength: 50, maxLength: 200 }),
  advances: fc.array(fc.integer({ min: 5, max: 150 }), { minLength: 50, maxLength: 200 }),
  prOutcomes: fc.array(fc.constantFrom("merge" as const, "merge" as const, "close" as const, "error" as const), {
    minLength: 10,
    maxLength: 50,
  }),
});

function build(p: TownPlan): Sim {
  const town = makeTown({
    rigs: p.rigs.map((r) =>
      r.pr
        ? {
            name: r.name,
            mergeStrategy: "PullRequest",
            forge: { provider: "GitHub", apiURL: "https://api.forge.example" },
          }
        : { name: r.name },
    ),
    spec: { limits: { maxPolecatsPerRig: p.maxPolecatsPerRig } },
  });
  const sim = new Sim(town);
  for (const c of p.convoys) {
    sim.world.addConvoy(
      convoy(
        c.name,
        c.tasks.map((t, j) => ({
          name: `t${j}`,
          rig: `r${c.mode === "ReviewThenLand" ? c.rig : t.rig}`,
          dependsOn: t.deps.map((d) => `t${d}`),
        })),
        { mergeMode: c.mode },
      ),
    );
  }
  return sim;
}

const prRig = (sim: Sim, bead: string | undefined) => {
  const rig = sim.world.beads.find((b) => b.metadata.name === bead)?.spec.rig;
  return sim.world.town.spec.rigs.find((r) => r.name === rig)?.mergeStrategy === "PullRequest";
};

function run(p: TownPlan, c: Chaos): void {
  const sim = build(p);
  let pick = 0;
  let prPick = 0;
  let chaosOn = true;
  const polls = new Map<string, number>();
  sim.world.forge = (url) => {
    const n = (polls.get(url) ?? 0) + 1;
    polls.set(url, n);
    if (n < 2) return { state: "Open" };
    const outcome = chaosOn ? (c.prOutcomes[prPick++ % c.prOutcomes.length] ?? "merge") : "merge";
    if (outcome === "error") return new Error("forge unavailable");
    return outcome === "merge" ? { state: "Merged", mergeCommit: "def5678" } : { state: "Closed" };
  };
  sim.choose = (s, role) => {
    const pr = role === "Refinery" && prRig(sim, s.bead);
    if (!chaosOn) return { kind: pr ? "pullRequest" : "done" };
    let kind = c.behaviours[pick++ % c.behaviours.length] ?? "done";
    if (role === "Polecat" && (kind === "requestChanges" || kind === "reviewFailed")) kind = "done";
    if (pr && kind === "done") kind = "pullRequest";
    return { kind } as Behaviour;
  };
  const history: (() => Snapshot)[] = [];
  const chaosSteps = c.crashes.length;
  const fail = (where: string) => {
    throw new Error(
      `${where}\n${sim.violations.map((v) => `tick ${v.tick}: ${v.message}`).join("\n")}\n${sim.describe()}`,
    );
  };
  for (let i = 0; i < chaosSteps; i++) {
    history.push(sim.world.freeze());
    const stale = c.stale[i] && history.length > 2 ? history[history.length - 3] : undefined;
    const crashAt = c.crashes[i] ? (c.advances[i] ?? 1) % 7 : undefined;
    const result = sim.planAndApply({
      ...(stale ? { snapshotFrom: stale } : {}),
      ...(crashAt === undefined ? {} : { stopAfter: crashAt }),
    });
    const unsafe = checkInvariants(sim.world.snapshot(), sim.now).filter((v) => v.invariant !== 2 && v.invariant !== 4);
    if (unsafe.length > 0) {
      sim.violations.push(...unsafe.map((v) => ({ tick: sim.tick, message: v.message })));
      fail(`safety invariant violated at the crash point of step ${i}`);
    }
    if (stale || crashAt !== undefined || result.error) sim.planAndApply();
    sim.checkInvariants();
    if (sim.violations.length > 0) fail(`invariant violated during chaos at step ${i}`);
    sim.agentsAct();
    sim.world.now += (c.advances[i] ?? 30) * SEC;
    sim.tick++;
  }
  chaosOn = false;
  const landedOrFailed = () =>
    sim.world.convoys.every((cv) => cv.status?.phase === "Landed" || cv.status?.phase === "Failed");
  // Bound: generous but finite — every timeout and back-off step fits in it several times.
  for (let i = 0; i < 3000 && !landedOrFailed(); i++) {
    sim.step(1 * MIN);
    if (sim.violations.length > 0) fail(`invariant violated after agents behaved, step ${i}`);
  }
  if (!landedOrFailed()) fail("convoys did not land or fail once agents behaved");
  if (process.env.SIM_STATS)
    console.log("STAT", sim.world.convoys.map((cv) => cv.status?.phase).join(","), sim.world.beads.length, sim.tick);
}

describe("simulation", () => {
  it("keeps every invariant under crashes, stale views and misbehaving agents, and lands every convoy", () => {
    const seed = process.env.GASTOWN_SIM_SEED ? Number(process.env.GASTOWN_SIM_SEED) : undefined;
    const path = process.env.GASTOWN_SIM_PATH;
    fc.assert(fc.property(townPlan, chaos, run), {
      numRuns: Number(process.env.GASTOWN_SIM_RUNS ?? 100),
      ...(seed === undefined ? {} : { seed }),
      ...(path === undefined ? {} : { path }),
    });
  }, 120_000);
});
