// Budgets (docs/rules.md, "Usage and budgets"): spend caps that stop new sessions, not running
// ones — except a bead's own cap, which stops that bead's session. A capped bead is held
// (BudgetExceeded: Open, not dispatched, not charged, Stalled=True naming the cap and how to raise
// it); a Town over its daily cap also holds every new session (dispatch, retry, redo, review) and
// is Ready=False/BudgetExceeded. Raising the cap (or the next UTC day, for the Town's) releases
// the holds by itself.
import type { Budget, Usage } from "../../api/usage.ts";
import type { Draft } from "../draft.ts";
import type { BeadView } from "../snapshot.ts";
import { isTerminal } from "../snapshot.ts";
import { convoyUsage, nextUtcMidnight, townUsageToday } from "./usage.ts";
import { escalationId, holdBead, why } from "./work.ts";

export const BUDGET_HOLD = "BudgetExceeded";

/** Which cap of `b` the usage reached, in words; undefined while under every cap. */
export function overBudget(u: Usage | undefined, b: Budget | undefined): string | undefined {
  if (!b) return undefined;
  const tokens = u?.tokens ?? 0;
  const cost = u?.costUSD ?? 0;
  if (b.tokens !== undefined && tokens >= b.tokens) return `tokens: ${b.tokens}`;
  if (b.costUSD !== undefined && cost >= b.costUSD) return `costUSD: ${b.costUSD}`;
  return undefined;
}

/** Whether any cap applies to the bead's spend (its usage is then recorded at every change). */
export function budgeted(d: Draft, bead: BeadView): boolean {
  const convoy = bead.spec.convoy ? d.convoy(bead.spec.convoy) : undefined;
  return !!(bead.spec.budget || convoy?.spec.budget || d.snap.config.dailyBudget);
}

/** The Town's daily cap, when spent: the message its Ready condition and dispatch holds carry. */
export function townBudgetSpent(d: Draft): string | undefined {
  // No cap, nothing to sum: today's spend is a pass over every bead's sessions.
  if (!d.snap.config.dailyBudget) return undefined;
  const cap = overBudget(townUsageToday(d), d.snap.config.dailyBudget);
  if (!cap) return undefined;
  d.wake.at(nextUtcMidnight(d.now));
  return `the town's daily budget is spent (spec.budget.daily.${cap}); no new session starts until it is raised or the UTC day ends; running sessions finish`;
}

interface Cause {
  scope: string;
  message: string;
  /** A bead's own cap stops its running session; the others only hold new ones. */
  stop: boolean;
}

function causeFor(
  d: Draft,
  bead: BeadView,
  town: string | undefined,
  convoyUsages: Map<string, Usage | undefined>,
): Cause | undefined {
  const own = overBudget(bead.state.usage, bead.spec.budget);
  if (own) {
    return {
      scope: bead.name,
      message: `${bead.name} reached its budget (spec.budget.${own}): raise it to continue, or cancel the bead`,
      stop: true,
    };
  }
  const convoy = bead.spec.convoy ? d.convoy(bead.spec.convoy) : undefined;
  // The convoy's beads are summed only when it has a cap, once per plan: holds change no usage.
  let capped: string | undefined;
  if (convoy?.spec.budget) {
    if (!convoyUsages.has(convoy.name)) convoyUsages.set(convoy.name, convoyUsage(d, convoy.name));
    capped = overBudget(convoyUsages.get(convoy.name), convoy.spec.budget);
  }
  if (convoy && capped) {
    return {
      scope: `convoy-${convoy.name}`,
      message: `convoy ${convoy.name} reached its budget (spec.budget.${capped}): raise it on the Convoy to continue`,
      stop: false,
    };
  }
  if (town) return { scope: `town-${d.snap.config.name}`, message: town, stop: false };
  return undefined;
}

/**
 * Holds what a spent budget blocks and releases what a raised one no longer does. Runs before the
 * review queue and dispatch; the Town's cap is also returned for dispatchBlocked.
 */
export function enforceBudgets(d: Draft): string | undefined {
  const town = townBudgetSpent(d);
  const escalated = new Set<string>();
  const convoyUsages = new Map<string, Usage | undefined>();
  for (const snapBead of d.snap.activeBeads) {
    const bead = d.current(snapBead);
    if (bead.spec.type !== "Issue" || isTerminal(bead.state.phase) || bead.spec.cancel) continue;
    const held = bead.state.hold?.reason === BUDGET_HOLD;
    if (bead.state.hold && !held) continue; // another hold (configuration) says what to fix first
    const cause = causeFor(d, bead, town, convoyUsages);
    if (held) {
      if (!cause) release(d, bead);
      continue;
    }
    if (!cause) continue;
    // Running work finishes unless it is the bead's own cap; finished work (InReview) is never held.
    const running = bead.state.phase === "InProgress";
    if (bead.state.phase === "InReview" || (running && !cause.stop)) continue;
    if (running) {
      // The session that ran past the cap is not charged: raising the cap gives the bead its turn back.
      d.updateBead(
        bead.name,
        { attempts: Math.max(0, bead.state.attempts - (bead.state.sessionCharged ? 1 : 0)) },
        undefined,
      );
    }
    holdBead(d, d.bead(bead.name) as BeadView, BUDGET_HOLD, cause.message, "Medium", { escalate: false });
    const id = escalationId(BUDGET_HOLD, cause.scope);
    if (!escalated.has(id)) {
      escalated.add(id);
      d.escalate({
        id,
        severity: "Medium",
        reason: BUDGET_HOLD,
        message: cause.message,
        ...(cause.stop ? { bead: bead.name } : {}),
      });
    }
  }
  return town;
}

function release(d: Draft, bead: BeadView): void {
  d.updateBead(
    bead.name,
    { hold: undefined, phase: "Open", phaseSince: d.now, reason: "BudgetRaised" },
    why("BudgetRaised", `${bead.name} is within its budgets again and can be dispatched`),
  );
  // Like a configuration hold's probe: dispatched at once, no back-off (the cap, not the work, stopped it).
  d.probing.add(bead.name);
  // Its escalation goes with the hold (one per cap: the bead's own, its convoy's or the town's).
  d.resolved.add(escalationId(BUDGET_HOLD, bead.name));
  if (bead.spec.convoy) d.resolved.add(escalationId(BUDGET_HOLD, `convoy-${bead.spec.convoy}`));
  d.resolved.add(escalationId(BUDGET_HOLD, `town-${d.snap.config.name}`));
}
