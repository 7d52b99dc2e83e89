// The status of a town as one plain object: what `kubectl gt status` draws and `-o json|yaml` prints.
// Pure: objects and a clock in, the view out, so the same code serves one-shot and --watch and is
// unit-tested without a cluster. Times stay absolute (RFC 3339) here; the renderer turns them into ages.
import type { Agent } from "../../api/agent.ts";
import type { Bead } from "../../api/bead.ts";
import type { Convoy } from "../../api/convoy.ts";
import type { Condition } from "../../api/meta.ts";
import type { Town } from "../../api/town.ts";
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
  /** The reason shown next to the bead: the Stalled, Blocked or Ready condition's. */
  reason?: string;
  message?: string;
  since?: string;
  dispatchAttempts?: number;
}

export interface EscalationView {
  agent?: string;
  bead?: string;
  severity?: string;
  reason: string;
  message: string;
  since?: string;
  acknowledged?: boolean;
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
  escalations: EscalationView[];
  /** undefined: this operator version reports no circuit breaker. */
  circuitBreaker?: { open: boolean; reason?: string; message?: string; since?: string };
  violations: { invariant: number; message: string; object?: string }[];
}

export interface StatusDocument {
  apiVersion: typeof STATUS_API_VERSION;
  kind: "TownStatus";
  namespace: string;
  towns: TownView[];
}

function condition(list: readonly Condition[] | undefined, type: string): ConditionView | undefined {
  const c = list?.find((x) => x.type === type);
  return c ? { status: c.status, reason: c.reason, message: c.message, since: c.lastTransitionTime } : undefined;
}

const isTrue = (list: readonly Condition[] | undefined, type: string) => condition(list, type)?.status === "True";

function attentionOf(
  bead: Bead,
  rigs: ReadonlySet<string>,
  escalatedHooks: ReadonlySet<string>,
): Attention | undefined {
  const s = bead.status;
  const phase = s?.phase ?? "Open";
  if (phase === "Closed") return undefined;
  if (phase === "Failed") return s?.resolution === "Cancelled" ? undefined : "Failed";
  if (isTrue(s?.conditions, "Stalled")) return "Held";
  if (escalatedHooks.has(bead.metadata.name)) return "Escalated";
  if (bead.spec.rig && !rigs.has(bead.spec.rig)) return "InvalidRig";
  const ready = condition(s?.conditions, "Ready");
  if (ready?.reason === "WaitingForCapacity") return "WaitingForCapacity";
  if (ready?.reason === "WaitingForRetry") return "WaitingForRetry";
  if (isTrue(s?.conditions, "Blocked")) return "Blocked";
  return undefined;
}

function beadRow(bead: Bead, attention: Attention | undefined): BeadRow {
  const s = bead.status;
  const shown =
    (attention === "Held" || attention === "Failed" ? condition(s?.conditions, "Stalled") : undefined) ??
    (attention === "Blocked" ? condition(s?.conditions, "Blocked") : undefined) ??
    condition(s?.conditions, "Ready");
  const reason = attention === "InvalidRig" ? "UnknownRig" : shown?.reason;
  const message =
    attention === "InvalidRig" ? `rig ${bead.spec.rig} is not a rig of the town` : (shown?.message ?? s?.reason);
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
    ...(s?.lastPhaseTransitionTime ? { since: s.lastPhaseTransitionTime } : {}),
    ...(s?.dispatchAttempts ? { dispatchAttempts: s.dispatchAttempts } : {}),
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

/** Durable escalations on the Town's status (issue 8), else the agents' Escalated conditions. */
function escalationsOf(town: Town, agents: AgentRow[]): EscalationView[] {
  const durable = (town.status as { escalations?: unknown } | undefined)?.escalations;
  if (Array.isArray(durable)) {
    return durable.map((e: Record<string, unknown>) => ({
      ...(typeof e.agent === "string" ? { agent: e.agent } : {}),
      ...(typeof e.bead === "string" ? { bead: e.bead } : {}),
      ...(typeof e.severity === "string" ? { severity: e.severity } : {}),
      reason: typeof e.reason === "string" ? e.reason : "Escalated",
      message: typeof e.message === "string" ? e.message : "",
      ...(typeof e.time === "string" ? { since: e.time } : {}),
      ...(typeof e.acknowledged === "boolean" ? { acknowledged: e.acknowledged } : {}),
    }));
  }
  return agents
    .filter((a) => a.escalated)
    .map((a) => ({
      agent: a.name,
      ...(a.hook ? { bead: a.hook } : {}),
      reason: a.escalated?.reason ?? "Escalated",
      message: a.escalated?.message ?? "",
      ...(a.escalated?.since ? { since: a.escalated.since } : {}),
    }));
}

export function townView(town: Town, objects: TownObjects): TownView {
  const name = town.metadata.name;
  const mine = <T extends { spec: { town: string } }>(list: T[]) => list.filter((o) => o.spec.town === name);
  const agents = mine(objects.agents)
    .map(agentRow)
    .sort((a, b) => a.name.localeCompare(b.name));
  const escalatedHooks = new Set(agents.filter((a) => a.escalated && a.hook).map((a) => a.hook as string));
  const rigNames = new Set(town.spec.rigs.map((r) => r.name));
  const beads = mine(objects.beads);
  const rows = beads
    .filter((b) => b.status?.phase !== "Closed")
    .map((b) => beadRow(b, attentionOf(b, rigNames, escalatedHooks)))
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
    escalations: escalationsOf(town, agents),
    violations: (town.status?.violations ?? []).map((v) => ({ ...v })),
  };
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
  };
}
