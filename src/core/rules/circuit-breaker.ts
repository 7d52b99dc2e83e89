// The town's circuit breaker (docs/rules.md, "Circuit breaker"): when limits.maxFailedSessions
// sessions failed within timeouts.circuitBreakerWindow, no new session starts anywhere in the
// town; running work is not touched (caps block dispatch, not running work). It closes by itself
// once failures age out of the window, or at once when a person sets spec.circuitBreakerReset.
import type { FailedSession, TownStatus } from "../../api/town.ts";
import type { Draft } from "../draft.ts";
import { formatTime, parseTime } from "../time.ts";
import { escalationId } from "./work.ts";

interface Failure {
  time: number;
  agent: string;
  bead?: string;
  reason: string;
}

/** Failed sessions that still count: inside the window, and after the last reset. */
function counted(d: Draft): Failure[] {
  const cfg = d.snap.config;
  const from = Math.max(d.now - cfg.timeouts.circuitBreakerWindow, cfg.circuitBreakerReset ?? Number.NEGATIVE_INFINITY);
  const stored: Failure[] = (d.snap.town.status.circuitBreaker?.recentFailures ?? []).flatMap((f) => {
    const time = parseTime(f.time);
    return time === undefined ? [] : [{ time, agent: f.agent, ...(f.bead ? { bead: f.bead } : {}), reason: f.reason }];
  });
  return [...stored, ...d.failedSessions].filter((f) => f.time >= from);
}

/** Decides, after sessions were checked and before anything is dispatched, whether dispatch is held. */
export function evaluateCircuitBreaker(d: Draft): void {
  d.breakerOpen = counted(d).length >= d.snap.config.maxFailedSessions;
}

/** The breaker's part of the town status, with its next deadline; an escalation when it opens. */
export function circuitBreakerStatus(d: Draft): NonNullable<TownStatus["circuitBreaker"]> | undefined {
  const cfg = d.snap.config;
  const failures = counted(d)
    .sort((a, b) => a.time - b.time)
    .slice(-cfg.maxFailedSessions);
  const open = failures.length >= cfg.maxFailedSessions;
  const before = d.snap.town.status.circuitBreaker;
  if (failures.length === 0 && !before) return undefined;
  const oldest = failures[0];
  if (oldest) d.wake.at(oldest.time + cfg.timeouts.circuitBreakerWindow + 1);
  const wasOpen = before?.open === true;
  if (open && !wasOpen) {
    d.escalate({
      id: escalationId("CircuitBreakerOpen", cfg.name),
      severity: "Critical",
      reason: "CircuitBreakerOpen",
      message: breakerMessage(d, failures),
    });
  }
  const openedTime = open ? (wasOpen ? before?.openedTime : formatTime(d.now)) : undefined;
  return {
    open,
    ...(openedTime ? { openedTime } : {}),
    recentFailures: failures.map(
      (f): FailedSession => ({
        time: formatTime(f.time),
        agent: f.agent,
        ...(f.bead ? { bead: f.bead } : {}),
        reason: f.reason,
      }),
    ),
  };
}

export function breakerMessage(d: Draft, failures: readonly { bead?: string; reason: string }[]): string {
  const cfg = d.snap.config;
  const beads = [...new Set(failures.map((f) => f.bead).filter(Boolean))].slice(0, 5);
  return (
    `${failures.length} sessions failed within ${cfg.timeouts.circuitBreakerWindow / 60000} min ` +
    `(limits.maxFailedSessions ${cfg.maxFailedSessions}); no new session starts until they age out ` +
    `or spec.circuitBreakerReset is set to now${beads.length > 0 ? `; beads: ${beads.join(", ")}` : ""}`
  );
}
