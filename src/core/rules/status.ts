// The status pass, after every rule ran: conditions of beads and agents, and the town's summary.
// Written only where something changed, so a quiet town makes no writes at all.
import type { BeadPhase } from "../../api/bead.ts";
import type { Condition } from "../../api/meta.ts";
import type { TownStatus, Violation } from "../../api/town.ts";
import type { Why } from "../actions.ts";
import { setAbnormal, setCondition, transitions } from "../conditions.ts";
import type { Draft } from "../draft.ts";
import type { AgentView, BeadView } from "../snapshot.ts";
import { isTerminal } from "../snapshot.ts";
import { sameValue, withRemovals } from "../status-patch.ts";
import { blocks, inStagedConvoy, openBlockers } from "./beads.ts";
import { breakerMessage, circuitBreakerStatus } from "./circuit-breaker.ts";
import { mergeEscalations } from "./escalations.ts";
import { townUsage, townUsageToday } from "./usage.ts";
import { openReworks, why } from "./work.ts";

function conditionEvents(before: readonly Condition[], after: readonly Condition[]): Why[] {
  return transitions(before, after)
    .filter((c) => before.find((b) => b.type === c.type)?.status !== c.status)
    .map((c) =>
      why(c.reason, `${c.type}=${c.status}: ${c.message}`.slice(0, 1000), c.status === "True" && c.type !== "Ready"),
    );
}

function beadReadiness(
  d: Draft,
  bead: BeadView,
  blockers: string[],
): { status: "True" | "False"; reason: string; message: string } {
  const s = bead.state;
  switch (s.phase) {
    case "Closed":
      return {
        status: "True",
        reason: s.resolution ?? "Closed",
        message: s.mergedBy ? `merged by ${s.mergedBy}` : "closed",
      };
    case "Failed":
      return { status: "False", reason: s.resolution ?? "Failed", message: s.reason ?? "failed" };
    case "InProgress":
      return { status: "False", reason: "InProgress", message: `${s.assignee ?? "an agent"} is working on it` };
    case "InReview":
      return { status: "False", reason: "InReview", message: "waiting for its merge request" };
  }
  if (s.hold) return { status: "False", reason: s.hold.reason, message: s.hold.message };
  if (bead.spec.rig && !d.snap.config.rigs.has(bead.spec.rig)) {
    const rigs = [...d.snap.config.rigs.keys()].join(", ");
    return {
      status: "False",
      reason: "UnknownRig",
      message: `rig ${bead.spec.rig} is not a rig of town ${d.snap.config.name} (rigs: ${rigs}); fix spec.rig`,
    };
  }
  if (blockers.length > 0) return { status: "False", reason: "Blocked", message: `waiting for ${blockers.join(", ")}` };
  if (d.waitingForCapacity.has(bead.name)) {
    return { status: "False", reason: "WaitingForCapacity", message: "all polecats of the rig or town are busy" };
  }
  if (!bead.spec.rig) return { status: "False", reason: "NoRig", message: "no rig: tracked, never dispatched" };
  if (bead.spec.type === "MergeRequest" && openReworks(d, bead.name).length > 0) {
    return {
      status: "False",
      reason: "WaitingForRework",
      message: `waiting for ${openReworks(d, bead.name).join(", ")}`,
    };
  }
  if (s.assignee) {
    const last = s.lastFailure ? ` (last session: ${s.lastFailure.reason}: ${s.lastFailure.message})` : "";
    return { status: "False", reason: "WaitingForRetry", message: `${s.assignee} retries after a back-off${last}` };
  }
  const convoy = bead.spec.convoy ? d.convoy(bead.spec.convoy) : undefined;
  if (convoy?.spec.staged) return { status: "False", reason: "Staged", message: `convoy ${convoy.name} is staged` };
  return { status: "False", reason: "Pending", message: "waiting to be dispatched" };
}

/**
 * What else a bead's conditions were found current with, by the view they were found on. A view
 * is made once per object version (the operator's Views, the test world), so a plan that sees the
 * same view with the same inputs again knows its conditions need no write without remaking them:
 * remaking them was a fifth to a quarter of a no-op plan at 10k beads. Only "nothing to write" is
 * remembered, and only where these are all the inputs: an open merge request also reads its open
 * reworks, so its conditions are always remade.
 */
interface Current {
  readonly blockers: readonly string[];
  readonly waiting: boolean;
  readonly staged: boolean;
  readonly rigs: string;
}
const current = new WeakMap<BeadView, Current>();

/**
 * Whether the bead's open dependencies are still exactly `list` (openBlockers compared with it),
 * without making the list: most beads a no-op plan looks at are staged behind dependencies.
 */
function blockersStill(d: Draft, bead: BeadView, list: readonly string[]): boolean {
  if (bead.state.phase !== "Open") return list.length === 0;
  let i = 0;
  for (const dep of bead.spec.dependsOn) {
    if (!blocks(d, dep)) continue;
    if (list[i] !== dep) return false;
    i++;
  }
  return i === list.length;
}

/** What beadReadiness reads from the town: its name, and its rigs (known or not, and listed). */
const rigsKey = (d: Draft) => `${d.snap.config.name}/${[...d.snap.config.rigs.keys()].join(",")}`;

function beadConditions(d: Draft, bead: BeadView, rigs: string): void {
  const waiting = d.waitingForCapacity.has(bead.name);
  const staged = inStagedConvoy(d, bead);
  const seen = current.get(bead);
  if (
    seen &&
    seen.waiting === waiting &&
    seen.staged === staged &&
    seen.rigs === rigs &&
    blockersStill(d, bead, seen.blockers)
  ) {
    return;
  }
  const blockers = bead.state.phase === "Open" ? openBlockers(d, bead) : [];
  const ready = beadReadiness(d, bead, blockers);
  const before = bead.state.conditions;
  let after = setCondition(before, { type: "Ready", ...ready }, d.now, bead.generation);
  after = setAbnormal(
    after,
    "Blocked",
    blockers.length > 0 ? { reason: "DependenciesOpen", message: `waiting for ${blockers.join(", ")}` } : undefined,
    d.now,
    bead.generation,
  );
  const stalled = bead.state.phase === "Failed" || bead.state.hold !== undefined || ready.reason === "UnknownRig";
  after = setAbnormal(
    after,
    "Stalled",
    stalled ? { reason: ready.reason, message: ready.message } : undefined,
    d.now,
    bead.generation,
  );
  if (after !== before || bead.state.observedGeneration !== bead.generation || bead.state.fresh) {
    // A bead's first conditions are the state it was made in (Pending, or Blocked on its
    // dependencies), which its creation already told: 168 such Events were an eighth of a
    // convoy's. Only a first Stalled (an unknown rig) is news of its own.
    const told = before.length === 0 ? after.filter((c) => c.type === "Stalled") : after;
    d.amend(
      "Bead",
      bead.name,
      { conditions: after, observedGeneration: bead.generation },
      conditionEvents(before, told),
    );
  } else if (bead.spec.type !== "MergeRequest" || bead.state.phase !== "Open") {
    current.set(bead, { blockers, waiting, staged, rigs });
  }
}

function agentConditions(d: Draft, agent: AgentView): void {
  const s = agent.state;
  const before = s.conditions;
  const stalled = s.phase === "Stalled";
  let after = setCondition(
    before,
    {
      type: "Ready",
      status: stalled ? "False" : "True",
      reason: s.phase,
      message: s.hook ? `${s.phase} on ${s.hook}` : s.phase,
    },
    d.now,
  );
  after = setAbnormal(
    after,
    "Stalled",
    stalled ? { reason: "GUPPForceStop", message: "stopped for inactivity" } : undefined,
    d.now,
  );
  if (after !== before) d.amend("Agent", agent.name, { conditions: after }, conditionEvents(before, after));
}

function count<K extends string>(keys: readonly K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, 0])) as Record<K, number>;
}

/**
 * Sessions that cannot start, for the Town's Ready message: the causes in their own words and the
 * beads they hold back. Static while the causes are (no counts that move). Gathered in the status
 * pass's walk over the active beads rather than a walk of its own.
 */
class StartTrouble {
  private held = false;
  private readonly byCause = new Map<string, string[]>();

  see(b: BeadView): void {
    const s = b.state;
    // Held for a configuration error, or retrying after sessions that failed to start (cleared
    // once one of its sessions runs).
    if (s.hold?.townGeneration !== undefined) {
      this.held = true;
      this.add(s.hold.message.split("; tried")[0] ?? s.hold.message, b.name);
    } else if (s.lastFailure && !isTerminal(s.phase))
      this.add(`${s.lastFailure.reason}: ${s.lastFailure.message}`, b.name);
  }

  private add(cause: string, bead: string): void {
    const beads = this.byCause.get(cause);
    if (beads) beads.push(bead);
    else this.byCause.set(cause, [bead]);
  }

  summary(): { message: string; held: boolean } | undefined {
    if (this.byCause.size === 0) return undefined;
    const causes = [...this.byCause].slice(0, 3).map(([cause, beads]) => `${cause} (${beads.slice(0, 5).join(", ")})`);
    return {
      message: `sessions cannot start: ${causes.join("; ")}; fix it in the Town's agents template, its Secrets or the namespace's quota, and the work resumes by itself`,
      held: this.held,
    };
  }
}

function desiredTownStatus(d: Draft, violations: Violation[], trouble: StartTrouble): TownStatus {
  const beads = count(["open", "inProgress", "inReview", "closed", "failed"] as const);
  const key = {
    Open: "open",
    InProgress: "inProgress",
    InReview: "inReview",
    Closed: "closed",
    Failed: "failed",
  } as const;
  // The snapshot counted its beads; only those this plan changed can have moved.
  for (const [phase, n] of Object.entries(d.snap.beadPhases)) beads[key[phase as BeadPhase]] += n;
  for (const name of d.touchedBeads()) {
    const before = d.snap.beads.get(name);
    if (!before) continue; // created by this plan: counted once it is observed, as before
    beads[key[before.state.phase]]--;
    beads[key[(d.bead(name) as BeadView).state.phase]]++;
  }
  const agents = count(["idle", "working", "stalled"] as const);
  for (const a of d.allAgents()) {
    agents[a.state.phase === "Idle" ? "idle" : a.state.phase === "Working" ? "working" : "stalled"]++;
  }
  // The breaker first: opening it raises an escalation, which must be merged with the others.
  const breaker = circuitBreakerStatus(d);
  const escalations = mergeEscalations(d);
  const open = escalations.filter((e) => !e.acknowledged);
  const poisoned = d.snap.processedReports.filter((r) => r.state.outcome === "Poisoned").map((r) => r.name);
  const town = d.snap.town;
  const problems = [
    ...(violations.length > 0 ? [`${violations.length} invariant violation(s): ${violations[0]?.message}`] : []),
    ...(poisoned.length > 0 ? [`poisoned reports: ${poisoned.slice(0, 5).join(", ")}`] : []),
  ];
  // Ready is True only when it is: not while invariants are violated or dispatch is held. Messages
  // are static per cause: counts live in their own fields, and a message that changed with them
  // would make every dispatch a condition transition.
  const cannotStart = trouble.summary();
  const notReady = breaker?.open
    ? { reason: "CircuitBreakerOpen", message: breakerMessage(d, breaker.recentFailures) }
    : d.budgetSpent
      ? { reason: "BudgetExceeded", message: d.budgetSpent }
      : cannotStart
        ? { reason: "AgentsCannotStart", message: cannotStart.message }
        : violations.length > 0
          ? { reason: "InvariantViolated", message: `invariant violated: ${violations[0]?.message}` }
          : undefined;
  let conditions = setCondition(
    town.status.conditions ?? [],
    notReady
      ? { type: "Ready", status: "False", ...notReady }
      : { type: "Ready", status: "True", reason: "Reconciled", message: "the town is reconciled" },
    d.now,
    town.generation,
  );
  conditions = setAbnormal(
    conditions,
    "Degraded",
    problems.length > 0
      ? { reason: violations.length > 0 ? "InvariantViolated" : "ReportsPoisoned", message: problems.join("; ") }
      : undefined,
    d.now,
    town.generation,
  );
  // A configuration error holds work until someone fixes it: Stalled, so that kstatus (Flux) shows
  // the Town Failed rather than in progress. Sessions that are only being retried are not stalled.
  conditions = setAbnormal(
    conditions,
    "Stalled",
    cannotStart?.held ? { reason: "AgentsCannotStart", message: cannotStart.message } : undefined,
    d.now,
    town.generation,
  );
  conditions = setAbnormal(
    conditions,
    "Escalated",
    open.length > 0
      ? {
          reason: "Unacknowledged",
          message: `unacknowledged escalations: ${open
            .slice(0, 10)
            .map((e) => e.id)
            .join(", ")}; acknowledge with spec.acknowledgedEscalations`,
        }
      : undefined,
    d.now,
    town.generation,
  );
  return {
    observedGeneration: town.generation,
    conditions: [...conditions],
    rigCount: d.snap.config.rigs.size,
    beads,
    agents,
    workingAgents: agents.working,
    openBeads: beads.open,
    violations: violations.slice(0, 20),
    ...(escalations.length > 0 || town.status.escalations ? { escalations } : {}),
    ...(breaker ? { circuitBreaker: breaker } : {}),
    ...usageStatus(d),
  };
}

/** The town's spend, once any session reported some (a town without agents' usage writes none). */
function usageStatus(d: Draft): Pick<TownStatus, "usage" | "usageToday"> {
  const usage = townUsage(d);
  const status = d.snap.town.status;
  if (!usage && !status.usage && !status.usageToday) return {};
  return { ...(usage ? { usage } : {}), usageToday: townUsageToday(d) };
}

function townStatus(d: Draft, violations: Violation[], trouble: StartTrouble): void {
  const want = desiredTownStatus(d, violations, trouble);
  const have = d.snap.town.status as Record<string, unknown>;
  const patch: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(want)) {
    const current = have[k] ?? (k === "violations" ? [] : undefined);
    if (!sameValue(current, v)) patch[k] = withRemovals(current, v);
  }
  if (Object.keys(patch).length === 0) return;
  d.other({
    type: "UpdateTownStatus",
    name: d.snap.config.name,
    resourceVersion: d.snap.town.resourceVersion,
    status: patch,
    events: conditionEvents(d.snap.town.status.conditions ?? [], want.conditions ?? []),
  });
}

export function writeStatus(d: Draft, violations: Violation[]): void {
  const rigs = rigsKey(d);
  const trouble = new StartTrouble();
  for (const b of d.snap.activeBeads) {
    const bead = d.current(b);
    trouble.see(bead);
    beadConditions(d, bead, rigs);
  }
  for (const name of d.touchedBeads()) {
    const observed = d.snap.beads.get(name);
    if (observed && !isTerminal(observed.state.phase)) continue; // active in the snapshot: done above
    const bead = d.bead(name) as BeadView;
    if (isTerminal(bead.state.phase)) beadConditions(d, bead, rigs);
  }
  for (const a of d.allAgents()) agentConditions(d, a);
  townStatus(d, violations, trouble);
}
