// The snapshot: a read-only, indexed view of one town, built from what the shell's caches hold
// (or from the in-memory world). Timestamps are parsed once here so rules compare numbers.
import type { Agent, AgentPhase, Nudge } from "../api/agent.ts";
import type { AgentReport, AgentReportSpec, ReportOutcome } from "../api/agent-report.ts";
import type { Bead, BeadPhase, BeadSpec, BeadStatus, Resolution, RetryRecord } from "../api/bead.ts";
import type { Convoy, ConvoyPhase, ConvoySpec } from "../api/convoy.ts";
import type { Condition } from "../api/meta.ts";
import type { Town, TownStatus } from "../api/town.ts";
import type { Usage } from "../api/usage.ts";
import { type TownConfig, townConfig } from "./config.ts";
import { parseTime } from "./time.ts";

export type SessionPhase = "Pending" | "Running" | "Succeeded" | "Failed" | "Unknown";

/** What the runtime observed about one session (a Pod, or a local process). */
export interface SessionObservation {
  name: string;
  agent: string;
  session: number;
  bead?: string;
  phase: SessionPhase;
  created: number;
  started?: number;
  finished?: number;
  exitCode?: number;
  /** Why it ended, when known: Evicted, OOMKilled, Error, Completed, Deleted… */
  reason?: string;
  deleting: boolean;
  /**
   * When a deleting session must be gone (the Pod's deletionTimestamp: the request plus its grace
   * period). One still there a heartbeat timeout later is stuck (a finalizer, a dead node) and no
   * longer counts as live.
   */
  deletionDeadline?: number;
  /** The container cannot start yet: its waiting reason and message (ErrImagePull, CreateContainerConfigError…). */
  waiting?: { reason: string; message?: string };
  /** The scheduler's message while the pod cannot be placed (PodScheduled=False, Unschedulable). */
  unschedulable?: string;
  /** The apiserver refused to create the pod (admission, quota, an invalid pod): its Status. */
  refused?: {
    code: number;
    reason: string;
    message: string;
    /** What was refused instead of the pod, said whole (e.g. the agent's home volume claim). */
    what?: string;
  };
  /** Why `gt run` failed, in its own words (the termination message it wrote). */
  termination?: { reason: string; kind: "Configuration" | "Transient"; message: string };
}

/** What a session's CLI counted so far (the Lease's usage annotation); grows within a session. */
export interface LeaseUsage {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  costUSD: number;
}

/** The last nudge a session received (or could not), as its gt run wrote it on the Lease. */
export interface NudgeDelivery {
  nudge: string;
  result: "Delivered" | "Failed";
  via?: string;
  message?: string;
  time: number;
}

/** An agent's heartbeat Lease: renewTime and the activity watermark the runtime keeps in it. */
export interface LeaseObservation {
  agent: string;
  renewTime?: number;
  activityTime?: number;
  activityKind?: string;
  activeTools: number;
  session?: number;
  usage?: LeaseUsage;
  /** The CLI's own conversation id, for the bead's next session to resume. */
  cliSession?: string;
  /** Whether the session resumed the conversation it was given (absent: it was given none). */
  cliResumed?: boolean;
  nudgeDelivery?: NudgeDelivery;
}

export interface SnapshotInput {
  town: Town;
  convoys: readonly Convoy[];
  beads: readonly Bead[];
  agents: readonly Agent[];
  reports: readonly AgentReport[];
  sessions: readonly SessionObservation[];
  leases: readonly LeaseObservation[];
}

export interface ObjectRef {
  name: string;
  uid: string;
  resourceVersion: string;
  generation: number;
  created: number;
  deleting: boolean;
}

/** The bead fields the rules read and change; times are epoch ms. Maps 1:1 onto BeadStatus. */
export interface BeadState {
  phase: BeadPhase;
  phaseSince: number;
  assignee?: string;
  attempts: number;
  /** Sessions used before the last retry (the budget restarts; names must not). */
  priorAttempts: number;
  lastDispatch?: number;
  branch?: string;
  prURL?: string;
  mergeCommit?: string;
  mergedBy?: string;
  resolution?: Resolution;
  reason?: string;
  reviewCycles: number;
  handoffs: number;
  handoffPending: boolean;
  forceStops: number;
  forceStoppedAgent?: string;
  hold?: Hold;
  retry: number;
  history: readonly RetryRecord[];
  checkpoint?: { data: string; agent: string; session: number; time: number };
  /** Whether the current (or last) session was charged to the budget (not after a handoff). */
  sessionCharged: boolean;
  /** Dispatches whose session never came to be (the operator died mid-dispatch): refunded, capped. */
  interruptedDispatches: number;
  /** Sessions in a row that could not start for a configuration reason (reset when one runs). */
  configurationProbes: number;
  /** Why the last session failed, in the runtime's or the agent's own words. */
  lastFailure?: { reason: string; message: string; time: number };
  /** What the bead's sessions spent (rules/usage.ts). */
  usage?: BeadUsage;
  /** The CLI conversation the last session left, for the next one to resume. */
  conversation?: { id: string; agent: string; session: number; resumed?: boolean };
  conditions: readonly Condition[];
  observedGeneration?: number;
  /** Status was never written: the bead still needs its first status (phase Open). */
  fresh: boolean;
}

export interface SessionUsageState extends Usage {
  agent: string;
  session: number;
  /** When the operator first saw it: the UTC day it counts against. */
  time: number;
  lastUpdateTime?: number;
}

export interface BeadUsage extends Usage {
  sessions: readonly SessionUsageState[];
}

/** A bead that is held is not dispatched and not charged until the cause goes or it is retried. */
export interface Hold {
  reason: string;
  message: string;
  since: number;
  /**
   * A configuration error outside the agent (a missing Secret, an image name, a quota): the hold is
   * probed again at probeAt, and at once when the Town's spec changes (its generation passes
   * townGeneration).
   */
  probeAt?: number;
  townGeneration?: number;
}

export interface PullRequestFacts {
  state?: "Open" | "Merged" | "Closed";
  lastPolled?: number;
  lastAttempt?: number;
  lastError?: string;
  consecutiveErrors: number;
  mergeCommit?: string;
}

export interface BeadView extends ObjectRef {
  spec: BeadSpec;
  state: BeadState;
  pr: PullRequestFacts;
  /** The convoy that owns the bead (its tasks, merge requests, reworks and landings). */
  ownerConvoy?: string;
}

export interface AgentState {
  hook?: string;
  phase: AgentPhase;
  pod?: string;
  session: number;
  sessionBead?: string;
  sessionStart?: number;
  lastHeartbeat?: number;
  lastActivity?: number;
  lastActivityKind?: string;
  activeTools?: number;
  idleSince?: number;
  lastSessionExit?: { session: number; exitCode?: number; reason: string; time: number };
  nudges: Nudge[];
  nudgeDelivery?: NudgeDelivery;
  conversation?: { id: string; session: number; bead: string; resumed?: boolean };
  conditions: readonly Condition[];
}

export interface AgentView extends ObjectRef {
  town: string;
  role: Agent["spec"]["role"];
  rig: string;
  state: AgentState;
}

export interface ReportState {
  outcome?: ReportOutcome;
  processedAt?: number;
  attempts: number;
  lastAttempt?: number;
  error?: string;
}

export interface ReportView extends ObjectRef {
  spec: AgentReportSpec;
  state: ReportState;
}

export interface ConvoyState {
  phase?: ConvoyPhase;
  progress?: { closed: number; failed: number; total: number; summary: string };
  featureBranch?: string;
  landing?: { attempts: number; attemptsBefore?: number; bead?: string; landedAt?: number };
  retry: number;
  usage?: Usage;
  conditions: readonly Condition[];
  observedGeneration?: number;
}

export interface ConvoyView extends ObjectRef {
  spec: ConvoySpec;
  state: ConvoyState;
}

export interface Snapshot {
  config: TownConfig;
  town: ObjectRef & { status: TownStatus };
  beads: ReadonlyMap<string, BeadView>;
  /** Beads not yet Closed or Failed, in creation order: most rules only look at these. */
  activeBeads: readonly BeadView[];
  agents: ReadonlyMap<string, AgentView>;
  convoys: ReadonlyMap<string, ConvoyView>;
  /** Reports without an outcome, in the order they are applied: creation time, then name. */
  pendingReports: readonly ReportView[];
  processedReports: readonly ReportView[];
  sessionsByAgent: ReadonlyMap<string, readonly SessionObservation[]>;
  /** Live sessions by the bead they were started for. */
  liveSessionsByBead: ReadonlyMap<string, readonly SessionObservation[]>;
  leases: ReadonlyMap<string, LeaseObservation>;
  mergeRequestsBySource: ReadonlyMap<string, readonly BeadView[]>;
  reworksByMergeRequest: ReadonlyMap<string, readonly BeadView[]>;
  membersByConvoy: ReadonlyMap<string, readonly BeadView[]>;
  /** Beads whose spec.retry is ahead of what the controller acted on (often terminal ones). */
  retryRequests: readonly BeadView[];
  /** How many beads are in each phase (the Town's counts, adjusted by what a plan changes). */
  beadPhases: Readonly<Record<BeadPhase, number>>;
}

export const TERMINAL_PHASES: ReadonlySet<BeadPhase> = new Set(["Closed", "Failed"]);

export function isTerminal(phase: BeadPhase): boolean {
  return phase === "Closed" || phase === "Failed";
}

/**
 * A session counts as live until the runtime reports it finished; a terminating pod still runs —
 * until `stuckAfter` (when given) has passed beyond its deletion deadline: then it is a pod stuck
 * Terminating, which must not keep its bead from being redone.
 */
export function isLive(s: SessionObservation, now?: number, stuckAfter = 0): boolean {
  if (s.phase !== "Pending" && s.phase !== "Running" && s.phase !== "Unknown") return false;
  if (now === undefined || !s.deleting || s.deletionDeadline === undefined) return true;
  return now <= s.deletionDeadline + stuckAfter;
}

/** The key merge requests are indexed under: the name, or convoy/<name> for a landing. */
export function sourceKey(source: { kind: "Bead" | "Convoy"; name: string }): string {
  return source.kind === "Convoy" ? `convoy/${source.name}` : source.name;
}

function ref(meta: Bead["metadata"]): ObjectRef {
  return {
    name: meta.name,
    uid: meta.uid ?? "",
    resourceVersion: meta.resourceVersion ?? "",
    generation: meta.generation ?? 0,
    created: parseTime(asText(meta.creationTimestamp)) ?? 0,
    deleting: meta.deletionTimestamp !== undefined && meta.deletionTimestamp !== null,
  };
}

function asText(t: string | Date | undefined): string | undefined {
  return t instanceof Date ? t.toISOString() : t;
}

export function beadState(status: BeadStatus | undefined, created: number): BeadState {
  const s = status ?? {};
  return {
    phase: s.phase ?? "Open",
    phaseSince: parseTime(s.lastPhaseTransitionTime) ?? created,
    assignee: s.assignee,
    attempts: s.dispatchAttempts ?? 0,
    priorAttempts: s.priorDispatchAttempts ?? 0,
    lastDispatch: parseTime(s.lastDispatchTime),
    branch: s.branch,
    prURL: s.prURL,
    mergeCommit: s.mergeCommit,
    mergedBy: s.mergedBy,
    resolution: s.resolution,
    reason: s.reason,
    reviewCycles: s.reviewCycles ?? 0,
    handoffs: s.handoffs ?? 0,
    handoffPending: s.handoffPending ?? false,
    forceStops: s.forceStops ?? 0,
    forceStoppedAgent: s.forceStoppedAgent,
    hold: s.hold && {
      reason: s.hold.reason,
      message: s.hold.message,
      since: parseTime(s.hold.since) ?? created,
      ...(s.hold.probeAt ? { probeAt: parseTime(s.hold.probeAt) } : {}),
      ...(s.hold.townGeneration !== undefined ? { townGeneration: s.hold.townGeneration } : {}),
    },
    retry: s.retry ?? 0,
    history: s.history ?? [],
    checkpoint: s.checkpoint && {
      data: s.checkpoint.data,
      agent: s.checkpoint.agent,
      session: s.checkpoint.session,
      time: parseTime(s.checkpoint.time) ?? 0,
    },
    sessionCharged: s.sessionCharged ?? true,
    interruptedDispatches: s.interruptedDispatches ?? 0,
    configurationProbes: s.configurationProbes ?? 0,
    lastFailure: s.lastFailure && {
      reason: s.lastFailure.reason,
      message: s.lastFailure.message,
      time: parseTime(s.lastFailure.time) ?? 0,
    },
    usage: s.usage && {
      ...s.usage,
      sessions: s.usage.sessions.map((u) => ({
        ...u,
        time: parseTime(u.time) ?? created,
        lastUpdateTime: parseTime(u.lastUpdateTime),
      })),
    },
    conversation: s.conversation,
    conditions: s.conditions ?? [],
    observedGeneration: s.observedGeneration,
    fresh: s.phase === undefined,
  };
}

export function beadView(b: Bead): BeadView {
  const r = ref(b.metadata);
  const pr = b.status?.pullRequest;
  const owner = b.metadata.ownerReferences?.find((o) => o.kind === "Convoy")?.name;
  return {
    ...r,
    ...(owner ? { ownerConvoy: owner } : {}),
    spec: b.spec,
    state: beadState(b.status, r.created),
    pr: {
      state: pr?.state,
      lastPolled: parseTime(pr?.lastPolledTime),
      lastAttempt: parseTime(pr?.lastAttemptTime),
      lastError: pr?.lastError,
      consecutiveErrors: pr?.consecutiveErrors ?? 0,
      mergeCommit: pr?.mergeCommit,
    },
  };
}

export function agentView(a: Agent): AgentView {
  const s = a.status ?? {};
  const exit = s.lastSessionExit;
  return {
    ...ref(a.metadata),
    town: a.spec.town,
    role: a.spec.role,
    rig: a.spec.rig,
    state: {
      hook: a.spec.hook,
      phase: s.phase ?? "Idle",
      pod: s.pod,
      session: s.session ?? 0,
      sessionBead: s.sessionBead,
      sessionStart: parseTime(s.sessionStartTime),
      lastHeartbeat: parseTime(s.lastHeartbeat),
      lastActivity: parseTime(s.lastActivityTime),
      lastActivityKind: s.lastActivityKind,
      activeTools: s.activeTools,
      idleSince: parseTime(s.idleSince),
      lastSessionExit: exit && {
        session: exit.session,
        exitCode: exit.exitCode,
        reason: exit.reason,
        time: parseTime(exit.time) ?? 0,
      },
      nudges: s.nudges ?? [],
      nudgeDelivery: s.nudgeDelivery && { ...s.nudgeDelivery, time: parseTime(s.nudgeDelivery.time) ?? 0 },
      conversation: s.conversation,
      conditions: s.conditions ?? [],
    },
  };
}

export function reportView(r: AgentReport): ReportView {
  const s = r.status ?? {};
  return {
    ...ref(r.metadata),
    spec: r.spec,
    state: {
      outcome: s.outcome,
      processedAt: parseTime(s.processedAt),
      attempts: s.attempts ?? 0,
      lastAttempt: parseTime(s.lastAttemptTime),
      error: s.error,
    },
  };
}

export function convoyView(c: Convoy): ConvoyView {
  const s = c.status ?? {};
  return {
    ...ref(c.metadata),
    spec: c.spec,
    state: {
      phase: s.phase,
      progress: s.progress,
      featureBranch: s.featureBranch,
      landing: s.landing && {
        attempts: s.landing.attempts,
        attemptsBefore: s.landing.attemptsBefore,
        bead: s.landing.bead,
        landedAt: parseTime(s.landing.landedAt),
      },
      retry: s.retry ?? 0,
      usage: s.usage,
      conditions: s.conditions ?? [],
      observedGeneration: s.observedGeneration,
    },
  };
}

const finite = (t: number | undefined) => (t !== undefined && Number.isFinite(t) ? t : undefined);

/** Lease times come from agents' clocks and annotations: anything not a finite number is "unknown". */
function saneLease(l: LeaseObservation): LeaseObservation {
  return {
    agent: l.agent,
    renewTime: finite(l.renewTime),
    activityTime: finite(l.activityTime),
    activityKind: l.activityKind,
    activeTools: finite(l.activeTools) ?? 0,
    session: finite(l.session),
    ...(l.usage ? { usage: l.usage } : {}),
    ...(l.cliSession ? { cliSession: l.cliSession } : {}),
    ...(l.cliResumed !== undefined ? { cliResumed: l.cliResumed } : {}),
    ...(l.nudgeDelivery ? { nudgeDelivery: l.nudgeDelivery } : {}),
  };
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

const byCreation = (a: ObjectRef, b: ObjectRef) => a.created - b.created || (a.name < b.name ? -1 : 1);

/** The parts of a snapshot already turned into views (a shell may keep them per object version). */
export interface SnapshotViews {
  town: Town;
  convoys: readonly ConvoyView[];
  beads: readonly BeadView[];
  agents: readonly AgentView[];
  reports: readonly ReportView[];
  sessions: readonly SessionObservation[];
  leases: readonly LeaseObservation[];
}

/** Builds the snapshot of one town. Objects of other towns in the input are ignored. */
export function buildSnapshot(input: SnapshotInput): Snapshot {
  const town = input.town.metadata.name;
  return snapshotFromViews({
    town: input.town,
    convoys: input.convoys.filter((c) => c.spec.town === town).map(convoyView),
    beads: input.beads.filter((b) => b.spec.town === town).map(beadView),
    agents: input.agents.filter((a) => a.spec.town === town).map(agentView),
    reports: input.reports.filter((r) => r.spec.town === town).map(reportView),
    sessions: input.sessions,
    leases: input.leases,
  });
}

/**
 * The snapshot from views of the town's own objects (what buildSnapshot does after making the
 * views): the indexes, the orders, the lease and session joins. Views are not copied or changed.
 */
export function snapshotFromViews(input: SnapshotViews): Snapshot {
  const config = townConfig(input.town);
  const beads = new Map<string, BeadView>();
  const activeBeads: BeadView[] = [];
  const mergeRequestsBySource = new Map<string, BeadView[]>();
  const reworksByMergeRequest = new Map<string, BeadView[]>();
  const membersByConvoy = new Map<string, BeadView[]>();
  const retryRequests: BeadView[] = [];
  const beadPhases: Record<BeadPhase, number> = { Open: 0, InProgress: 0, InReview: 0, Closed: 0, Failed: 0 };
  for (const v of input.beads) {
    beads.set(v.name, v);
    beadPhases[v.state.phase]++;
    if ((v.spec.retry ?? 0) > v.state.retry) retryRequests.push(v);
    if (!isTerminal(v.state.phase)) activeBeads.push(v);
    if (v.spec.type === "MergeRequest" && v.spec.source) push(mergeRequestsBySource, sourceKey(v.spec.source), v);
    if (v.spec.reworkOf) push(reworksByMergeRequest, v.spec.reworkOf, v);
    if (v.spec.convoy) push(membersByConvoy, v.spec.convoy, v);
  }
  activeBeads.sort(byCreation);
  const agents = new Map<string, AgentView>();
  for (const a of input.agents) agents.set(a.name, a);
  const convoys = new Map<string, ConvoyView>();
  for (const c of input.convoys) convoys.set(c.name, c);
  const pendingReports: ReportView[] = [];
  const processedReports: ReportView[] = [];
  for (const v of input.reports) (v.state.outcome === undefined ? pendingReports : processedReports).push(v);
  pendingReports.sort(byCreation);
  const sessionsByAgent = new Map<string, SessionObservation[]>();
  for (const s of input.sessions) if (agents.has(s.agent)) push(sessionsByAgent, s.agent, s);
  const liveSessionsByBead = new Map<string, SessionObservation[]>();
  for (const list of sessionsByAgent.values()) {
    list.sort((a, b) => a.session - b.session);
    for (const s of list) if (s.bead && isLive(s)) push(liveSessionsByBead, s.bead, s);
  }
  const leases = new Map<string, LeaseObservation>();
  for (const l of input.leases) if (agents.has(l.agent)) leases.set(l.agent, saneLease(l));
  return {
    config,
    town: { ...ref(input.town.metadata), status: input.town.status ?? { rigCount: 0, workingAgents: 0, openBeads: 0 } },
    beads,
    activeBeads,
    agents,
    convoys,
    pendingReports,
    processedReports,
    sessionsByAgent,
    liveSessionsByBead,
    leases,
    mergeRequestsBySource,
    reworksByMergeRequest,
    membersByConvoy,
    retryRequests,
    beadPhases,
  };
}
