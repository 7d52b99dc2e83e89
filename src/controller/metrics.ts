// One Prometheus registry per process, with typed handles. Controller machinery uses the names and
// labels controller-runtime and client-go use (workqueue_* carry both `name` and `controller`, as
// controller-runtime's queues do), so stock dashboards and alerts work unchanged; domain metrics
// are defined here (so every name lives in one place) and incremented by the reconciler. Every
// per-town gastown_* series carries `namespace` and `town`: town names are unique per namespace only.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { Usage } from "../api/usage.ts";

// controller-runtime's reconcile_time_seconds buckets: fine below a second, coarse up to a minute.
const RECONCILE_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75,
  2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];
// client-go's workqueue buckets: ExponentialBuckets(10e-9, 10, 12), i.e. 10 ns … 1000 s.
const WORKQUEUE_BUCKETS = Array.from({ length: 12 }, (_, i) => 1e-8 * 10 ** i);
const REPORT_LAG_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900];
const PLAN_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export type ReconcileResult = "success" | "error" | "requeue" | "requeue_after";

export interface ReconcileMetrics {
  total: Counter<"controller" | "result">;
  errors: Counter<"controller">;
  /** Reconciles that failed on a programming fault (TypeError and kin): Go's recovered panics. */
  panics: Counter<"controller">;
  /** Errors not retried. The operator retries every failed reconcile, so this stays 0; stock alerts select it. */
  terminalErrors: Counter<"controller">;
  time: Histogram<"controller">;
  maxConcurrent: Gauge<"controller">;
  activeWorkers: Gauge<"controller">;
}

/** What a queue reports about the keys it is processing right now, read at scrape time. */
export interface InFlightProbe {
  unfinishedSeconds: number;
  longestRunningSeconds: number;
}

type QueueLabels = "name" | "controller";

export interface WorkQueueMetrics {
  depth: Gauge<QueueLabels>;
  adds: Counter<QueueLabels>;
  queueDuration: Histogram<QueueLabels>;
  workDuration: Histogram<QueueLabels>;
  retries: Counter<QueueLabels>;
  /** Registers a probe for the in-flight gauges of one queue; returns the unregister function. */
  trackInFlight(name: string, probe: () => InFlightProbe): () => void;
}

export interface LeaderElectionMetrics {
  masterStatus: Gauge<"name">;
}

export interface EventRecorderMetrics {
  dropped: Counter<"reason">;
}

type Town = "namespace" | "town";

export interface DomainMetrics {
  beads: Gauge<Town | "phase">;
  agents: Gauge<Town | "phase">;
  dispatches: Counter<Town | "rig" | "role">;
  nudges: Counter<Town | "tier">;
  escalations: Counter<Town | "severity">;
  invariantViolations: Counter<Town | "invariant">;
  reportLag: Histogram<Town | "type">;
  planDuration: Histogram<Town>;
  snapshotDuration: Histogram<Town>;
  actions: Counter<Town | "type">;
  apiWrites: Counter<"verb" | "resource">;
  /** A session that could not be started (the runtime refused: admission, quota, missing objects). */
  sessionStartFailures: Counter<Town | "rig" | "reason">;
  /** Unacknowledged escalations on the Town's status, per town. */
  escalationsOpen: Gauge<Town>;
  /** 1 for each condition a Town reports, by type, status and reason, as kube-state-metrics does. */
  townCondition: Gauge<Town | "type" | "status" | "reason">;
  /** Tokens the town's sessions used (input, output, cache_read, cache_write), from its status. */
  tokens: Counter<Town | "type">;
  /** What the town's sessions cost, in USD, where the CLI reports a cost. */
  costUSD: Counter<Town>;
}

/** What a Town's status.usage said when last seen, per counter set: the counters add what grew since. */
const usageSeen = new WeakMap<Counter<Town | "type">, Map<string, Usage>>();
const TOKEN_TYPES = [
  ["input", "inputTokens"],
  ["output", "outputTokens"],
  ["cache_read", "cacheReadTokens"],
  ["cache_write", "cacheWriteTokens"],
] as const;

/**
 * Adds to gastown_tokens_total and gastown_cost_usd_total what the Town's status.usage grew by.
 * The first sight of a town in this process is the baseline (a restart must not count history
 * again); a sum that shrank (a bead deleted) moves the baseline down without counting.
 * `undefined` usage with `forget` drops the town (it was deleted).
 */
export function countUsage(
  m: DomainMetrics,
  namespace: string,
  town: string,
  usage: Usage | undefined,
  forget = false,
): void {
  const seen = usageSeen.get(m.tokens) ?? new Map<string, Usage>();
  usageSeen.set(m.tokens, seen);
  const key = `${namespace}/${town}`;
  if (forget) {
    seen.delete(key);
    for (const [type] of TOKEN_TYPES) m.tokens.remove({ namespace, town, type });
    m.costUSD.remove({ namespace, town });
    return;
  }
  const now = usage ?? { tokens: 0, inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0 };
  const before = seen.get(key);
  seen.set(key, now);
  if (!before) {
    // Series exist from the start (0), so rate() sees the first increase.
    for (const [type] of TOKEN_TYPES) m.tokens.inc({ namespace, town, type }, 0);
    m.costUSD.inc({ namespace, town }, 0);
    return;
  }
  for (const [type, field] of TOKEN_TYPES) {
    const grew = now[field] - before[field];
    if (grew > 0) m.tokens.inc({ namespace, town, type }, grew);
  }
  const cost = (now.costUSD ?? 0) - (before.costUSD ?? 0);
  if (cost > 0) m.costUSD.inc({ namespace, town }, cost);
}

/** Sets one gauge series per phase (0 for phases nobody is in, so a drained phase reads 0, not stale). */
export function setPhaseGauge(
  gauge: Gauge<Town | "phase">,
  namespace: string,
  town: string,
  phases: readonly string[],
  observed: readonly string[],
): void {
  const counts = new Map<string, number>();
  for (const p of observed) counts.set(p, (counts.get(p) ?? 0) + 1);
  for (const phase of phases) gauge.set({ namespace, town, phase }, counts.get(phase) ?? 0);
}

type ConditionLabels = Record<Town | "type" | "status" | "reason", string>;
// The series each town set last, so that a condition that changed or went away leaves no stale 1.
const conditionSeries = new WeakMap<Gauge<keyof ConditionLabels>, Map<string, ConditionLabels[]>>();

/** Replaces a town's gastown_town_condition series with its current conditions (none: removes them). */
export function setTownConditions(
  gauge: Gauge<keyof ConditionLabels>,
  namespace: string,
  town: string,
  conditions: readonly { type: string; status: string; reason: string }[],
): void {
  const byTown = conditionSeries.get(gauge) ?? new Map<string, ConditionLabels[]>();
  conditionSeries.set(gauge, byTown);
  const key = `${namespace}/${town}`;
  for (const old of byTown.get(key) ?? []) gauge.remove(old);
  const now = conditions.map((c) => ({ namespace, town, type: c.type, status: c.status, reason: c.reason }));
  for (const labels of now) gauge.set(labels, 1);
  if (now.length > 0) byTown.set(key, now);
  else byTown.delete(key);
}

/** Whether a reconcile error is a programming fault rather than an API or network failure. */
export function isPanic(err: unknown): boolean {
  return (
    err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError || err instanceof SyntaxError
  );
}

/** client-go's REST client metrics: every request the operator's API client made. */
export interface RestClientMetrics {
  /** By HTTP status code ("<error>" when no answer came, as client-go), method and host. */
  requests: Counter<"code" | "method" | "host">;
}

export interface Metrics {
  registry: Registry;
  restClient: RestClientMetrics;
  reconcile: ReconcileMetrics;
  workqueue: WorkQueueMetrics;
  leaderElection: LeaderElectionMetrics;
  events: EventRecorderMetrics;
  gastown: DomainMetrics;
}

export interface MetricsOptions {
  /** Also collect prom-client's process_* and nodejs_* metrics (once per process, not in tests). */
  processMetrics?: boolean;
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  const registers = [registry];
  if (options.processMetrics) collectDefaultMetrics({ register: registry });

  const reconcile: ReconcileMetrics = {
    total: new Counter({
      name: "controller_runtime_reconcile_total",
      help: "Total number of reconciliations per controller",
      labelNames: ["controller", "result"] as const,
      registers,
    }),
    errors: new Counter({
      name: "controller_runtime_reconcile_errors_total",
      help: "Total number of reconciliation errors per controller",
      labelNames: ["controller"] as const,
      registers,
    }),
    panics: new Counter({
      name: "controller_runtime_reconcile_panics_total",
      help: "Total number of reconciliation panics per controller",
      labelNames: ["controller"] as const,
      registers,
    }),
    terminalErrors: new Counter({
      name: "controller_runtime_terminal_reconcile_errors_total",
      help: "Total number of terminal reconciliation errors per controller",
      labelNames: ["controller"] as const,
      registers,
    }),
    time: new Histogram({
      name: "controller_runtime_reconcile_time_seconds",
      help: "Length of time per reconciliation per controller",
      labelNames: ["controller"] as const,
      buckets: RECONCILE_BUCKETS,
      registers,
    }),
    maxConcurrent: new Gauge({
      name: "controller_runtime_max_concurrent_reconciles",
      help: "Maximum number of concurrent reconciles per controller",
      labelNames: ["controller"] as const,
      registers,
    }),
    activeWorkers: new Gauge({
      name: "controller_runtime_active_workers",
      help: "Number of currently used workers per controller",
      labelNames: ["controller"] as const,
      registers,
    }),
  };

  const probes = new Map<string, () => InFlightProbe>();
  // Both in-flight gauges are computed when scraped rather than on a ticker (client-go updates
  // them every 500 ms), so they are exact and cost nothing between scrapes.
  const inFlightGauge = (name: string, help: string, pick: (p: InFlightProbe) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["name", "controller"] as const,
      registers,
      collect() {
        this.reset();
        for (const [queue, probe] of probes) this.set({ name: queue, controller: queue }, pick(probe()));
      },
    });
  inFlightGauge(
    "workqueue_unfinished_work_seconds",
    "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. " +
      "Large values indicate stuck threads.",
    (p) => p.unfinishedSeconds,
  );
  inFlightGauge(
    "workqueue_longest_running_processor_seconds",
    "How many seconds has the longest running processor for workqueue been running.",
    (p) => p.longestRunningSeconds,
  );

  const workqueue: WorkQueueMetrics = {
    depth: new Gauge({
      name: "workqueue_depth",
      help: "Current depth of workqueue",
      labelNames: ["name", "controller"] as const,
      registers,
    }),
    adds: new Counter({
      name: "workqueue_adds_total",
      help: "Total number of adds handled by workqueue",
      labelNames: ["name", "controller"] as const,
      registers,
    }),
    queueDuration: new Histogram({
      name: "workqueue_queue_duration_seconds",
      help: "How long in seconds an item stays in workqueue before being requested",
      labelNames: ["name", "controller"] as const,
      buckets: WORKQUEUE_BUCKETS,
      registers,
    }),
    workDuration: new Histogram({
      name: "workqueue_work_duration_seconds",
      help: "How long in seconds processing an item from workqueue takes",
      labelNames: ["name", "controller"] as const,
      buckets: WORKQUEUE_BUCKETS,
      registers,
    }),
    retries: new Counter({
      name: "workqueue_retries_total",
      help: "Total number of retries handled by workqueue",
      labelNames: ["name", "controller"] as const,
      registers,
    }),
    trackInFlight(name, probe) {
      probes.set(name, probe);
      return () => {
        if (probes.get(name) === probe) probes.delete(name);
      };
    },
  };

  const restClient: RestClientMetrics = {
    requests: new Counter({
      name: "rest_client_requests_total",
      help: "Number of HTTP requests, partitioned by status code, method, and host.",
      labelNames: ["code", "method", "host"] as const,
      registers,
    }),
  };

  const leaderElection: LeaderElectionMetrics = {
    masterStatus: new Gauge({
      name: "leader_election_master_status",
      help: "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master",
      labelNames: ["name"] as const,
      registers,
    }),
  };

  const gastown: DomainMetrics = {
    beads: new Gauge({
      name: "gastown_beads",
      help: "Beads by town and phase",
      labelNames: ["namespace", "town", "phase"] as const,
      registers,
    }),
    agents: new Gauge({
      name: "gastown_agents",
      help: "Agents by town and phase",
      labelNames: ["namespace", "town", "phase"] as const,
      registers,
    }),
    dispatches: new Counter({
      name: "gastown_dispatches_total",
      help: "Beads dispatched to an agent",
      labelNames: ["namespace", "town", "rig", "role"] as const,
      registers,
    }),
    nudges: new Counter({
      name: "gastown_nudges_total",
      help: "Nudges sent to inactive agents, by GUPP tier",
      labelNames: ["namespace", "town", "tier"] as const,
      registers,
    }),
    escalations: new Counter({
      name: "gastown_escalations_total",
      help: "Escalations raised, by severity",
      labelNames: ["namespace", "town", "severity"] as const,
      registers,
    }),
    invariantViolations: new Counter({
      name: "gastown_invariant_violations_total",
      help: "Invariant violations detected after planning",
      labelNames: ["namespace", "town", "invariant"] as const,
      registers,
    }),
    reportLag: new Histogram({
      name: "gastown_report_lag_seconds",
      help: "Time from an AgentReport's creation to its application",
      labelNames: ["namespace", "town", "type"] as const,
      buckets: REPORT_LAG_BUCKETS,
      registers,
    }),
    planDuration: new Histogram({
      name: "gastown_plan_duration_seconds",
      help: "Time spent in the pure planner per town",
      labelNames: ["namespace", "town"] as const,
      buckets: PLAN_BUCKETS,
      registers,
    }),
    snapshotDuration: new Histogram({
      name: "gastown_snapshot_duration_seconds",
      help: "Time spent assembling a town's snapshot from the caches (validated views), per reconcile",
      labelNames: ["namespace", "town"] as const,
      buckets: PLAN_BUCKETS,
      registers,
    }),
    actions: new Counter({
      name: "gastown_actions_total",
      help: "Corrective actions planned, by type",
      labelNames: ["namespace", "town", "type"] as const,
      registers,
    }),
    sessionStartFailures: new Counter({
      name: "gastown_session_start_failures_total",
      help: "Sessions the runtime could not start (admission or quota refusals, missing objects), by reason",
      labelNames: ["namespace", "town", "rig", "reason"] as const,
      registers,
    }),
    tokens: new Counter({
      name: "gastown_tokens_total",
      help: "Tokens used by the town's agent sessions as their CLIs reported them, by type (input, output, cache_read, cache_write)",
      labelNames: ["namespace", "town", "type"] as const,
      registers,
    }),
    costUSD: new Counter({
      name: "gastown_cost_usd_total",
      help: "What the town's agent sessions cost in US dollars, where the CLI reports a cost",
      labelNames: ["namespace", "town"] as const,
      registers,
    }),
    escalationsOpen: new Gauge({
      name: "gastown_escalations_open",
      help: "Escalations on the Town's status that nobody acknowledged yet",
      labelNames: ["namespace", "town"] as const,
      registers,
    }),
    townCondition: new Gauge({
      name: "gastown_town_condition",
      help: "The conditions a Town reports: 1 per type, status and reason currently set",
      labelNames: ["namespace", "town", "type", "status", "reason"] as const,
      registers,
    }),
    apiWrites: new Counter({
      name: "gastown_api_writes_total",
      help: "Writes the operator sent to the Kubernetes API (every POST, PUT, PATCH and DELETE, counted by src/kube)",
      labelNames: ["verb", "resource"] as const,
      registers,
    }),
  };

  const events: EventRecorderMetrics = {
    dropped: new Counter({
      name: "event_recorder_dropped_total",
      help: "Kubernetes Events dropped instead of written, by reason (queue_full, rate_limited, write_failed)",
      labelNames: ["reason"] as const,
      registers,
    }),
  };

  return { registry, restClient, reconcile, workqueue, leaderElection, events, gastown };
}
