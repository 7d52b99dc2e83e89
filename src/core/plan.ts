// plan(snapshot, now): the whole reconciler as one pure function. Rules run in a fixed order over
// one draft, so later rules see earlier decisions; the result is the ordered writes, the next
// instant anything is due, and the invariant violations of the observed state.
import type { Violation } from "../api/town.ts";
import type { Action } from "./actions.ts";
import { Draft } from "./draft.ts";
import { checkInvariants } from "./invariants.ts";
import { reconcileBeads } from "./rules/beads.ts";
import { budgeted, enforceBudgets } from "./rules/budgets.ts";
import { cancelBeads } from "./rules/cancel.ts";
import { evaluateCircuitBreaker } from "./rules/circuit-breaker.ts";
import { reconcileConvoys } from "./rules/convoys.ts";
import { collectGarbage } from "./rules/gc.ts";
import { enforceGupp } from "./rules/gupp.ts";
import { applyReports } from "./rules/reports.ts";
import { applyRetries } from "./rules/retry.ts";
import { reconcileReviewQueue } from "./rules/review-queue.ts";
import { reconcileSessions } from "./rules/sessions.ts";
import { writeStatus } from "./rules/status.ts";
import { recordUsage } from "./rules/usage.ts";
import type { Snapshot } from "./snapshot.ts";

export interface Plan {
  actions: Action[];
  /** The earliest future instant a timeout or back-off expires; undefined when nothing waits. */
  nextWakeAt?: number;
  violations: Violation[];
}

export function plan(snapshot: Snapshot, now: number): Plan {
  const d = new Draft(snapshot, now);
  applyReports(d);
  reconcileSessions(d);
  recordUsage(d, (b) => budgeted(d, b));
  evaluateCircuitBreaker(d);
  applyRetries(d);
  cancelBeads(d);
  d.budgetSpent = enforceBudgets(d);
  reconcileReviewQueue(d);
  reconcileBeads(d);
  reconcileConvoys(d);
  enforceGupp(d);
  collectGarbage(d);
  const violations = checkInvariants(snapshot, now);
  writeStatus(d, violations);
  const next = d.wake.next;
  return next === undefined
    ? { actions: d.actions(), violations }
    : { actions: d.actions(), nextWakeAt: next, violations };
}
