// Memory and live plan time of the operator process as deployed (the Dockerfile's node flags, the
// Deployment's arguments and memory limit), and what materialising beads costs as a town grows.
//
// One town, 5 rigs. Staged convoys of 100 tasks are added until the town holds 100, 1k and then
// 10k beads (nothing is dispatched: staged); then 10 of the convoys are unstaged, so 1k polecats
// with their identities and session pods exist (no agent runs in them: the timeouts are long).
// At every step: RSS (VmRSS from /proc once the operator has gone quiet), the operator's API
// writes (apiserver_request_total, attributed by resource as in writes.ts) and the wall time from
// the convoys' creation to the last bead's first status. Live plan time is read from the
// operator's own metrics over reconciles that change nothing (annotation-only edits of the Town):
// gastown_plan_duration_seconds and controller_runtime_reconcile_time_seconds, next to the pure
// plan() of bench/core.ts for a town of the same size, measured in this process in the same run.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import type { KubeHttp } from "../src/kube/http.ts";
import { FAST_TIMEOUTS } from "../test/support/manifests.ts";
import { benchConvoyTowns } from "./core.ts";
import {
  benchCluster,
  createNamespace,
  delay,
  f1,
  inParallel,
  metricSum,
  type OperatorChild,
  persist,
  ROOT,
  spawnOperator,
  until,
} from "./kit.ts";
import { diff, inScope, ownerByResource, scrapeApiserverWrites, sum } from "./writes.ts";

const NS = "gastown-memory";
const GT = `/apis/gastown.dev/v1alpha1/namespaces/${NS}`;
const RIGS = 5;
const TASKS = 100;

export interface MemoryStep {
  label: string;
  beads: number;
  agents: number;
  rssMiB: number;
  /** Operator writes and wall time of the step (from creating its convoys to their beads' first status). */
  writes: number;
  seconds: number;
}

export interface MemoryResult {
  command: string;
  limitMiB: number;
  steps: MemoryStep[];
  peakMiB: number;
  live: { beads: number; reconciles: number; reconcileMs: number; planMs: number; snapshotMs?: number };
  pureMs: number;
  pureSnapshotMs: number;
}

function deploymentLimitMiB(): number {
  const d = parse(readFileSync(join(ROOT, "manifests", "base", "deployment.yaml"), "utf8")) as {
    spec: { template: { spec: { containers: { resources?: { limits?: { memory?: string } } }[] } } };
  };
  const m = d.spec.template.spec.containers[0]?.resources?.limits?.memory ?? "";
  const v = /^(\d+)(Mi|Gi)$/.exec(m);
  if (!v) throw new Error(`cannot read the Deployment's memory limit (${m})`);
  return Number(v[1]) * (v[2] === "Gi" ? 1024 : 1);
}

async function operatorWrites(kubeconfigPath: string) {
  const { counts } = await scrapeApiserverWrites(kubeconfigPath);
  return counts;
}

/** Writes the operator made between two scrapes (attributed by resource; Scheduled events excluded). */
function attributed(after: Map<string, number>, before: Map<string, number>, benchWrites: number): number {
  const d = diff(after, before);
  const bindings = d.get("core/pods/binding POST") ?? 0;
  const operator = sum(
    d,
    (k) => inScope(k) && (ownerByResource(k) === "operator" || ownerByResource(k).startsWith("operator")),
  );
  return operator - bindings - benchWrites;
}

async function beadsWithStatus(http: KubeHttp): Promise<number> {
  const list = await http.json<{ items: { status?: { phase?: string } }[] }>({ method: "GET", path: `${GT}/beads` });
  return list.items.filter((b) => b.status?.phase !== undefined).length;
}

/** Resolves once the operator has made no reconcile for `quietMs`. */
async function quiet(op: OperatorChild, quietMs = 3000, maxMs = 300_000): Promise<void> {
  const start = performance.now();
  let last = metricSum(await op.metrics(), "controller_runtime_reconcile_total");
  let since = performance.now();
  while (performance.now() - since < quietMs && performance.now() - start < maxMs) {
    await delay(250);
    const now = metricSum(await op.metrics(), "controller_runtime_reconcile_total");
    if (now !== last) {
      last = now;
      since = performance.now();
    }
  }
}

function convoy(name: string, staged: boolean) {
  return {
    apiVersion: "gastown.dev/v1alpha1",
    kind: "Convoy",
    metadata: { name },
    spec: {
      town: "gt",
      title: `convoy ${name}`,
      mergeMode: "ReviewAndMerge",
      staged,
      tasks: Array.from({ length: TASKS }, (_, i) => ({
        name: `t${i}`,
        title: `task ${i} of ${name}`,
        description: "A task the memory benchmark never runs; it only has to be held.",
        rig: `r${i % RIGS}`,
        dependsOn: [],
      })),
    },
  };
}

export async function benchMemory(opts: { log?: (l: string) => void } = {}): Promise<MemoryResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`bench memory: ${l}\n`));
  const cluster = await benchCluster();
  let op: OperatorChild | undefined;
  try {
    const http = cluster.http;
    await createNamespace(http, NS);
    op = await spawnOperator({ kubeconfigPath: cluster.kubeconfigPath, namespace: NS, name: "memory" });
    log(`operator: ${op.command}`);
    await http.json({
      method: "POST",
      path: `${GT}/towns`,
      body: {
        apiVersion: "gastown.dev/v1alpha1",
        kind: "Town",
        metadata: { name: "gt" },
        spec: {
          rigs: Array.from({ length: RIGS }, (_, i) => ({ name: `r${i}`, repo: `https://git.example.com/r${i}.git` })),
          agents: { image: "ghcr.io/gastown-operator/agent:test" },
          limits: { maxPolecatsPerRig: 200 },
          timeouts: {
            ...FAST_TIMEOUTS,
            heartbeatTimeout: "2h",
            startupGrace: "2h",
            guppWarn: "3h",
            guppEscalate: "4h",
            guppForceStop: "5h",
          },
        },
      },
    });
    await quiet(op);
    const steps: MemoryStep[] = [
      { label: "idle (town only)", beads: 0, agents: 0, rssMiB: op.rssMiB(), writes: 0, seconds: 0 },
    ];
    log(`idle: ${f1(op.rssMiB())} MiB`);
    let convoys = 0;
    for (const target of [1, 10, 100]) {
      const names = Array.from({ length: target - convoys }, (_, i) => `c${convoys + i}`);
      const before = await operatorWrites(cluster.kubeconfigPath);
      const t0 = performance.now();
      await inParallel(names, 4, (name) =>
        persist(http, { method: "POST", path: `${GT}/convoys`, body: convoy(name, true) }),
      );
      convoys = target;
      await until(
        `${target * TASKS} beads with their first status`,
        async () => ((await beadsWithStatus(http)) >= target * TASKS ? true : undefined),
        Number(process.env.GASTOWN_BENCH_TIMEOUT_S ?? 7200) * 1000,
        1000,
      );
      const seconds = (performance.now() - t0) / 1000;
      await quiet(op);
      // The bench's convoy creates are attributed to users already (writes.ts).
      const writes = attributed(await operatorWrites(cluster.kubeconfigPath), before, 0);
      steps.push({
        label: `${target} staged convoy(s)`,
        beads: target * TASKS,
        agents: 0,
        rssMiB: op.rssMiB(),
        writes,
        seconds,
      });
      log(`${target * TASKS} beads: ${f1(op.rssMiB())} MiB, ${writes} writes, ${f1(seconds)} s`);
    }
    // 1k polecats with their pods: unstage 10 convoys.
    const before = await operatorWrites(cluster.kubeconfigPath);
    const t0 = performance.now();
    const active = Array.from({ length: 10 }, (_, i) => `c${i}`);
    await inParallel(active, 4, (name) =>
      http.json({
        method: "PATCH",
        path: `${GT}/convoys/${name}`,
        contentType: "application/merge-patch+json",
        body: { spec: { staged: false } },
      }),
    );
    await until(
      "1000 session pods Running",
      async () => {
        const pods = await http.json<{ items: { status?: { phase?: string } }[] }>({
          method: "GET",
          path: `/api/v1/namespaces/${NS}/pods`,
        });
        return pods.items.filter((p) => p.status?.phase === "Running").length >= 1000 ? true : undefined;
      },
      Number(process.env.GASTOWN_BENCH_TIMEOUT_S ?? 7200) * 1000,
      1000,
    );
    const seconds = (performance.now() - t0) / 1000;
    await quiet(op);
    // Minus the bench's own convoy patches, which look like the operator's by resource.
    const writes = attributed(await operatorWrites(cluster.kubeconfigPath), before, active.length);
    steps.push({
      label: "+ 1k polecats and pods",
      beads: convoys * TASKS,
      agents: 1000,
      rssMiB: op.rssMiB(),
      writes,
      seconds,
    });
    log(`10k beads + 1k agents: ${f1(op.rssMiB())} MiB, ${writes} writes, ${f1(seconds)} s`);

    // Live plan time: reconciles that change nothing.
    const m0 = await op.metrics();
    const pokes = 20;
    for (let i = 0; i < pokes; i++) {
      await http.json({
        method: "PATCH",
        path: `${GT}/towns/gt`,
        contentType: "application/merge-patch+json",
        body: { metadata: { annotations: { "bench.gastown.dev/poke": String(i) } } },
      });
      await delay(500);
    }
    await quiet(op);
    const m1 = await op.metrics();
    const d = (name: string) => metricSum(m1, name) - metricSum(m0, name);
    const reconciles = d("controller_runtime_reconcile_time_seconds_count");
    const snapshotCount = d("gastown_snapshot_duration_seconds_count");
    const live = {
      beads: convoys * TASKS,
      reconciles,
      reconcileMs: (1000 * d("controller_runtime_reconcile_time_seconds_sum")) / reconciles,
      planMs: (1000 * d("gastown_plan_duration_seconds_sum")) / d("gastown_plan_duration_seconds_count"),
      ...(snapshotCount > 0 ? { snapshotMs: (1000 * d("gastown_snapshot_duration_seconds_sum")) / snapshotCount } : {}),
    };
    steps.push({
      label: "after the no-op reconciles",
      beads: convoys * TASKS,
      agents: 1000,
      rssMiB: op.rssMiB(),
      writes: 0,
      seconds: 0,
    });
    // The pure baseline is a town like this one (bench/convoy-town.ts: 100 convoys of 100 tasks,
    // 1k polecats at work; most convoys staged), not bench/core.ts's mostly closed steady town,
    // whose plan reads a third as many active beads.
    const pure = benchConvoyTowns([100])[0];
    return {
      command: op.command,
      limitMiB: deploymentLimitMiB(),
      steps,
      peakMiB: op.peakMiB(),
      live,
      pureMs: pure?.planMs ?? Number.NaN,
      pureSnapshotMs: pure?.snapshotMs ?? Number.NaN,
    };
  } finally {
    await op?.stop();
    await cluster.stop();
  }
}

export function printMemory(r: MemoryResult): void {
  console.log(
    "memory: the operator process as deployed, one town of 5 rigs, staged convoys of 100 tasks, then 1k polecats",
  );
  console.log(`  ${r.command}`);
  const idle = r.steps[0]?.rssMiB ?? Number.NaN;
  console.log("  step                          beads  agents   RSS MiB  x idle   writes  writes/bead  wall s");
  for (const s of r.steps) {
    const added = s.beads - (r.steps[r.steps.indexOf(s) - 1]?.beads ?? 0);
    const per = added > 0 && s.writes > 0 ? (s.writes / added).toFixed(2) : "";
    console.log(
      `  ${s.label.padEnd(29)} ${String(s.beads).padStart(6)} ${String(s.agents).padStart(7)} ${f1(s.rssMiB).padStart(9)} ${(s.rssMiB / idle).toFixed(2).padStart(7)} ${String(s.writes || "").padStart(8)} ${per.padStart(12)} ${s.seconds ? f1(s.seconds).padStart(7) : ""}`,
    );
  }
  console.log(
    `  peak RSS (VmHWM) ${f1(r.peakMiB)} MiB; Deployment memory limit ${r.limitMiB} MiB; target <= 200 MiB at 10k beads + 1k agents`,
  );
  const l = r.live;
  console.log(
    `live plan time at ${l.beads} beads over ${l.reconciles} no-op reconciles: reconcile ${f1(l.reconcileMs)} ms, plan ${l.planMs.toFixed(2)} ms` +
      `${l.snapshotMs !== undefined ? `, snapshot + validation ${l.snapshotMs.toFixed(2)} ms` : ""}; pure plan() of a 10k-bead town with 1k polecats (bench/convoy-town.ts) in the bench process ${r.pureMs.toFixed(2)} ms, snapshotFromViews ${r.pureSnapshotMs.toFixed(2)} ms (target: live plan < 10 ms)`,
  );
}
