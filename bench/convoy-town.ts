// The town of issue 12's live plan time, in memory: convoys of 100 beads over 5 rigs, most of them
// staged behind a dependency graph, a fifth landed, a tenth at work — one polecat per task of the
// working convoys (1k polecats at 100 convoys), each session Running and heartbeating with usage.
// Built through the world (plans applied, as the operator would), so its statuses are the rules'.
import { API_VERSION } from "../src/api/meta.ts";
import { TownSpecSchema } from "../src/api/town.ts";
import { plan } from "../src/core/plan.ts";
import type { Snapshot } from "../src/core/snapshot.ts";
import { World } from "../test/support/world.ts";
import { seededDag } from "./convoy-dag.ts";

const T0 = Date.parse("2026-01-01T00:00:00Z");
const RIGS = 5;
const TASKS = 100;
const iso = (ms: number) => new Date(ms).toISOString();

export interface ConvoyTown {
  world: World;
  /** The plan right after the working convoys were unstaged: every one of their tasks dispatched. */
  burst: Snapshot;
  beads: number;
  agents: number;
  phases: Record<string, number>;
}

function town(convoys: number) {
  return {
    apiVersion: API_VERSION,
    kind: "Town" as const,
    metadata: { name: "bench", namespace: "default", uid: "u", generation: 1 },
    spec: TownSpecSchema.parse({
      rigs: Array.from({ length: RIGS }, (_, i) => ({ name: `r${i}`, repo: `file:///r${i}.git` })),
      // Room for every task of the working convoys: a tenth of the convoys, 100 tasks each.
      limits: { maxPolecatsPerRig: Math.max(1, convoys / 10) * (TASKS / RIGS) },
      timeouts: { heartbeatTimeout: "2h", startupGrace: "2h", guppWarn: "3h", guppEscalate: "4h", guppForceStop: "5h" },
    }),
  };
}

function settle(w: World): void {
  for (let round = 0; round < 10; round++) {
    const p = plan(w.snapshot(), w.now);
    if (p.actions.length === 0) return;
    w.apply(p.actions);
    for (const s of w.sessions) {
      if (s.phase === "Running") continue;
      w.setSession({ ...s, phase: "Running", started: w.now });
      w.setLease({
        agent: s.agent,
        renewTime: w.now,
        activityTime: w.now,
        activeTools: 1,
        session: s.session,
        usage: { inputTokens: 1000, outputTokens: 200, cacheReadTokens: 0, cacheWriteTokens: 0, costUSD: 0.01 },
      });
    }
  }
  throw new Error("the benchmark town did not reach a steady state");
}

/** `convoys` convoys of 100 beads each: 70% staged, 20% landed (50 tasks + their 50 merge requests), 10% working. */
export function convoyTown(convoys: number): ConvoyTown {
  const w = new World(town(convoys), T0);
  const working = Math.max(1, Math.round(convoys / 10));
  const landed = Math.round(convoys / 5);
  const kind = (c: number) => (c < working ? "working" : c < working + landed ? "landed" : "staged");
  for (let c = 0; c < convoys; c++) {
    const k = kind(c);
    const tasks =
      k === "staged"
        ? seededDag(c, TASKS, 5, RIGS)
        : Array.from({ length: k === "landed" ? TASKS / 2 : TASKS }, (_, i) => ({
            name: `t${String(i).padStart(3, "0")}`,
            rig: `r${i % RIGS}`,
            dependsOn: [],
          }));
    w.addConvoy({
      metadata: { name: `c${c}` },
      spec: {
        town: "bench",
        title: `convoy c${c}`,
        mergeMode: "ReviewAndMerge",
        staged: k !== "landed",
        tasks: tasks.map((t) => ({ ...t, title: `task ${t.name}`, description: "", priority: 2 })),
      },
    } as Parameters<World["addConvoy"]>[0]);
  }
  // The landed convoys' work is merged: each task Closed by its merge request, both written as
  // beads of the convoy before the first plan (rather than running a refinery per task).
  for (const c of w.convoys) {
    if (kind(Number(c.metadata.name.slice(1))) !== "landed") continue;
    const convoy = c.metadata.name;
    const ownerReferences = [
      { apiVersion: API_VERSION, kind: "Convoy", name: convoy, uid: c.metadata.uid ?? "", blockOwnerDeletion: true },
    ];
    for (const t of c.spec.tasks) {
      const name = `${convoy}-${t.name}`;
      const base = {
        town: "bench",
        rig: t.rig,
        title: t.title,
        description: "",
        priority: 2,
        labels: [],
        cancel: false,
        convoy,
      };
      w.addBead({
        metadata: { name, ownerReferences },
        spec: { ...base, type: "Issue", dependsOn: [] },
        status: closedStatus({ mergedBy: `${name}-mr-1` }),
      });
      w.addBead({
        metadata: { name: `${name}-mr-1`, ownerReferences },
        spec: {
          ...base,
          type: "MergeRequest",
          dependsOn: [],
          source: { kind: "Bead", name },
          branch: `gt/${t.rig}/${name}`,
          targetBranch: "main",
        },
        status: closedStatus({}),
      });
    }
  }
  settle(w); // every other task is a bead now; the landed convoys land
  for (let c = 0; c < working; c++) w.editConvoySpec(`c${c}`, { staged: false });
  const burst = w.snapshot();
  settle(w); // dispatch, sessions Running, their usage recorded
  const steady = w.snapshot();
  const phases: Record<string, number> = {};
  for (const b of steady.beads.values()) phases[b.state.phase] = (phases[b.state.phase] ?? 0) + 1;
  return { world: w, burst, beads: steady.beads.size, agents: steady.agents.size, phases };
}

/** A bead status Closed by its merge request at T0: the landed part of a benchmark town. */
export function closedStatus(extra: Record<string, unknown>) {
  return {
    phase: "Closed" as const,
    lastPhaseTransitionTime: iso(T0),
    resolution: "Merged" as const,
    observedGeneration: 1,
    conditions: [
      {
        type: "Ready",
        status: "True" as const,
        reason: "Merged",
        message: "merged",
        lastTransitionTime: iso(T0),
        observedGeneration: 1,
      },
    ],
    ...extra,
  };
}
