// Turns the difference between two domain states into a JSON merge patch of the API status:
// only changed fields are sent, a field that disappeared is sent as null, times become RFC 3339.
import type { StatusPatch } from "./actions.ts";
import type { AgentState, BeadState, ConvoyState, ReportState } from "./snapshot.ts";
import { formatTime } from "./time.ts";

type Encoding = "plain" | "time" | "json";
type FieldMap<S> = ReadonlyArray<readonly [keyof S, string, Encoding]>;

function encode(value: unknown, how: Encoding, before?: unknown): unknown {
  if (value === undefined) return null;
  if (how === "time") return formatTime(value as number);
  if (how === "json") return withRemovals(toApiJson(before), toApiJson(value));
  return value;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * A merge patch merges nested objects, so a key the new value no longer has must be sent as null
 * or the API keeps it (a landing's old landedAt would stay, and every plan would write it again).
 */
export function withRemovals(before: unknown, after: unknown): unknown {
  if (!isObject(after) || !isObject(before)) return after;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(before)) if (!(k in after)) out[k] = null;
  for (const [k, v] of Object.entries(after)) out[k] = withRemovals(before[k], v);
  return out;
}

const TIME_KEYS = new Set(["time", "landedAt", "since", "probeAt", "lastUpdateTime"]);

/** Nested domain objects keep times as numbers under keys named time/landedAt/since: format them. */
function toApiJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toApiJson);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      out[k] = TIME_KEYS.has(k) && typeof v === "number" ? formatTime(v) : toApiJson(v);
    }
    return out;
  }
  return value;
}

function same(a: unknown, b: unknown, how: Encoding): boolean {
  if (how !== "json") return a === b;
  return sameValue(a, b);
}

/**
 * Deep equality of JSON-like values, blind to key order (the API does not keep it, and merge
 * patches append new keys at the end) and treating an undefined member as absent.
 */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => sameValue(x, b[i]));
  }
  if (!isObject(a) || !isObject(b)) return false;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) if (!sameValue(a[k], b[k])) return false;
  return true;
}

function diff<S>(fields: FieldMap<S>, before: S, after: S, force: ReadonlySet<keyof S> = new Set()): StatusPatch {
  const patch: StatusPatch = {};
  for (const [key, apiKey, how] of fields) {
    if (force.has(key) || !same(before[key], after[key], how)) patch[apiKey] = encode(after[key], how, before[key]);
  }
  return patch;
}

const BEAD_FIELDS: FieldMap<BeadState> = [
  ["phase", "phase", "plain"],
  ["phaseSince", "lastPhaseTransitionTime", "time"],
  ["assignee", "assignee", "plain"],
  ["attempts", "dispatchAttempts", "plain"],
  ["priorAttempts", "priorDispatchAttempts", "plain"],
  ["lastDispatch", "lastDispatchTime", "time"],
  ["branch", "branch", "plain"],
  ["prURL", "prURL", "plain"],
  ["mergeCommit", "mergeCommit", "plain"],
  ["mergedBy", "mergedBy", "plain"],
  ["resolution", "resolution", "plain"],
  ["reason", "reason", "plain"],
  ["reviewCycles", "reviewCycles", "plain"],
  ["handoffs", "handoffs", "plain"],
  ["handoffPending", "handoffPending", "plain"],
  ["forceStops", "forceStops", "plain"],
  ["forceStoppedAgent", "forceStoppedAgent", "plain"],
  ["hold", "hold", "json"],
  ["retry", "retry", "plain"],
  ["history", "history", "json"],
  ["checkpoint", "checkpoint", "json"],
  ["sessionCharged", "sessionCharged", "plain"],
  ["interruptedDispatches", "interruptedDispatches", "plain"],
  ["configurationProbes", "configurationProbes", "plain"],
  ["lastFailure", "lastFailure", "json"],
  ["usage", "usage", "json"],
  ["conversation", "conversation", "json"],
  ["observedGeneration", "observedGeneration", "plain"],
  ["conditions", "conditions", "json"],
];

const AGENT_FIELDS: FieldMap<AgentState> = [
  ["phase", "phase", "plain"],
  ["pod", "pod", "plain"],
  ["session", "session", "plain"],
  ["sessionBead", "sessionBead", "plain"],
  ["sessionStart", "sessionStartTime", "time"],
  ["lastHeartbeat", "lastHeartbeat", "time"],
  ["lastActivity", "lastActivityTime", "time"],
  ["lastActivityKind", "lastActivityKind", "plain"],
  ["activeTools", "activeTools", "plain"],
  ["idleSince", "idleSince", "time"],
  ["lastSessionExit", "lastSessionExit", "json"],
  ["nudges", "nudges", "json"],
  ["nudgeDelivery", "nudgeDelivery", "json"],
  ["conversation", "conversation", "json"],
  ["conditions", "conditions", "json"],
];

const REPORT_FIELDS: FieldMap<ReportState> = [
  ["outcome", "outcome", "plain"],
  ["processedAt", "processedAt", "time"],
  ["attempts", "attempts", "plain"],
  ["lastAttempt", "lastAttemptTime", "time"],
  ["error", "error", "plain"],
];

const CONVOY_FIELDS: FieldMap<ConvoyState> = [
  ["phase", "phase", "plain"],
  ["progress", "progress", "json"],
  ["featureBranch", "featureBranch", "plain"],
  ["landing", "landing", "json"],
  ["retry", "retry", "plain"],
  ["usage", "usage", "json"],
  ["observedGeneration", "observedGeneration", "plain"],
  ["conditions", "conditions", "json"],
];

export function beadStatusPatch(before: BeadState, after: BeadState): StatusPatch {
  // A bead whose status was never written shows no phase in `kubectl get`; its first write says Open.
  const force = before.fresh ? new Set<keyof BeadState>(["phase", "phaseSince"]) : undefined;
  return diff(BEAD_FIELDS, before, after, force);
}

export function agentStatusPatch(before: AgentState, after: AgentState): StatusPatch {
  return diff(AGENT_FIELDS, before, after);
}

export function reportStatusPatch(before: ReportState, after: ReportState): StatusPatch {
  return diff(REPORT_FIELDS, before, after);
}

export function convoyStatusPatch(before: ConvoyState, after: ConvoyState): StatusPatch {
  return diff(CONVOY_FIELDS, before, after);
}

export function isEmptyPatch(patch: StatusPatch): boolean {
  for (const _ in patch) return false;
  return true;
}
