// What the simulation generates: towns (rigs, limits, convoys with random dependency DAGs, tasks
// whose reviews are cursed to fail or be sent back forever), and chaos — misbehaving agents,
// controller crashes between writes, plans from stale views, and people editing the town while it
// runs (cancelling issues and convoys, adding and removing tasks, deleting convoys, retrying).
import fc from "fast-check";
import type { Behaviour } from "./harness.ts";

/** What a task's reviews do for as long as it is cursed: always fail, or always ask for rework. */
export type Curse = "none" | "failReview" | "rework";

export interface TownPlan {
  rigs: { name: string; pr: boolean }[];
  maxPolecatsPerRig: number;
  maxDispatchAttempts: number;
  maxReviewCycles: number;
  maxHandoffs: number;
  maxFailedSessions: number;
  convoys: {
    name: string;
    mode: "ReviewThenLand" | "ReviewAndMerge";
    rig: number;
    tasks: { deps: number[]; rig: number; curse: Curse }[];
  }[];
}

export const townPlan: fc.Arbitrary<TownPlan> = fc
  .record({
    rigCount: fc.integer({ min: 1, max: 3 }),
    prRigs: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
    maxPolecatsPerRig: fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 6 })),
    maxDispatchAttempts: fc.integer({ min: 2, max: 5 }),
    maxReviewCycles: fc.integer({ min: 1, max: 5 }),
    maxHandoffs: fc.integer({ min: 0, max: 3 }),
    // Mostly out of reach, sometimes low enough that chaos opens the circuit breaker.
    maxFailedSessions: fc.oneof(fc.constant(20), fc.integer({ min: 3, max: 8 })),
    convoys: fc.array(
      fc.record({
        mode: fc.constantFrom("ReviewThenLand" as const, "ReviewAndMerge" as const),
        rig: fc.nat(),
        tasks: fc.array(
          fc.record({
            deps: fc.uniqueArray(fc.nat(), { maxLength: 3 }),
            rig: fc.nat(),
            curse: fc.constantFrom<Curse>("none", "none", "none", "none", "none", "failReview", "rework"),
          }),
          { minLength: 1, maxLength: 12 },
        ),
      }),
      { minLength: 1, maxLength: 3 },
    ),
  })
  .map((p) => ({
    rigs: Array.from({ length: p.rigCount }, (_, i) => ({ name: `r${i}`, pr: p.prRigs[i] ?? false })),
    maxPolecatsPerRig: p.maxPolecatsPerRig,
    maxDispatchAttempts: p.maxDispatchAttempts,
    maxReviewCycles: p.maxReviewCycles,
    maxHandoffs: p.maxHandoffs,
    maxFailedSessions: p.maxFailedSessions,
    convoys: p.convoys.map((c, i) => ({
      name: `c${i}`,
      mode: c.mode,
      rig: c.rig % p.rigCount,
      // Only earlier tasks can be dependencies, so the graph is a DAG.
      tasks: c.tasks.map((t, j) => ({
        deps: j === 0 ? [] : [...new Set(t.deps.map((x) => x % j))],
        rig: t.rig % p.rigCount,
        curse: t.curse,
      })),
    })),
  }));

export const chaosBehaviour = fc.constantFrom<Behaviour["kind"]>(
  "done",
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
  "handoff",
  "checkpoint",
  "bogusSession",
  "stuckTerminating",
  "configError",
  "imagePull",
);

export type UserAction =
  | { kind: "none" }
  | { kind: "cancelBead" | "cancelConvoy" | "addTask" | "removeTask" | "deleteConvoy" | "retry"; pick: number };

const userAction: fc.Arbitrary<UserAction> = fc.oneof(
  { weight: 30, arbitrary: fc.constant({ kind: "none" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constantFrom(
        "cancelBead" as const,
        "cancelConvoy" as const,
        "addTask" as const,
        "addTask" as const,
        "removeTask" as const,
        "deleteConvoy" as const,
        "retry" as const,
        "retry" as const,
      ),
      pick: fc.nat(),
    }),
  },
);

export interface Chaos {
  behaviours: Behaviour["kind"][];
  crashes: boolean[];
  stale: boolean[];
  advances: number[];
  prOutcomes: ("merge" | "close" | "error")[];
  users: UserAction[];
}

export const chaos: fc.Arbitrary<Chaos> = fc.record({
  behaviours: fc.array(chaosBehaviour, { minLength: 50, maxLength: 200 }),
  crashes: fc.array(fc.boolean(), { minLength: 50, maxLength: 150 }),
  stale: fc.array(fc.boolean(), { minLength: 50, maxLength: 150 }),
  advances: fc.array(fc.integer({ min: 5, max: 150 }), { minLength: 50, maxLength: 150 }),
  prOutcomes: fc.array(fc.constantFrom("merge" as const, "merge" as const, "close" as const, "error" as const), {
    minLength: 10,
    maxLength: 50,
  }),
  users: fc.array(userAction, { minLength: 50, maxLength: 150 }),
});
