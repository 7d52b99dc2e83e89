// The status of a town as one plain object: what `kubectl gt status` draws and `-o json|yaml` prints.
// Pure: objects and a clock in, the view out, so the same code serves one-shot and --watch and is
// unit-tested without a cluster. Times stay absolute (RFC 3339) here; the renderer turns them into ages.
import type { Agent } from "../../api/agent.ts";
import type { Bead } from "../../api/bead.ts";
import type { Convoy } from "../../api/convoy.ts";
import type { Condition } from "../../api/meta.ts";
import type { Escalation, Town } from "../../api/town.ts";
import type { TownObjects } from "../objects.ts";

export const STATUS_API_VERSION = "cli.gastown.dev/v1alpha1";

/** Why a bead is on the attention list, most urgent first (the order of this array). */
export const ATTENTION = [
  "Held",
  "Failed",
  "Escalated",
  "InvalidRig",
  "WaitingForCapacity",
  "WaitingForRetry",
  "Blocked",
] as const;
export type Attention = (typeof ATTENTION)[number];

export interface ConditionView {
  status: string;
  reason: string;
  message: string;
  since?: string;
}

export interface RigView {
  name: string;
  mergeStrategy: string;
  defaultBranch: string;
  gates: number;
  polecats: { working: number; total: number; max: number };
  refinery?: { name: string; phase: string; hook?: string };
}

export interface AgentRow {
  name: string;
  role: string;
  rig: string;
  phase: string;
  hook?: string;
  session?: number;
  lastActivity?: string;
  lastActivityKind?: string;
  nudges: number;
  lastNudge?: { tier: string; time: string; message: string };
  escalated?: ConditionView;
}

export interface ConvoyRow {
  name: string;
  title: string;
  phase: string;
  mergeMode: string;
  staged: boolean;
  /** Tasks Closed (merged), and Failed (cancelled ones included), as the operator counts them. */
  closed: number;
  failed: number;
  total: number;
  landing?: string;
  /** The convoy's Stalled (or Ready=False) condition, when it has one worth showing. */
  problem?: ConditionView;
}

export interface BeadRow {
  name: string;
  type: string;
  phase: string;
  rig?: string;
  convoy?: string;
  assignee?: string;
  attention?: Attention;
  /** The reason shown next to the bead: its hold's, or the Stalled, Blocked or Ready condition's. */
  reason?: string;
  message?: string;
  /** Since when it is where it is: held since, else its last phase transition. */
  since?: string;
  dispatchAttempts?: number;
  /** The town's budget of sessions per bead (limits.maxDispatchAttempts). */
  maxDispatchAttempts?: number;
  /** Retries the operator has acted on (status.retry). */
  retries?: number;
  /** Why its last session failed to start or run, in the runtime's words (until one runs). */
  lastFailure?: { reason: string; message: string; time: string };
  /** A configuration hold: when a session is tried again by itself (a Town spec change tries at once). */
  probeAt?: string;
}

/** A Convoy or Bead naming a Town that does not exist in the namespace. */
export interface OrphanRow {
  kind: "Convoy" | "Bead";
  name: string;
  town: string;
  phase: string;
  /** The operator's TownNotFound condition, or the CLI's own finding while it has not written one. */
  reason: string;
  message: string;
  since?: string;
}

/** An escalation as the operator keeps it on Town.status.escalations (all fields passed through). */
export type EscalationView = Escalation;

export interface CircuitBreakerView {
  open: boolean;
  since?: string;
  /** Failed sessions counted now, and the limit that opens the breaker. */
  failures: number;
  maxFailedSessions: number;
  /** The beads whose sessions failed, each once, by name. */
  beads: string[];
  /** The Town's Ready message while open (what failed, and how to close it). */
  message?: string;
}

export interface TownView {
  name: string;
  namespace: string;
  ready: ConditionView;
  suspended: boolean;
  /** false while the operator has not seen the latest spec (e.g. it is not running). */
  observed: boolean;
  degraded?: ConditionView;
  rigs: RigView[];
  agents: AgentRow[];
  convoys: ConvoyRow[];
  /** Beads that are not Closed, attention first; Closed beads are only counted. */
  beads: BeadRow[];
  closedBeads: number;
  /** Unacknowledged first (most severe first, then by id), then acknowledged ones. */
  escalations: EscalationView[];
  circuitBreaker: CircuitBreakerView;
  violations: { invariant: number; message: string; object?: string }[];
}

export interface StatusDocument {
  apiVersion: typeof STATUS_API_VERSION;
  kind: "TownStatus";
  namespace: string;
  towns: TownView[];
  /** Convoys and beads whose Town does not exist: nothing dispatches them until it does. */
  orphans: OrphanRow[];
}

function condition(list: readonly Condition[] | undefined, type: string): ConditionView | undefined {
  const c = list?.find((x) => x.type === type);
  return c ? { status: c.status, reason: c.reason, message: c.message, since: c.lastTransitionTime } : undefined;
}

const isTrue = (list: readonly Condition[] | undefined, type: string) => condition(list, type)?.status === "True";

function attentionOf(bead: Bead, rigs: ReadonlySet<string>, escalated: ReadonlySet<string>): Attention | undefined {
  const s = bead.status;
  const phase = s?.phase ?? "Open";
  if (phase === "Closed") return undefined;
  if (phase === "Failed") return s?.resolution === "Cancelled" ? undefined : "Failed";
  if (s?.hold) return "Held";
  if (escalated.has(bead.metadata.name)) return "Escalated";
  if (bead.spec.rig && !rigs.has(bead.spec.rig)) return "InvalidRig";
  const ready = condition(s?.conditions, "Ready");
  if (ready?.reason === "WaitingForCapacity") return "WaitingForCapacity";
  if (ready?.reason === "WaitingForRetry") return "WaitingForRetry";
  if (isTrue(s?.conditions, "Blocked")) return "Blocked";
  return undefined;
}

/** A configuration hold's own words, without the "tried again …" the operator appends (the view says when). */
const holdCause = (message: string) => message.split("; tried")[0] ?? message;

function beadRow(bead: Bead, attention: Attention | undefined, maxDispatchAttempts: number): BeadRow {
  const s = bead.status;
  const failure = s?.lastFailure && attention !== undefined ? s.lastFailure : undefined;
  const cannotStart = attention === "Held" && s?.hold?.reason === "SessionCannotStart" ? s.hold : undefined;
  const shown =
    (attention === "Held" && s?.hold
      ? { status: "True", reason: s.hold.reason, message: s.hold.message, since: s.hold.since }
      : undefined) ??
    (attention === "Failed" ? condition(s?.conditions, "Stalled") : undefined) ??
    (attention === "Blocked" ? condition(s?.conditions, "Blocked") : undefined) ??
    condition(s?.conditions, "Ready");
  const reason = attention === "InvalidRig" ? "UnknownRig" : shown?.reason;
  const message =
    attention === "InvalidRig"
      ? `rig ${bead.spec.rig} is not a rig of the town`
      : cannotStart
        ? failure
          ? `${failure.reason}: ${failure.message}`
          : holdCause(cannotStart.message)
        : attention === "WaitingForRetry" && failure
          ? `last session: ${failure.reason}: ${failure.message}`
          : (shown?.message ?? s?.reason);
  const since = attention === "Held" ? s?.hold?.since : s?.lastPhaseTransitionTime;
  return {
    name: bead.metadata.name,
    type: bead.spec.type ?? "Issue",
    phase: s?.phase ?? "Open",
    ...(bead.spec.rig ? { rig: bead.spec.rig } : {}),
    ...(bead.spec.convoy ? { convoy: bead.spec.convoy } : {}),
    ...(s?.assignee ? { assignee: s.assignee } : {}),
    ...(attention ? { attention } : {}),
    ...(reason ? { reason } : {}),
    ...(message ? { message } : {}),
    ...(since ? { since } : {}),
    ...(s?.dispatchAttempts ? { dispatchAttempts: s.dispatchAttempts, maxDispatchAttempts } : {}),
    ...(s?.retry ? { retries: s.retry } : {}),
    ...(failure ? { lastFailure: { ...failure } } : {}),
    ...(cannotStart?.probeAt ? { probeAt: cannotStart.probeAt } : {}),
  };
}

const PHASE_ORDER: Record<string, number> = { InProgress: 0, InReview: 1, Open: 2, Failed: 3 };

function byAttention(a: BeadRow, b: BeadRow): number {
  const rank = (r: BeadRow) => (r.attention ? ATTENTION.indexOf(r.attention) : ATTENTION.length);
  return rank(a) - rank(b) || (PHASE_ORDER[a.phase] ?? 9) - (PHASE_ORDER[b.phase] ?? 9) || a.name.localeCompare(b.name);
}

function agentRow(a: Agent): AgentRow {
  const s = a.status;
  const nudges = s?.nudges ?? [];
  const last = nudges[nudges.length - 1];
  const activity = s?.lastActivityTime ?? s?.lastHeartbeat;
  const escalated = isTrue(s?.conditions, "Escalated") ? condition(s?.conditions, "Escalated") : undefined;
  return {
    name: a.metadata.name,
    role: a.spec.role,
    rig: a.spec.rig,
    phase: s?.phase ?? "Idle",
    ...(a.spec.hook ? { hook: a.spec.hook } : {}),
    ...(s?.session ? { session: s.session } : {}),
    ...(activity ? { lastActivity: activity } : {}),
    ...(s?.lastActivityKind ? { lastActivityKind: s.lastActivityKind } : {}),
    nudges: nudges.length,
    ...(last ? { lastNudge: { tier: last.tier, time: last.time, message: last.message } } : {}),
    ...(escalated ? { escalated } : {}),
  };
}

function convoyRow(c: Convoy): ConvoyRow {
  const s = c.status;
  const stalled = isTrue(s?.conditions, "Stalled") ? condition(s?.conditions, "Stalled") : undefined;
  const ready = condition(s?.conditions, "Ready");
  const invalid = ready?.status === "False" && ready.reason === "InvalidTasks" ? ready : undefined;
  const problem = stalled ?? invalid;
  return {
    name: c.metadata.name,
    title: c.spec.title,
    phase: s?.phase ?? (c.spec.staged ? "Staged" : "Pending"),
    mergeMode: c.spec.mergeMode ?? "ReviewThenLand",
    staged: c.spec.staged === true,
    closed: s?.progress?.closed ?? 0,
    failed: s?.progress?.failed ?? 0,
    total: s?.progress?.total ?? c.spec.tasks.length,
    ...(s?.landing?.bead ? { landing: s.landing.bead } : {}),
    ...(problem ? { problem } : {}),
  };
}

const SEVERITY_RANK: Record<string, number> = { Critical: 0, High: 1, Medium: 2, Low: 3 };

/** The Town's durable escalations: open ones first, the most severe first, then by id (a stable order). */
function escalationsOf(town: Town): EscalationView[] {
  const rank = (e: Escalation) => (e.acknowledged ? 10 : 0) + (SEVERITY_RANK[e.severity] ?? 4);
  return [...(town.status?.escalations ?? [])].sort((a, b) => rank(a) - rank(b) || a.id.localeCompare(b.id));
}

function circuitBreakerOf(town: Town): CircuitBreakerView {
  const cb = town.status?.circuitBreaker;
  const failures = cb?.recentFailures ?? [];
  const ready = condition(town.status?.conditions, "Ready");
  return {
    open: cb?.open === true,
    ...(cb?.open && cb.openedTime ? { since: cb.openedTime } : {}),
    failures: failures.length,
    maxFailedSessions: town.spec.limits?.maxFailedSessions ?? 20,
    beads: [...new Set(failures.flatMap((f) => (f.bead ? [f.bead] : [])))].sort(),
    ...(cb?.open && ready?.reason === "CircuitBreakerOpen" ? { message: ready.message } : {}),
  };
}

export function townView(town: Town, objects: TownObjects): TownView {
  const name = town.metadata.name;
  const mine = <T extends { spec: { town: string } }>(list: T[]) => list.filter((o) => o.spec.town === name);
  const agents = mine(objects.agents)
    .map(agentRow)
    .sort((a, b) => a.name.localeCompare(b.name));
  const escalations = escalationsOf(town);
  // A bead is escalated while an open escalation names it, or the agent working on it is Escalated.
  const escalated = new Set([
    ...escalations.flatMap((e) => (!e.acknowledged && e.bead ? [e.bead] : [])),
    ...agents.flatMap((a) => (a.escalated && a.hook ? [a.hook] : [])),
  ]);
  const rigNames = new Set(town.spec.rigs.map((r) => r.name));
  const beads = mine(objects.beads);
  const rows = beads
    .filter((b) => b.status?.phase !== "Closed")
    .map((b) => beadRow(b, attentionOf(b, rigNames, escalated), town.spec.limits?.maxDispatchAttempts ?? 5))
    .sort(byAttention);
  const rigs: RigView[] = town.spec.rigs.map((r) => {
    const polecats = agents.filter((a) => a.rig === r.name && a.role === "Polecat");
    const refinery = agents.find((a) => a.rig === r.name && a.role === "Refinery");
    return {
      name: r.name,
      mergeStrategy: r.mergeStrategy ?? "Direct",
      defaultBranch: r.defaultBranch ?? "main",
      gates: r.gates?.length ?? 0,
      polecats: {
        working: polecats.filter((a) => a.phase === "Working").length,
        total: polecats.length,
        max: town.spec.limits?.maxPolecatsPerRig ?? 5,
      },
      ...(refinery
        ? {
            refinery: { name: refinery.name, phase: refinery.phase, ...(refinery.hook ? { hook: refinery.hook } : {}) },
          }
        : {}),
    };
  });
  const ready = condition(town.status?.conditions, "Ready") ?? {
    status: "Unknown",
    reason: "NotReconciled",
    message: "the operator has not reconciled this town yet",
  };
  const degraded = isTrue(town.status?.conditions, "Degraded")
    ? condition(town.status?.conditions, "Degraded")
    : undefined;
  return {
    name,
    namespace: town.metadata.namespace ?? "",
    ready,
    suspended: town.spec.suspend === true,
    observed: (town.status?.observedGeneration ?? -1) >= (town.metadata.generation ?? 0),
    ...(degraded ? { degraded } : {}),
    rigs,
    agents,
    convoys: mine(objects.convoys)
      .map(convoyRow)
      .sort((a, b) => a.name.localeCompare(b.name)),
    beads: rows,
    closedBeads: beads.length - rows.length,
    escalations,
    circuitBreaker: circuitBreakerOf(town),
    violations: (town.status?.violations ?? []).map((v) => ({ ...v })),
  };
}

function orphanRow(kind: OrphanRow["kind"], o: Convoy | Bead, namespace: string): OrphanRow {
  const ready = condition(o.status?.conditions, "Ready");
  const said = ready?.status === "False" && ready.reason === "TownNotFound" ? ready : undefined;
  const phase = o.status?.phase ?? (kind === "Bead" ? "Open" : "Pending");
  return {
    kind,
    name: o.metadata.name,
    town: o.spec.town,
    phase,
    reason: "TownNotFound",
    message:
      said?.message ??
      `town ${o.spec.town} does not exist in namespace ${namespace}: create it, or set spec.town to an existing Town`,
    ...(said?.since ? { since: said.since } : {}),
  };
}

/** Convoys and beads naming a town that is not there (of the one town asked for, if any). */
export function orphansOf(namespace: string, objects: TownObjects, only?: string): OrphanRow[] {
  const towns = new Set(objects.towns.map((t) => t.metadata.name));
  const lost = <T extends Convoy | Bead>(list: T[]) =>
    list
      .filter((o) => !towns.has(o.spec.town) && (only === undefined || o.spec.town === only))
      .sort((a, b) => a.spec.town.localeCompare(b.spec.town) || a.metadata.name.localeCompare(b.metadata.name));
  return [
    ...lost(objects.convoys).map((c) => orphanRow("Convoy", c, namespace)),
    ...lost(objects.beads).map((b) => orphanRow("Bead", b, namespace)),
  ];
}

export function statusDocument(namespace: string, objects: TownObjects, only?: string): StatusDocument {
  const towns = objects.towns
    .filter((t) => only === undefined || t.metadata.name === only)
    .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  return {
    apiVersion: STATUS_API_VERSION,
    kind: "TownStatus",
    namespace,
    towns: towns.map((t) => townView(t, objects)),
    orphans: orphansOf(namespace, objects, only),
  };
}
