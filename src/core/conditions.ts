// Condition bookkeeping per the Kubernetes API conventions: lastTransitionTime moves only when
// status flips, and abnormal-true conditions (Stalled, Blocked, Degraded, Escalated) are removed
// rather than set to False, as kstatus expects.
import type { Condition } from "../api/meta.ts";
import { formatTime } from "./time.ts";

export interface DesiredCondition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
}

export function findCondition(list: readonly Condition[], type: string): Condition | undefined {
  return list.find((c) => c.type === type);
}

export function isTrue(list: readonly Condition[], type: string): boolean {
  return findCondition(list, type)?.status === "True";
}

/** Returns the list with `want` set; the same array when nothing would change. */
export function setCondition(
  list: readonly Condition[],
  want: DesiredCondition,
  now: number,
  observedGeneration?: number,
): readonly Condition[] {
  const old = findCondition(list, want.type);
  if (
    old &&
    old.status === want.status &&
    old.reason === want.reason &&
    old.message === want.message &&
    old.observedGeneration === observedGeneration
  ) {
    return list;
  }
  const next: Condition = {
    type: want.type,
    status: want.status,
    reason: want.reason,
    message: want.message.slice(0, 32768),
    lastTransitionTime: old && old.status === want.status ? old.lastTransitionTime : formatTime(now),
    ...(observedGeneration === undefined ? {} : { observedGeneration }),
  };
  return old ? list.map((c) => (c.type === want.type ? next : c)) : [...list, next];
}

/** Removes a condition; the same array when it is absent. */
export function removeCondition(list: readonly Condition[], type: string): readonly Condition[] {
  return findCondition(list, type) ? list.filter((c) => c.type !== type) : list;
}

/** Sets an abnormal-true condition when `active`, removes it otherwise. */
export function setAbnormal(
  list: readonly Condition[],
  type: string,
  active: { reason: string; message: string } | undefined,
  now: number,
  observedGeneration?: number,
): readonly Condition[] {
  return active
    ? setCondition(list, { type, status: "True", ...active }, now, observedGeneration)
    : removeCondition(list, type);
}

/** Condition changes worth an Event: a new condition, or a status flip. */
export function transitions(before: readonly Condition[], after: readonly Condition[]): Condition[] {
  const out: Condition[] = [];
  for (const c of after) {
    const old = findCondition(before, c.type);
    if (!old || old.status !== c.status || old.reason !== c.reason) out.push(c);
  }
  return out;
}
