// Operator benchmark, on a real local control plane (etcd, kube-apiserver, scheduler, kcm, kwok
// nodes) started for this run alone, so that the apiserver's counters hold nothing else:
//
// 1. API writes per closed bead. One convoy of 100 tasks (the schema's maximum) with a seeded
//    random layered DAG over 4 rigs, in ReviewAndMerge mode (every task's merge request merges on
//    its own; ReviewThenLand would force one rig, so one refinery reviewing 100 merge requests in
//    series), driven to Landed by the operator (in this process, pod runtime) and a simulated crew
//    acting with the agents' own ServiceAccount tokens. apiserver_request_total is scraped before
//    and after; mutating requests are attributed per resource/subresource/verb, and cross-checked
//    against exact per-client counts taken in this process (see writes.ts). Then a no-change
//    period: annotation-only edits make the operator replan a finished town, which must write
//    nothing.
// 2. Time from a bead becoming unblocked (its last dependency Closed, or its creation for a bead
//    without dependencies) to its first polecat pod being created, both as receive times of this
//    process's own watches, next to the baseline of the same run: a ConfigMap create to its watch
//    event.

import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { KubeConfig } from "@kubernetes/client-node";
import { kubectl, startLocalCluster } from "../hack/local-cluster.ts";
import type { Bead } from "../src/api/bead.ts";
import type { Convoy } from "../src/api/convoy.ts";
import { API_VERSION, parseDuration } from "../src/api/meta.ts";
import { createInformer, type Informer, type KubeObject } from "../src/controller/informer.ts";
import { createKubeHttp, type KubeHttp } from "../src/controller/kube-http.ts";
import { createKubeListWatch } from "../src/controller/list-watch.ts";
import { createLogger, type Logger, silentLogger } from "../src/controller/logger.ts";
import { type Operator, startOperator } from "../src/controller/operator.ts";
import { BEAD_ANNOTATION, LABELS } from "../src/controller/resources.ts";
import { createPodRuntime } from "../src/runtime/pod-runtime.ts";
import { FAST_TIMEOUTS } from "../test/support/agents.ts";
import { Crew } from "../test/support/crew.ts";
import {
  type Client,
  type ClientWriteCounter,
  type Counts,
  diff,
  inScope,
  installClientWriteCounter,
  ownerByResource,
  scrapeApiserverWrites,
  sum,
  TaggedKubeConfig,
} from "./writes.ts";

const ROOT = join(import.meta.dirname, "..");
const POLICY = join(ROOT, "manifests", "base", "admission-policy.yaml");
const NS = "gastown-bench";
const TOWN = "gt";
const CONVOY = "bench";
const SEED = 20260101;
const TASKS = 100; // ConvoySpec allows at most 100 tasks
const LAYERS = 5;
const RIGS = 4;
const MAX_POLECATS_PER_RIG = 100; // more than the tasks of any rig: dispatch never waits for a slot
const QUIET_MS = 5_000;

export interface Task {
  name: string;
  rig: string;
  dependsOn: string[];
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Layered fan-out: each task after the first layer needs 1–3 tasks of the layer before, sometimes one older. */
export function seededDag(seed = SEED, tasks = TASKS, layers = LAYERS, rigs = RIGS): Task[] {
  const rand = mulberry32(seed);
  const perLayer = Math.ceil(tasks / layers);
  const out: Task[] = [];
  for (let i = 0; i < tasks; i++) {
    const layer = Math.floor(i / perLayer);
    const deps = new Set<string>();
    if (layer > 0) {
      const prev = out.slice((layer - 1) * perLayer, layer * perLayer);
      const k = 1 + Math.floor(rand() * 3);
      while (deps.size < Math.min(k, prev.length)) deps.add((prev[Math.floor(rand() * prev.length)] as Task).name);
      if (layer > 1 && rand() < 0.25) deps.add((out[Math.floor(rand() * (layer - 1) * perLayer)] as Task).name);
    }
    out.push({ name: `t${String(i).padStart(3, "0")}`, rig: `r${i % rigs}`, dependsOn: [...deps] });
  }
  return out;
}

function townManifest() {
  return {
    apiVersion: API_VERSION,
    kind: "Town",
    metadata: { name: TOWN, namespace: NS },
    spec: {
      rigs: Array.from({ length: RIGS }, (_, i) => ({
        name: `r${i}`,
        repo: `https://git.example.com/r${i}.git`,
        gates: ["true"],
      })),
      agents: { image: "ghcr.io/gastown-operator/agent:test" },
      limits: { maxPolecatsPerRig: MAX_POLECATS_PER_RIG },
      timeouts: FAST_TIMEOUTS,
    },
  };
}

function convoyManifest(tasks: Task[]) {
  return {
    apiVersion: API_VERSION,
    kind: "Convoy",
    metadata: { name: CONVOY, namespace: NS },
    spec: {
      town: TOWN,
      title: `benchmark convoy of ${tasks.length} tasks`,
      mergeMode: "ReviewAndMerge",
      tasks: tasks.map((t) => ({
        name: t.name,
        title: `task ${t.name}`,
        rig: t.rig,
        priority: 2,
        dependsOn: t.dependsOn,
      })),
    },
  };
}

// ---------------------------------------------------------------------------------------------

export interface Percentiles {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export function percentiles(samples: number[]): Percentiles {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number) => s[Math.max(0, Math.ceil(p * s.length) - 1)] ?? Number.NaN;
  return { n: s.length, p50: at(0.5), p99: at(0.99), max: s[s.length - 1] ?? Number.NaN };
}

export interface WriteRow {
  key: string;
  apiserver: number;
  owner: string;
  byClient: Record<Client, number>;
  outOfProcess: number;
}

export interface OperatorResult {
  tasks: number;
  layers: number;
  rigs: number;
  closedBeads: number;
  closedIssues: number;
  closedMergeRequests: number;
  convoySeconds: number;
  clusterSeconds: number;
  apiserverVerbs: string[];
  rows: WriteRow[];
  totals: {
    apiserver: number;
    bench: number;
    operator: number;
    agents: number;
    kubeletSim: number;
    outOfProcess: number;
  };
  operatorByResource: { sure: number; events: number; shared: number };
  outside: [string, number][];
  operatorOutside: number;
  operatorFailures: Counts;
  quiet: {
    ms: number;
    pokes: number;
    reconciles: number;
    actions: number;
    operatorWrites: number;
    operatorKeys: Counts;
    apiserverInScope: Counts;
  };
  latency: { all: Percentiles; roots: Percentiles; dependents: Percentiles; min: number };
  baseline: { idle: Percentiles; load: Percentiles };
  dispatch: {
    issues: number;
    polecatPods: number;
    maxPodsPerIssue: number;
    maxDispatchAttempts: number;
    mergeRequests: number;
    refineryPods: number;
    operatorDispatches: Record<string, number>;
    redispatched: string[];
  };
  eventLoop: { p99: number; max: number };
  /** Where the operator's time went during the convoy. */
  busy: {
    reconcileSeconds: number;
    reconciles: number;
    writeRoundTripMs: number;
    eventsDropped: Record<string, number>;
  };
  crewErrors: string[];
}

class Aborted extends Error {}

async function until<T>(
  description: string,
  check: () => T | undefined,
  timeoutMs: number,
  signal: AbortSignal,
  explain: () => string = () => "",
  intervalMs = 50,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (signal.aborted) throw new Aborted(`interrupted while waiting for ${description}`);
    const v = check();
    if (v !== undefined) return v;
    if (performance.now() > deadline) {
      const why = explain();
      throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${description}${why ? `: ${why}` : ""}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Rejects with a clear error when `p` takes longer than `ms`, or when `p` resolves false (an aborted wait). */
async function within<T>(what: string, p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const v = await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000}s waiting for ${what}`)), ms);
      }),
    ]);
    if (v === false) throw new Aborted(`interrupted while waiting for ${what}`);
    return v;
  } finally {
    clearTimeout(timer);
  }
}

async function withTimeout<T>(what: string, p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => {
          process.stderr.write(`bench: ${what} did not finish within ${ms / 1000}s; going on\n`);
          resolve(undefined);
        }, ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function counter(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).some(([k, v]) => !line.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

function watch(http: KubeHttp, group: string, version: string, plural: string, labelSelector?: string): Informer {
  return createInformer({
    name: `bench-${plural}`,
    listWatch: createKubeListWatch(http, {
      group,
      version,
      plural,
      namespace: NS,
      ...(labelSelector ? { labelSelector } : {}),
    }),
  });
}

const phaseOf = (o: KubeObject) => (o.status as { phase?: string } | undefined)?.phase;
const readyOf = (o: KubeObject | undefined) =>
  ((o?.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ?? []).some(
    (c) => c.type === "Ready" && c.status === "True",
  );

export async function benchOperator(
  opts: { log?: (line: string) => void; landedTimeoutMs?: number } = {},
): Promise<OperatorResult> {
  const log = opts.log ?? ((line: string) => process.stderr.write(`bench operator: ${line}\n`));
  const abort = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: stopping`);
    abort.abort();
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const { signal } = abort;
  const stops: { what: string; stop: () => Promise<unknown> }[] = [];
  const writes: ClientWriteCounter = installClientWriteCounter();
  stops.push({ what: "the https write counter", stop: async () => writes.uninstall() });
  const t0 = performance.now();
  const elapsed = () => `${((performance.now() - t0) / 1000).toFixed(1)}s`;

  try {
    // --- control plane, policy, namespace -----------------------------------------------------
    const verbose = process.env.GASTOWN_BENCH_VERBOSE ? log : undefined;
    const cluster = await startLocalCluster({ log: (line) => verbose?.(`cluster ${line}`) });
    stops.unshift({ what: "the local cluster", stop: () => cluster.stop() });
    const clusterSeconds = (performance.now() - t0) / 1000;
    log(`local control plane ready in ${clusterSeconds.toFixed(1)}s (CRDs installed by startLocalCluster)`);
    await kubectl(cluster.kubeconfigPath, ["apply", "--server-side", "--field-manager=gastown-bench", "-f", POLICY]);
    const admin = new KubeConfig();
    admin.loadFromFile(cluster.kubeconfigPath);
    const bench = createKubeHttp(TaggedKubeConfig.from(admin, "bench"));
    await bench.json({
      method: "POST",
      path: "/api/v1/namespaces",
      body: { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } },
    });

    // --- the bench's own watches: receive times on this process's clock ------------------------
    const beadSeen = new Map<string, number>();
    const beadClosed = new Map<string, number>();
    const podAdded = new Map<string, { at: number; bead: string; role: string }>();
    const firstPolecatPod = new Map<string, number>();
    const cmAdded = new Map<string, number>();
    const watchHttp = createKubeHttp(admin);
    const beads = watch(watchHttp, "gastown.dev", "v1alpha1", "beads");
    const pods = watch(watchHttp, "", "v1", "pods", `${LABELS.managedBy}=gastown-operator`);
    const convoys = watch(watchHttp, "gastown.dev", "v1alpha1", "convoys");
    const towns = watch(watchHttp, "gastown.dev", "v1alpha1", "towns");
    const configmaps = watch(watchHttp, "", "v1", "configmaps", "bench=latency");
    const onBead = (o: KubeObject) => {
      const at = performance.now();
      const name = o.metadata.name;
      if (!beadSeen.has(name)) beadSeen.set(name, at);
      const phase = phaseOf(o);
      if ((phase === "Closed" || phase === "Failed") && !beadClosed.has(name)) beadClosed.set(name, at);
    };
    beads.addHandlers({ onAdd: onBead, onUpdate: (_p, o) => onBead(o) });
    pods.addHandlers({
      onAdd: (o) => {
        const at = performance.now();
        const bead = o.metadata.annotations?.[BEAD_ANNOTATION] ?? "";
        const role = o.metadata.labels?.[LABELS.role] ?? "";
        podAdded.set(o.metadata.name, { at, bead, role });
        if (role === "polecat" && !firstPolecatPod.has(bead)) firstPolecatPod.set(bead, at);
      },
    });
    configmaps.addHandlers({ onAdd: (o) => cmAdded.set(o.metadata.name, performance.now()) });
    const informers = [beads, pods, convoys, towns, configmaps];
    for (const i of informers) i.start();
    stops.unshift({
      what: "the bench's watches",
      stop: async () => {
        for (const i of informers) i.stop();
      },
    });
    for (const i of informers) await within(`the ${i.name} watch to sync`, i.waitForSync(signal), 30_000);

    // --- crew and operator ---------------------------------------------------------------------
    const crew = new Crew(admin, NS, {
      heartbeatMs: parseDuration(FAST_TIMEOUTS.heartbeatPeriod),
      tag: (kc, as) => TaggedKubeConfig.from(kc, as === "agent" ? "agents" : "kubelet-sim"),
    }).start();
    stops.unshift({ what: "the crew", stop: () => crew.stop() });
    const logger: Logger = process.env.GASTOWN_BENCH_LOG
      ? createLogger({ level: "debug", destination: process.stderr })
      : silentLogger();
    const operator: Operator = await startOperator({
      kubeConfig: TaggedKubeConfig.from(admin, "operator"),
      namespace: NS,
      runtime: (http) => createPodRuntime({ http, namespace: NS, logger }),
      identity: "bench-operator",
      logger,
    });
    stops.unshift({ what: "the operator", stop: () => operator.stop() });
    await within("the operator's caches to sync", operator.waitUntilLeading(), 60_000);

    await bench.json({
      method: "POST",
      path: `/apis/gastown.dev/v1alpha1/namespaces/${NS}/towns`,
      body: townManifest(),
    });
    await until(
      "town Ready",
      () => (readyOf(towns.get(NS, TOWN)) ? true : undefined),
      60_000,
      signal,
      () => JSON.stringify(towns.get(NS, TOWN)?.status ?? "no status"),
    );

    /** Resolves once the operator has sent no write for quietMs (bounded by maxMs). */
    const settle = async (quietMs: number, maxMs: number) => {
      let last = writes.total("operator");
      let since = performance.now();
      const start = since;
      while (performance.now() - since < quietMs || crew.busy > 0) {
        if (signal.aborted) throw new Aborted("interrupted");
        if (performance.now() - start > maxMs) {
          log(`the operator still writes after ${maxMs / 1000}s; measuring anyway`);
          return;
        }
        await new Promise((r) => setTimeout(r, 100));
        const now = writes.total("operator");
        if (now !== last) {
          last = now;
          since = performance.now();
        }
      }
    };

    // --- baseline: the bench's own write to its watch event ------------------------------------
    let cmSeq = 0;
    const cmSent = new Map<string, number>();
    const createConfigMap = async () => {
      const name = `lat-${cmSeq++}`;
      cmSent.set(name, performance.now());
      await bench.json({
        method: "POST",
        path: `/api/v1/namespaces/${NS}/configmaps`,
        body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name, labels: { bench: "latency" } }, data: {} },
      });
      return name;
    };
    const baselineOf = (names: string[]) =>
      percentiles(
        names.filter((n) => cmAdded.has(n)).map((n) => (cmAdded.get(n) as number) - (cmSent.get(n) as number)),
      );
    const idleNames: string[] = [];
    for (let i = 0; i < 40; i++) {
      const name = await createConfigMap();
      idleNames.push(name);
      await until(`the watch event of ConfigMap ${name}`, () => (cmAdded.has(name) ? true : undefined), 10_000, signal);
    }
    await settle(1000, 15_000);

    // --- the convoy ------------------------------------------------------------------------------
    const tasks = seededDag();
    const before = await scrapeApiserverWrites(cluster.kubeconfigPath);
    const clientBefore = writes.snapshot();
    const rttBefore = { ms: writes.roundTripMs("operator"), n: writes.total("operator") };
    const failuresBefore = writes.failures().get("operator") ?? new Map();
    const opMetricsBefore = await operator.metrics.registry.metrics();
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const convoyStart = performance.now();
    await bench.json({
      method: "POST",
      path: `/apis/gastown.dev/v1alpha1/namespaces/${NS}/convoys`,
      body: convoyManifest(tasks),
    });
    log(`${elapsed()} convoy of ${tasks.length} tasks created; waiting for Landed`);
    const loadNames: string[] = [];
    const ticker = setInterval(() => {
      createConfigMap().then(
        (n) => loadNames.push(n),
        () => {},
      );
    }, 250);
    stops.unshift({ what: "the baseline ticker", stop: async () => clearInterval(ticker) });
    let lastProgress = performance.now();
    const convoyState = () => convoys.get(NS, CONVOY) as unknown as Convoy | undefined;
    const beadPhases = () => {
      const counts: Record<string, number> = {};
      for (const b of beads.list()) counts[phaseOf(b) ?? "none"] = (counts[phaseOf(b) ?? "none"] ?? 0) + 1;
      return JSON.stringify(counts);
    };
    await until(
      "the convoy to be Landed",
      () => {
        const c = convoyState();
        if (c?.status?.phase === "Failed") throw new Error(`the convoy Failed: ${JSON.stringify(c.status)}`);
        if (performance.now() - lastProgress > 15_000) {
          lastProgress = performance.now();
          log(`${elapsed()} progress ${c?.status?.progress?.summary ?? "?"}, beads ${beadPhases()}`);
        }
        return c?.status?.phase === "Landed" ? true : undefined;
      },
      opts.landedTimeoutMs ?? 300_000,
      signal,
      () =>
        `convoy ${JSON.stringify(convoyState()?.status?.progress ?? "no progress")}, beads ${beadPhases()}, crew errors ${JSON.stringify(crew.errors.slice(0, 5))}`,
      20,
    );
    const convoySeconds = (performance.now() - convoyStart) / 1000;
    clearInterval(ticker);
    loop.disable();
    log(`${elapsed()} Landed after ${convoySeconds.toFixed(1)}s; letting the last writes settle`);
    await settle(2000, 30_000);
    const after = await scrapeApiserverWrites(cluster.kubeconfigPath);
    const clientAfter = writes.snapshot();
    const rttAfter = { ms: writes.roundTripMs("operator"), n: writes.total("operator") };
    const failuresAfter = writes.failures().get("operator") ?? new Map();
    const opMetricsAfter = await operator.metrics.registry.metrics();

    // --- no-change period: annotation-only edits make the operator replan a finished town ------
    const quietClient0 = writes.snapshot();
    const quiet0 = await scrapeApiserverWrites(cluster.kubeconfigPath);
    const opQuiet0 = await operator.metrics.registry.metrics();
    const poked = [
      `/apis/gastown.dev/v1alpha1/namespaces/${NS}/towns/${TOWN}`,
      `/apis/gastown.dev/v1alpha1/namespaces/${NS}/convoys/${CONVOY}`,
      ...tasks.slice(0, 5).map((t) => `/apis/gastown.dev/v1alpha1/namespaces/${NS}/beads/${CONVOY}-${t.name}`),
    ];
    for (const [i, path] of poked.entries()) {
      await bench.json({
        method: "PATCH",
        path,
        contentType: "application/merge-patch+json",
        body: { metadata: { annotations: { "bench.gastown.dev/poke": String(i) } } },
      });
    }
    await new Promise((r) => setTimeout(r, QUIET_MS));
    const quiet1 = await scrapeApiserverWrites(cluster.kubeconfigPath);
    const quietClient1 = writes.snapshot();
    const opQuiet1 = await operator.metrics.registry.metrics();

    // --- writes ------------------------------------------------------------------------------------
    const apiserver = diff(after.counts, before.counts);
    const clientDelta = new Map(
      [...clientAfter].map(([c, counts]) => [c, diff(counts, clientBefore.get(c) ?? new Map())]),
    );
    const keys = [...new Set([...apiserver.keys()].filter(inScope))].sort();
    const rows: WriteRow[] = keys.map((key) => {
      const byClient = Object.fromEntries(
        (["operator", "agents", "kubelet-sim", "bench"] as Client[]).map((c) => [c, clientDelta.get(c)?.get(key) ?? 0]),
      ) as Record<Client, number>;
      const total = apiserver.get(key) ?? 0;
      const inProcess = Object.values(byClient).reduce((a, b) => a + b, 0);
      return { key, apiserver: total, owner: ownerByResource(key), byClient, outOfProcess: total - inProcess };
    });
    const col = (pick: (r: WriteRow) => number) => rows.reduce((n, r) => n + pick(r), 0);
    const totals = {
      apiserver: col((r) => r.apiserver),
      bench: col((r) => r.byClient.bench),
      operator: col((r) => r.byClient.operator),
      agents: col((r) => r.byClient.agents),
      kubeletSim: col((r) => r.byClient["kubelet-sim"]),
      outOfProcess: col((r) => r.outOfProcess),
    };
    // By resource alone: rows only the operator writes, plus Events minus the scheduler's one
    // "Scheduled" Event per pod it binds (kwok and kcm write no Events here).
    const bindings = rows.find((r) => r.key === "core/pods/binding POST")?.apiserver ?? 0;
    const operatorByResource = {
      sure: col((r) => (r.owner === "operator" ? r.apiserver - r.byClient.bench : 0)),
      events: col((r) => (r.owner.startsWith("operator + scheduler") ? r.apiserver - r.byClient.bench : 0)) - bindings,
      shared: col((r) => (r.owner.startsWith("operator (") ? r.apiserver - r.byClient.bench : 0)),
    };
    const outside = [...apiserver].filter(([k]) => !inScope(k)).sort((a, b) => b[1] - a[1]);
    const operatorOutside = sum(clientDelta.get("operator") ?? new Map(), (k) => !inScope(k));
    const operatorFailures = diff(failuresAfter, failuresBefore);

    const quietApi = diff(quiet1.counts, quiet0.counts);
    const quietOperator = diff(quietClient1.get("operator") ?? new Map(), quietClient0.get("operator") ?? new Map());
    const quietBench = diff(quietClient1.get("bench") ?? new Map(), quietClient0.get("bench") ?? new Map());
    const quietInScope: Counts = new Map(
      [...quietApi]
        .filter(([k]) => inScope(k))
        .map(([k, v]) => [k, v - (quietBench.get(k) ?? 0)] as [string, number])
        .filter(([, v]) => v !== 0),
    );
    const reconcileTotal = (t: string) => counter(t, "controller_runtime_reconcile_total");
    const actionsTotal = (t: string) => counter(t, "gastown_actions_total");

    // --- latency -------------------------------------------------------------------------------------
    const samples: { bead: string; ms: number; root: boolean }[] = [];
    const missing: string[] = [];
    for (const t of tasks) {
      const bead = `${CONVOY}-${t.name}`;
      const created = beadSeen.get(bead);
      const pod = firstPolecatPod.get(bead);
      const depTimes = t.dependsOn.map((d) => beadClosed.get(`${CONVOY}-${d}`));
      if (created === undefined || pod === undefined || depTimes.some((x) => x === undefined)) {
        missing.push(bead);
        continue;
      }
      const unblocked = Math.max(created, ...(depTimes as number[]));
      samples.push({ bead, ms: pod - unblocked, root: t.dependsOn.length === 0 });
    }
    if (missing.length > 0)
      throw new Error(`no unblock or pod time for ${missing.length} beads: ${missing.slice(0, 5)}`);

    // --- dispatches ------------------------------------------------------------------------------------
    const finalBeads = beads.list() as unknown as Bead[];
    const issues = finalBeads.filter((b) => b.spec.type === "Issue");
    const mrs = finalBeads.filter((b) => b.spec.type === "MergeRequest");
    const podsPerBead = new Map<string, number>();
    for (const p of podAdded.values())
      podsPerBead.set(`${p.role}/${p.bead}`, (podsPerBead.get(`${p.role}/${p.bead}`) ?? 0) + 1);
    const polecatPods = [...podAdded.values()].filter((p) => p.role === "polecat").length;
    const refineryPods = [...podAdded.values()].filter((p) => p.role === "refinery").length;
    const dispatchMetric = (role: string) =>
      counter(opMetricsAfter, "gastown_dispatches_total", { role }) -
      counter(opMetricsBefore, "gastown_dispatches_total", { role });
    const delta = (name: string) => counter(opMetricsAfter, name) - counter(opMetricsBefore, name);
    const redispatched = issues
      .filter((b) => (b.status?.dispatchAttempts ?? 0) > 1 || (podsPerBead.get(`polecat/${b.metadata.name}`) ?? 0) > 1)
      .map((b) => `${b.metadata.name} (attempts ${b.status?.dispatchAttempts}, reason ${b.status?.reason ?? "-"})`);

    const closed = finalBeads.filter((b) => b.status?.phase === "Closed");
    return {
      tasks: tasks.length,
      layers: LAYERS,
      rigs: RIGS,
      closedBeads: closed.length,
      closedIssues: closed.filter((b) => b.spec.type === "Issue").length,
      closedMergeRequests: closed.filter((b) => b.spec.type === "MergeRequest").length,
      convoySeconds,
      clusterSeconds,
      apiserverVerbs: [...after.verbs].sort(),
      rows,
      totals,
      operatorByResource,
      outside,
      operatorOutside,
      operatorFailures,
      quiet: {
        ms: QUIET_MS,
        pokes: poked.length,
        reconciles: reconcileTotal(opQuiet1) - reconcileTotal(opQuiet0),
        actions: actionsTotal(opQuiet1) - actionsTotal(opQuiet0),
        operatorWrites: sum(quietOperator),
        operatorKeys: quietOperator,
        apiserverInScope: quietInScope,
      },
      latency: {
        all: percentiles(samples.map((s) => s.ms)),
        roots: percentiles(samples.filter((s) => s.root).map((s) => s.ms)),
        dependents: percentiles(samples.filter((s) => !s.root).map((s) => s.ms)),
        min: Math.min(...samples.map((s) => s.ms)),
      },
      baseline: { idle: baselineOf(idleNames), load: baselineOf(loadNames) },
      dispatch: {
        issues: issues.length,
        polecatPods,
        maxPodsPerIssue: Math.max(...issues.map((b) => podsPerBead.get(`polecat/${b.metadata.name}`) ?? 0)),
        maxDispatchAttempts: Math.max(...issues.map((b) => b.status?.dispatchAttempts ?? 0)),
        mergeRequests: mrs.length,
        refineryPods,
        operatorDispatches: { polecat: dispatchMetric("polecat"), refinery: dispatchMetric("refinery") },
        redispatched,
      },
      eventLoop: { p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
      busy: {
        reconcileSeconds: delta("controller_runtime_reconcile_time_seconds_sum"),
        reconciles: delta("controller_runtime_reconcile_total"),
        writeRoundTripMs: (rttAfter.ms - rttBefore.ms) / Math.max(1, rttAfter.n - rttBefore.n),
        eventsDropped: Object.fromEntries(
          ["rate_limited", "queue_full", "write_failed"].map((reason) => [
            reason,
            counter(opMetricsAfter, "event_recorder_dropped_total", { reason }) -
              counter(opMetricsBefore, "event_recorder_dropped_total", { reason }),
          ]),
        ),
      },
      crewErrors: [...crew.errors],
    };
  } finally {
    for (const { what, stop } of stops) {
      await withTimeout(
        `stopping ${what}`,
        stop().catch((e: unknown) => log(`stopping ${what}: ${(e as Error).message}`)),
        60_000,
      );
    }
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    if (signal.aborted) process.exitCode = 130;
  }
}

// ---------------------------------------------------------------------------------------------

const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);
const ms = (n: number) => `${n.toFixed(0)} ms`;

export function printOperator(r: OperatorResult): void {
  const per = (n: number) => `${f2(n / r.closedBeads).padStart(6)} ${f2(n / r.tasks).padStart(7)}`;
  console.log(
    `operator: one convoy of ${r.tasks} tasks (seeded layered DAG, ${r.layers} layers, ${r.rigs} rigs, ReviewAndMerge) on a local control plane; ` +
      `Landed in ${f1(r.convoySeconds)} s with ${r.closedBeads} beads Closed (${r.closedIssues} issues + ${r.closedMergeRequests} merge requests)`,
  );
  console.log(
    `  maxPolecatsPerRig=${MAX_POLECATS_PER_RIG} (each rig has ${Math.ceil(r.tasks / r.rigs)} tasks): dispatch never waits for a polecat slot; one refinery per rig reviews in series`,
  );
  console.log(
    "API writes: apiserver_request_total, verbs POST/PUT/PATCH/DELETE/APPLY (all codes), gastown.dev + pods, serviceaccounts, roles, rolebindings, leases, events; before convoy -> after Landed",
  );
  console.log("                                   requests  /closed bead  /task");
  const line = (label: string, n: number, note = "") =>
    console.log(`  ${label.padEnd(32)} ${String(n).padStart(7)} ${per(n)}${note}`);
  const t = r.totals;
  line("total (apiserver)", t.apiserver - t.bench, `   (excluding the bench's own ${t.bench}: the Convoy)`);
  const failures = sum(r.operatorFailures);
  line(
    "operator",
    t.operator,
    `   (exact, counted in-process; ${failures} answered >=400, e.g. AlreadyExists on idempotent creates)`,
  );
  line("agents (own SA tokens)", t.agents, "   (reports, Lease renewals)");
  line("kubelet stand-in (crew)", t.kubeletSim, "   (pods/status exit, TokenRequest)");
  line("kwok/scheduler/kcm/apiserver", t.outOfProcess, "   (apiserver total minus every in-process client)");
  const o = r.operatorByResource;
  line(
    "operator, by resource rules",
    o.sure + o.events + o.shared,
    `   (${o.sure} in operator-only rows + ${o.events} Events = events POST minus pods/binding${o.shared ? ` + ${o.shared} pods DELETE shared with kwok/GC` : ""})`,
  );
  const failed = [...r.operatorFailures].map(([k, v]) => `${k} ${v}`).join(", ");
  if (failed) console.log(`  operator writes answered >=400: ${failed}`);
  console.log(
    `  outside the resources above: operator ${r.operatorOutside}; all clients ${sum(new Map(r.outside))} (${r.outside
      .slice(0, 4)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")})`,
  );
  console.log(
    "  per key: apiserver = operator + agents + kubelet stand-in + bench + out-of-process; owner = attribution by resource alone",
  );
  for (const row of r.rows) {
    const c = row.byClient;
    console.log(
      `    ${row.key.padEnd(42)} ${String(row.apiserver).padStart(5)} = op ${String(c.operator).padStart(4)} ag ${String(c.agents).padStart(4)} kl ${String(c["kubelet-sim"]).padStart(3)} bench ${String(c.bench).padStart(3)} out ${String(row.outOfProcess).padStart(4)}  ${row.owner}`,
    );
  }
  console.log(`  verbs in apiserver_request_total: ${r.apiserverVerbs.join(" ")}`);
  const q = r.quiet;
  const others = [...q.apiserverInScope].map(([k, v]) => `${k} ${v}`).join(", ") || "none";
  console.log(
    `no-change period: ${q.ms / 1000} s after Landed, ${q.pokes} annotation-only edits -> ${q.reconciles} reconciles, ${q.actions} actions planned; ` +
      `operator writes ${q.operatorWrites}${q.operatorWrites ? ` (${[...q.operatorKeys].map(([k, v]) => `${k} ${v}`).join(", ")})` : ""}; ` +
      `other in-scope apiserver writes: ${others}`,
  );
  const l = r.latency;
  const b = r.baseline;
  console.log(
    `unblocked -> first polecat pod ADDED (receive times of this process's watches; unblocked = last dependency Closed, or bead created if none):`,
  );
  console.log(
    `  ${l.all.n} beads: p50 ${ms(l.all.p50)}  p99 ${ms(l.all.p99)}  max ${ms(l.all.max)}  min ${ms(l.min)}   ` +
      `(no deps ${l.roots.n}: p50 ${ms(l.roots.p50)} p99 ${ms(l.roots.p99)}; with deps ${l.dependents.n}: p50 ${ms(l.dependents.p50)} p99 ${ms(l.dependents.p99)})`,
  );
  console.log(
    `  baseline, ConfigMap create -> its watch event: idle p50 ${ms(b.idle.p50)} p99 ${ms(b.idle.p99)} (n=${b.idle.n}); ` +
      `during the convoy p50 ${ms(b.load.p50)} p99 ${ms(b.load.p99)} (n=${b.load.n})`,
  );
  console.log(
    `  ratio to the during-convoy baseline: p50 ${f1(l.all.p50 / b.load.p50)}x  p99 ${f1(l.all.p99 / b.load.p99)}x; ` +
      `event-loop delay of this process (operator + crew + watches) during the convoy: p99 ${ms(r.eventLoop.p99)}, max ${ms(r.eventLoop.max)}`,
  );
  const u = r.busy;
  console.log(
    `  where the time goes: ${u.reconciles} town reconciles took ${f1(u.reconcileSeconds)} s of the convoy's ${f1(r.convoySeconds)} s ` +
      `(${((100 * u.reconcileSeconds) / r.convoySeconds).toFixed(0)}% busy, one town = one serial queue key); ` +
      `operator write round trip mean ${f1(u.writeRoundTripMs)} ms; Events dropped by the recorder: ${Object.entries(
        u.eventsDropped,
      )
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")}`,
  );
  const d = r.dispatch;
  console.log(
    `dispatches: ${d.polecatPods} polecat pods for ${d.issues} issues (${f2(d.polecatPods / d.issues)} per bead, max ${d.maxPodsPerIssue}, max status.dispatchAttempts ${d.maxDispatchAttempts}); ` +
      `${d.refineryPods} refinery pods for ${d.mergeRequests} merge requests; gastown_dispatches_total polecat ${d.operatorDispatches.polecat} refinery ${d.operatorDispatches.refinery}`,
  );
  if (d.redispatched.length > 0) console.log(`  RE-DISPATCHED: ${d.redispatched.join("; ")}`);
  if (r.crewErrors.length > 0)
    console.log(`  crew errors (${r.crewErrors.length}): ${r.crewErrors.slice(0, 5).join("; ")}`);
}
