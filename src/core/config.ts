// A town's settings as the rules use them: timeouts resolved from defaults into milliseconds.
import { parseDuration } from "../api/meta.ts";
import { LimitsSchema, type Rig, TimeoutsSchema, type Town } from "../api/town.ts";
import type { Budget } from "../api/usage.ts";
import { parseTime } from "./time.ts";

export interface TimeoutsMs {
  heartbeatPeriod: number;
  heartbeatTimeout: number;
  startupGrace: number;
  staleInProgress: number;
  orphanedInReview: number;
  stuckReview: number;
  abandonedReview: number;
  orphanedPR: number;
  prPollInterval: number;
  dispatchBackoff: number[];
  guppWarn: number;
  guppEscalate: number;
  guppForceStop: number;
  nudgeDedupe: number;
  agentGC: number;
  podRetention: number;
  reportRetention: number;
  handoffMinInterval: number;
  circuitBreakerWindow: number;
  reEscalateAfter: number;
  unknownSessionReport: number;
  configurationProbe: number;
}

export interface TownConfig {
  name: string;
  namespace: string;
  uid: string;
  generation: number;
  rigs: ReadonlyMap<string, Rig>;
  maxPolecatsPerRig: number;
  maxPolecats: number;
  maxDispatchAttempts: number;
  maxReportAttempts: number;
  maxReviewCycles: number;
  maxHandoffs: number;
  maxFailedSessions: number;
  maxReEscalations: number;
  maxConfigurationProbes: number;
  timeouts: TimeoutsMs;
  suspend: boolean;
  acknowledged: ReadonlySet<string>;
  /** Failed sessions before this instant do not count towards the circuit breaker. */
  circuitBreakerReset?: number;
  /** spec.budget.daily: what the town's sessions may spend per UTC day. */
  dailyBudget?: Budget;
}

/** Resolves a Town into the rule settings. Missing blocks get the same defaults the CRD applies. */
export function townConfig(town: Town): TownConfig {
  const spec = town.spec;
  const t = TimeoutsSchema.parse(spec.timeouts ?? {});
  const limits = LimitsSchema.parse(spec.limits ?? {});
  const ms = (name: Exclude<keyof typeof t, "dispatchBackoff">) => parseDuration(t[name]);
  const rigs = new Map(spec.rigs.map((r) => [r.name, r]));
  const reset = parseTime(spec.circuitBreakerReset);
  return {
    name: town.metadata.name,
    namespace: town.metadata.namespace ?? "default",
    uid: town.metadata.uid ?? "",
    generation: town.metadata.generation ?? 0,
    rigs,
    maxPolecatsPerRig: limits.maxPolecatsPerRig,
    maxPolecats: limits.maxPolecats ?? limits.maxPolecatsPerRig * rigs.size,
    maxDispatchAttempts: limits.maxDispatchAttempts,
    maxReportAttempts: limits.maxReportAttempts,
    maxReviewCycles: limits.maxReviewCycles,
    maxHandoffs: limits.maxHandoffs,
    maxFailedSessions: limits.maxFailedSessions,
    maxReEscalations: limits.maxReEscalations,
    maxConfigurationProbes: limits.maxConfigurationProbes,
    suspend: spec.suspend ?? false,
    acknowledged: new Set(spec.acknowledgedEscalations ?? []),
    ...(reset === undefined ? {} : { circuitBreakerReset: reset }),
    ...(spec.budget?.daily ? { dailyBudget: spec.budget.daily } : {}),
    timeouts: {
      heartbeatPeriod: ms("heartbeatPeriod"),
      heartbeatTimeout: ms("heartbeatTimeout"),
      startupGrace: ms("startupGrace"),
      staleInProgress: ms("staleInProgress"),
      orphanedInReview: ms("orphanedInReview"),
      stuckReview: ms("stuckReview"),
      abandonedReview: ms("abandonedReview"),
      orphanedPR: ms("orphanedPR"),
      prPollInterval: ms("prPollInterval"),
      dispatchBackoff: t.dispatchBackoff.map(parseDuration),
      guppWarn: ms("guppWarn"),
      guppEscalate: ms("guppEscalate"),
      guppForceStop: ms("guppForceStop"),
      nudgeDedupe: ms("nudgeDedupe"),
      agentGC: ms("agentGC"),
      podRetention: ms("podRetention"),
      reportRetention: ms("reportRetention"),
      handoffMinInterval: ms("handoffMinInterval"),
      circuitBreakerWindow: ms("circuitBreakerWindow"),
      reEscalateAfter: ms("reEscalateAfter"),
      unknownSessionReport: ms("unknownSessionReport"),
      configurationProbe: ms("configurationProbe"),
    },
  };
}
