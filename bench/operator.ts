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
import { parseDuration } from "../src/api/meta.ts";
import { createLogger, type Logger, silentLogger } from "../src/controller/logger.ts";
import { type Operator, startOperator } from "../src/controller/operator.ts";
import { BEAD_ANNOTATION, LABELS } from "../src/controller/resources.ts";
import { createKubeHttp, type KubeHttp } from "../src/kube/http.ts";
import { createInformer, type Informer, type KubeObject } from "../src/kube/informer.ts";
import { createKubeListWatch } from "../src/kube/list-watch.ts";
import { createPodRuntime } from "../src/runtime/pod-runtime.ts";
import { Crew } from "../test/support/crew.ts";
import { convoyManifest, counterTotal, FAST_TIMEOUTS, townManifest } from "../test/support/manifests.ts";
import { seededDag } from "./convoy-dag.ts";
import { type OperatorResult, percentiles, type WriteRow } from "./operator-report.ts";
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
      body: townManifest(TOWN, {
        rigs: Array.from({ length: RIGS }, (_, i) => ({
          name: `r${i}`,
          repo: `https://git.example.com/r${i}.git`,
          gates: ["true"],
        })),
        limits: { maxPolecatsPerRig: MAX_POLECATS_PER_RIG },
      }),
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
    const tasks = seededDag(SEED, TASKS, LAYERS, RIGS);
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
      body: convoyManifest(CONVOY, TOWN, tasks, { mergeMode: "ReviewAndMerge" }),
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
      opts.landedTimeoutMs ?? Number(process.env.GASTOWN_BENCH_TIMEOUT_S ?? 900) * 1000,
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
    const reconcileTotal = (t: string) => counterTotal(t, "controller_runtime_reconcile_total");
    const actionsTotal = (t: string) => counterTotal(t, "gastown_actions_total");

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
      counterTotal(opMetricsAfter, "gastown_dispatches_total", { role }) -
      counterTotal(opMetricsBefore, "gastown_dispatches_total", { role });
    const delta = (name: string) => counterTotal(opMetricsAfter, name) - counterTotal(opMetricsBefore, name);
    const redispatched = issues
      .filter((b) => (b.status?.dispatchAttempts ?? 0) > 1 || (podsPerBead.get(`polecat/${b.metadata.name}`) ?? 0) > 1)
      .map((b) => `${b.metadata.name} (attempts ${b.status?.dispatchAttempts}, reason ${b.status?.reason ?? "-"})`);

    // The operator's Events by reason and kind of object (the recorder's, not the scheduler's).
    const eventList = await bench.json<{
      items: {
        reason: string;
        reportingController?: string;
        regarding: { kind: string };
        series?: { count: number };
      }[];
    }>({
      method: "GET",
      path: `/apis/events.k8s.io/v1/namespaces/${NS}/events`,
    });
    const eventsByReason = new Map<string, number>();
    for (const e of eventList.items) {
      if (e.reportingController !== "gastown.dev/operator") continue;
      const k = `${e.regarding.kind}/${e.reason}`;
      eventsByReason.set(k, (eventsByReason.get(k) ?? 0) + 1);
    }
    const closed = finalBeads.filter((b) => b.status?.phase === "Closed");
    return {
      tasks: tasks.length,
      maxPolecatsPerRig: MAX_POLECATS_PER_RIG,
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
            counterTotal(opMetricsAfter, "event_recorder_dropped_total", { reason }) -
              counterTotal(opMetricsBefore, "event_recorder_dropped_total", { reason }),
          ]),
        ),
      },
      crewErrors: [...crew.errors],
      eventsByReason: [...eventsByReason].sort((a, b) => b[1] - a[1]),
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
