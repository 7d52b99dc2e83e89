// The operator process: caches always (a standby keeps them warm), and while leading, a work queue
// of towns drained by workers that reconcile. Watch events only enqueue; deadlines come back as
// delayed re-adds; a periodic resync is only a safety net.
import { performance } from "node:perf_hooks";
import type { KubeConnection } from "../kube/config.ts";
import { createKubeHttp, type KubeHttp, MUTATING, type RequestRecord } from "../kube/http.ts";
import type { KubeObject } from "../kube/informer.ts";
import { parseSelector } from "../kube/selector.ts";
import type { SessionRuntime } from "../runtime/session-runtime.ts";
import { createActuator } from "./actuator.ts";
import { createCaches, townKeysOf, Views } from "./caches.ts";
import { type Clock, systemClock } from "./clock.ts";
import { createEventRecorder } from "./event-recorder.ts";
import { createEventSink } from "./event-sink.ts";
import { createExpectations } from "./expectations.ts";
import { type HttpServer, startHttpServer } from "./http-server.ts";
import { createLeaderElector, type LeaderElector } from "./leader-election.ts";
import { createLeaseStore } from "./lease-store.ts";
import type { Logger } from "./logger.ts";
import { createMetrics, isPanic, type Metrics } from "./metrics.ts";
import { createMetricsAuthorizer } from "./metrics-auth.ts";
import { createPullRequestPoller } from "./pr-poller.ts";
import { createReconciler } from "./reconciler.ts";
import { splitTownKey, townKey } from "./resources.ts";
import { createShards } from "./shards.ts";
import { createWorkQueue, type WorkQueue } from "./work-queue.ts";

export interface OperatorOptions {
  /** A LoadedConnection (src/kube/config.ts) or client-node's KubeConfig. */
  kubeConfig: KubeConnection;
  /** Watch one namespace; undefined: all namespaces the operator can read. */
  namespace?: string;
  runtime: (http: KubeHttp) => SessionRuntime;
  identity: string;
  leaderElection?: { namespace: string; name?: string };
  workers?: number;
  /** Port for /metrics, /healthz, /readyz; 0 picks one; undefined serves nothing. */
  port?: number;
  /** Serve that port over HTTPS with this certificate, and /metrics only to authorized tokens. */
  secureMetrics?: { tls: { cert: string; key: string } };
  forgeAllowedHosts?: readonly string[];
  /**
   * Shard towns across Deployments: reconcile only Towns this label selector matches, and only
   * once they are claimed for this shard (shards.ts). The shard's name is its leader-election
   * name, which must differ between shards.
   */
  townSelector?: string;
  /** The shard's name when sharded (default: the leader-election name); unique per shard. */
  shardId?: string;
  /** Also told of every request (after the write metric): request metrics, tests. */
  onRequest?: (r: RequestRecord) => void;
  resyncMs?: number;
  clock?: Clock;
  logger: Logger;
  metrics?: Metrics;
}

export interface Operator {
  readonly port: number | undefined;
  readonly metrics: Metrics;
  isLeader(): boolean;
  /** Resolves once caches are synced (and, with leader election, once this replica leads). */
  waitUntilLeading(): Promise<void>;
  stop(): Promise<void>;
}

const CONTROLLER = "town";
/** The field manager of every write the operator makes (metadata.managedFields). */
export const FIELD_MANAGER = "gastown-operator";

const WRITE_VERB = { POST: "create", PUT: "update", PATCH: "patch", DELETE: "delete" } as const;

/** gastown_api_writes_total: every mutating request, as it leaves the process (src/kube). */
/** client-go's rest_client_requests_total; a watch counts once, when its response starts. */
function countRequest(metrics: Metrics, r: RequestRecord): void {
  metrics.restClient.requests.inc({ code: r.code === 0 ? "<error>" : String(r.code), method: r.method, host: r.host });
}

function countWrite(metrics: Metrics, r: RequestRecord): void {
  if (!MUTATING.has(r.method)) return;
  const verb = WRITE_VERB[r.method as keyof typeof WRITE_VERB];
  const status = r.subresource === "status";
  metrics.gastown.apiWrites.inc({
    verb: status ? `${verb}-status` : verb,
    resource: r.subresource && !status ? `${r.resource}/${r.subresource}` : r.resource,
  });
}

export async function startOperator(o: OperatorOptions): Promise<Operator> {
  const clock = o.clock ?? systemClock;
  const logger = o.logger;
  const metrics = o.metrics ?? createMetrics();
  const http = createKubeHttp(o.kubeConfig, {
    fieldManager: FIELD_MANAGER,
    onRequest: (r) => {
      countRequest(metrics, r);
      countWrite(metrics, r);
      o.onRequest?.(r);
    },
  });
  const townSelector = o.townSelector?.trim() ? parseSelector(o.townSelector) : undefined;
  const caches = createCaches({
    http,
    ...(o.namespace ? { namespace: o.namespace } : {}),
    ...(townSelector ? { townSelector: townSelector.text } : {}),
    clock,
    logger,
  });
  const shards = townSelector
    ? createShards({
        http,
        id: o.shardId ?? o.leaderElection?.name ?? "gastown-operator",
        selector: townSelector,
        ...(o.leaderElection ? { leaseNamespace: o.leaderElection.namespace } : {}),
        ...(o.namespace ? { namespace: o.namespace } : {}),
        clock,
        logger,
      })
    : undefined;
  const runtime = o.runtime(http);
  const expectations = createExpectations({ clock, logger });
  const events = createEventRecorder({
    sink: createEventSink(http),
    reportingInstance: o.identity,
    clock,
    logger,
    metrics: metrics.events,
  });
  const poller = createPullRequestPoller({ http, allowedHosts: o.forgeAllowedHosts ?? [], clock, logger });
  const actuator = createActuator({
    http,
    runtime,
    expectations,
    events,
    metrics: metrics.gastown,
    poller,
    clock,
    logger,
  });
  const reconcile = createReconciler({
    http,
    events,
    caches,
    views: new Views(),
    runtime,
    expectations,
    actuator,
    clock,
    logger,
    metrics: metrics.gastown,
    ...(shards ? { shards } : {}),
  });

  let queue: WorkQueue | undefined;
  const enqueue = (key: string) => queue?.add(key);
  // A shard ignores what happens in other shards' towns (a town leaving its selector still
  // enqueues: the towns informer's delete, so that the shard can let it go).
  const ours = (key: string) => {
    if (!shards) return true;
    const { namespace, town } = splitTownKey(key);
    return caches.towns.get(namespace, town) !== undefined;
  };
  for (const informer of caches.all()) {
    const plural = informer.name.split(".")[0] as string;
    const fire = (obj: KubeObject) => {
      for (const key of townKeysOf(plural, obj)) if (plural === "towns" || ours(key)) enqueue(key);
    };
    informer.addHandlers({ onAdd: fire, onUpdate: (_old, obj) => fire(obj), onDelete: fire });
  }
  runtime.onChange((key) => {
    if (ours(key)) enqueue(key);
  });
  for (const informer of caches.all()) informer.start();
  runtime.run();

  const allTowns = () => caches.towns.list().map((t) => townKey(t.metadata.namespace ?? "", t.metadata.name));

  async function work(q: WorkQueue, term: AbortSignal): Promise<void> {
    for (let key = await q.get(); key !== undefined; key = await q.get()) {
      const started = performance.now();
      metrics.reconcile.activeWorkers.inc({ controller: CONTROLLER });
      try {
        const result = await reconcile(key, term);
        q.forget(key);
        if (result.requeueAfterMs !== undefined) {
          q.addAfter(key, result.requeueAfterMs);
          metrics.reconcile.total.inc({ controller: CONTROLLER, result: "requeue_after" });
        } else {
          metrics.reconcile.total.inc({ controller: CONTROLLER, result: "success" });
        }
      } catch (e) {
        if (term.aborted) {
          // Not the town's failure: we stopped leading mid-plan, and the successor plans afresh.
          logger.info({ town: key, err: (e as Error).message }, "plan abandoned: stopped leading");
        } else {
          metrics.reconcile.total.inc({ controller: CONTROLLER, result: "error" });
          metrics.reconcile.errors.inc({ controller: CONTROLLER });
          if (isPanic(e)) metrics.reconcile.panics.inc({ controller: CONTROLLER });
          logger.warn({ town: key, err: (e as Error).message }, "reconcile failed; retrying with back-off");
          await reconcile.failed(key, e as Error);
          q.addRateLimited(key);
        }
      } finally {
        metrics.reconcile.activeWorkers.dec({ controller: CONTROLLER });
        metrics.reconcile.time.observe({ controller: CONTROLLER }, (performance.now() - started) / 1000);
        q.done(key);
      }
    }
  }

  const workers = o.workers ?? 4;
  metrics.reconcile.maxConcurrent.set({ controller: CONTROLLER }, workers);
  // Present from the start at 0, as controller-runtime does, so rate() and absent() alerts work.
  for (const counter of [metrics.reconcile.errors, metrics.reconcile.panics, metrics.reconcile.terminalErrors])
    counter.inc({ controller: CONTROLLER }, 0);
  let running: Promise<void> | undefined;
  let leadingResolve: () => void = () => {};
  const leading = new Promise<void>((r) => {
    leadingResolve = r;
  });

  /** `signal` aborts when the term ends; without leader election the term lasts until stop(). */
  async function lead(signal: AbortSignal = new AbortController().signal): Promise<void> {
    await Promise.all([...caches.all().map((i) => i.waitForSync(signal)), runtime.waitForSync(signal)]);
    if (signal.aborted) return;
    if (shards) {
      // Claims this shard left behind (it was down when a town moved away) are given up first.
      await shards
        .releaseStrays(signal)
        .catch((err: unknown) =>
          logger.warn({ err: (err as Error).message }, "could not give up claims on towns that left this shard"),
        );
    }
    const q = createWorkQueue({ name: CONTROLLER, clock, metrics: metrics.workqueue });
    queue = q;
    for (const key of allTowns()) q.add(key);
    running = Promise.all(Array.from({ length: workers }, () => work(q, signal))).then(() => undefined);
    logger.info({ identity: o.identity, workers }, "leading: reconciling towns");
    leadingResolve();
  }

  async function stepDown(): Promise<void> {
    const q = queue;
    queue = undefined;
    if (!q) return;
    q.shutDown();
    await q.idle();
    await running;
    for (const key of allTowns()) expectations.clear(key);
    logger.info({ identity: o.identity }, "stopped leading");
  }

  let elector: LeaderElector | undefined;
  if (o.leaderElection) {
    elector = createLeaderElector({
      name: o.leaderElection.name ?? "gastown-operator",
      identity: o.identity,
      store: createLeaseStore(http, {
        namespace: o.leaderElection.namespace,
        name: o.leaderElection.name ?? "gastown-operator",
      }),
      clock,
      logger,
      metrics: metrics.leaderElection,
      onStartedLeading: (signal) => {
        void lead(signal);
      },
      onStoppedLeading: () => stepDown(),
      onNewLeader: (id) => logger.info({ leader: id }, "observed leader"),
    });
    elector.start();
  } else {
    void lead();
  }

  const resync = setInterval(
    () => {
      for (const key of allTowns()) enqueue(key);
    },
    o.resyncMs ?? 10 * 60_000,
  );
  resync.unref();

  let server: HttpServer | undefined;
  if (o.port !== undefined) {
    server = await startHttpServer({
      registry: metrics.registry,
      port: o.port,
      logger,
      ...(o.secureMetrics
        ? { tls: o.secureMetrics.tls, authorizeMetrics: createMetricsAuthorizer({ http, clock, logger }) }
        : {}),
      ready: () => {
        const unsynced = caches.all().filter((i) => !i.hasSynced());
        if (unsynced.length > 0)
          return { ready: false, reason: `caches not synced: ${unsynced.map((i) => i.name).join(", ")}` };
        if (!runtime.hasSynced()) return { ready: false, reason: "session runtime not synced" };
        return { ready: true };
      },
    });
  }

  let stopped = false;
  return {
    port: server?.port,
    metrics,
    isLeader: () => (elector ? elector.isLeader() : queue !== undefined),
    waitUntilLeading: () => leading,
    async stop() {
      if (stopped) return;
      stopped = true;
      server?.markShuttingDown();
      clearInterval(resync);
      if (elector) await elector.release();
      await stepDown();
      await poller.close();
      await events.flush();
      for (const informer of caches.all()) informer.stop();
      await runtime.close();
      await server?.close();
    },
  };
}
