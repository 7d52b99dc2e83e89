// Core benchmark: plan() time for towns of 1k, 10k and 100k beads, for a plan that changes
// nothing (the steady state every watch event replans) and for a plan after 1% of the beads
// changed. Printed as time per bead, with the ratio to the 1k no-change baseline of the same run:
// a ratio near 1 everywhere means plan time grows linearly with the town.
import { API_VERSION } from "../src/api/meta.ts";
import { TownSpecSchema } from "../src/api/town.ts";
import { plan } from "../src/core/plan.ts";
import { World } from "../test/support/world.ts";

const T0 = Date.parse("2026-01-01T00:00:00Z");
const RIGS = 10;

function town() {
  return {
    apiVersion: API_VERSION,
    kind: "Town" as const,
    metadata: { name: "bench", namespace: "default", uid: "u", generation: 1 },
    spec: TownSpecSchema.parse({
      rigs: Array.from({ length: RIGS }, (_, i) => ({ name: `r${i}`, repo: `file:///r${i}.git` })),
      limits: { maxPolecatsPerRig: 20 },
    }),
  };
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * A steady town of `n` beads: 70% finished (issue + merged MR pairs), the rest open — half of those
 * blocked behind another open bead, the others dispatched up to the polecat limits or waiting
 * for capacity — with every running session heartbeating.
 */
function steadyTown(n: number): World {
  const w = new World(town(), T0);
  const closedPairs = Math.floor((n * 0.7) / 2);
  const closed = (extra: Record<string, unknown>) => ({
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
  });
  for (let i = 0; i < closedPairs; i++) {
    const rig = `r${i % RIGS}`;
    const base = {
      town: "bench",
      rig,
      title: `done ${i}`,
      description: "",
      priority: 2,
      labels: [],
      dependsOn: [],
      cancel: false,
    };
    w.addBead({ metadata: { name: `done-${i}` }, spec: { ...base, type: "Issue" } });
    w.addBead({
      metadata: { name: `done-${i}-mr-1` },
      spec: {
        ...base,
        type: "MergeRequest",
        source: { kind: "Bead", name: `done-${i}` },
        branch: `gt/${rig}/done-${i}`,
        targetBranch: "main",
      },
    });
  }
  const open = n - 2 * closedPairs;
  for (let i = 0; i < open; i++) {
    const blocked = i % 2 === 1;
    w.addBead({
      metadata: { name: `open-${i}` },
      spec: {
        town: "bench",
        rig: `r${i % RIGS}`,
        type: "Issue",
        title: `open ${i}`,
        description: "",
        priority: i % 5,
        labels: [],
        dependsOn: blocked ? [`open-${i - 1}`] : [],
        cancel: false,
      },
    });
  }
  // Closed status is written directly (the world's apply path would take minutes at 100k).
  const snap = w.snapshot();
  const actions = [];
  for (const b of snap.beads.values()) {
    if (!b.name.startsWith("done-")) continue;
    const extra = b.spec.type === "MergeRequest" ? {} : { mergedBy: `${b.name}-mr-1` };
    actions.push({
      type: "UpdateBeadStatus" as const,
      name: b.name,
      resourceVersion: b.resourceVersion,
      status: closed(extra),
      events: [],
    });
  }
  w.apply(actions);
  for (let round = 0; round < 10; round++) {
    const p = plan(w.snapshot(), w.now);
    if (p.actions.length === 0) return w;
    w.apply(p.actions);
    for (const s of w.sessions) {
      w.setSession({ ...s, phase: "Running", started: w.now });
      w.setLease({ agent: s.agent, renewTime: w.now, activityTime: w.now, activeTools: 1, session: s.session });
    }
  }
  throw new Error("the benchmark town did not reach a steady state");
}

function measure(fn: () => void, minMs = 300): number {
  fn(); // warm-up
  const samples: number[] = [];
  const start = performance.now();
  while (performance.now() - start < minMs || samples.length < 5) {
    const t = performance.now();
    fn();
    samples.push(performance.now() - t);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)] as number;
}

export interface CoreResult {
  beads: number;
  kind: "no-change" | "1%-change";
  planMs: number;
  usPerBead: number;
  actions: number;
  snapshotMs: number;
}

export function benchCore(sizes = [1_000, 10_000, 100_000]): CoreResult[] {
  const results: CoreResult[] = [];
  for (const n of sizes) {
    const w = steadyTown(n);
    const snap = w.snapshot();
    const quiet = plan(snap, w.now);
    if (quiet.actions.length !== 0)
      throw new Error(`steady town of ${n} beads still plans ${quiet.actions.length} actions`);
    const snapshotMs = measure(() => w.snapshot());
    const noChange = measure(() => plan(snap, w.now));
    results.push({
      beads: n,
      kind: "no-change",
      planMs: noChange,
      usPerBead: (noChange * 1000) / n,
      actions: 0,
      snapshotMs,
    });
    // 1% of the beads change: users cancel open ones.
    const open = w.beads.filter((b) => b.metadata.name.startsWith("open-"));
    for (const b of open.slice(0, Math.ceil(n / 100))) w.editBeadSpec(b.metadata.name, { cancel: true });
    const changed = w.snapshot();
    const changedPlan = plan(changed, w.now);
    const oneMs = measure(() => plan(changed, w.now));
    results.push({
      beads: n,
      kind: "1%-change",
      planMs: oneMs,
      usPerBead: (oneMs * 1000) / n,
      actions: changedPlan.actions.length,
      snapshotMs: measure(() => w.snapshot()),
    });
  }
  return results;
}

export function printCore(results: CoreResult[]): void {
  const base = results.find((r) => r.kind === "no-change")?.usPerBead ?? 1;
  console.log("core: plan(snapshot, now) — median of repeated runs; ratio = µs/bead vs the first no-change row");
  console.log("beads      plan        µs/bead  ratio  actions  snapshot build");
  for (const r of results) {
    console.log(
      `${String(r.beads).padEnd(8)} ${r.kind.padEnd(10)} ${r.planMs.toFixed(2).padStart(8)} ms ${r.usPerBead.toFixed(3).padStart(7)} ${(r.usPerBead / base).toFixed(2).padStart(6)} ${String(r.actions).padStart(8)}  ${r.snapshotMs.toFixed(1).padStart(7)} ms`,
    );
  }
  const tenK = results.find((r) => r.beads === 10_000 && r.kind === "no-change");
  if (tenK)
    console.log(
      `target: 10k beads under 10 ms -> ${tenK.planMs.toFixed(2)} ms (${tenK.planMs < 10 ? "met" : "MISSED"})`,
    );
}
