// The plan being built: a copy-on-write overlay of the snapshot plus the ordered log of writes.
// Rules read through the draft, so a later rule sees what an earlier rule decided (an agent freed
// by a Done report can take new work in the same plan). The log keeps the order rules chose —
// the order that keeps every prefix safe (see actions.ts) — and folds consecutive status writes
// to one object into a single write.
import type { Severity } from "../api/agent-report.ts";
import type { Action, ActionOf, SessionContext, StatusPatch, Why } from "./actions.ts";
import type {
  AgentState,
  AgentView,
  BeadState,
  BeadView,
  ConvoyState,
  ConvoyView,
  ReportState,
  ReportView,
  SessionObservation,
  Snapshot,
} from "./snapshot.ts";
import { isLive } from "./snapshot.ts";
import {
  agentStatusPatch,
  beadStatusPatch,
  convoyStatusPatch,
  isEmptyPatch,
  reportStatusPatch,
} from "./status-patch.ts";
import { taskBeadNames } from "./task-graph.ts";
import { Deadlines } from "./time.ts";

export interface FailedSessionRecord {
  time: number;
  agent: string;
  bead?: string;
  reason: string;
}

/** A problem for a person; deduplicated into the town's durable escalations by its id. */
export interface EscalationIntent {
  id: string;
  severity: Severity;
  reason: string;
  message: string;
  agent?: string;
  bead?: string;
}

type StatusKind = "Bead" | "Agent" | "Report" | "Convoy";
type StateOf<K extends StatusKind> = K extends "Bead"
  ? BeadState
  : K extends "Agent"
    ? AgentState
    : K extends "Report"
      ? ReportState
      : ConvoyState;

interface StatusWrite<K extends StatusKind = StatusKind> {
  kind: "status";
  object: K;
  name: string;
  resourceVersion: string;
  before: StateOf<K>;
  after: StateOf<K>;
  events: Why[];
  cause?: string;
}

type LogEntry = StatusWrite | { kind: "action"; action: Action };

const PATCHERS: { [K in StatusKind]: (b: StateOf<K>, a: StateOf<K>) => StatusPatch } = {
  Bead: beadStatusPatch,
  Agent: agentStatusPatch,
  Report: reportStatusPatch,
  Convoy: convoyStatusPatch,
};

const ACTION_TYPE = {
  Bead: "UpdateBeadStatus",
  Agent: "UpdateAgentStatus",
  Report: "UpdateReportStatus",
  Convoy: "UpdateConvoyStatus",
} as const;

export class Draft {
  readonly snap: Snapshot;
  readonly now: number;
  readonly wake: Deadlines;
  private readonly log: LogEntry[] = [];
  /** The last status write of each object in the log ("Kind/name"), for amend. */
  private readonly lastStatus = new Map<string, StatusWrite>();
  private readonly beads = new Map<string, BeadView>();
  private readonly agents = new Map<string, AgentView>();
  private readonly convoys = new Map<string, ConvoyView>();
  private readonly reports = new Map<string, ReportView>();
  private readonly newAgents = new Map<string, AgentView>();
  private readonly createdBeads = new Set<string>();
  private readonly createdReworks = new Map<string, string[]>();
  /** Agents with a report still waiting (back-off, or a session not yet adopted): keep their hooks. */
  pendingReportAgents: ReadonlySet<string> = new Set();
  /** Beads ready to run but over the polecat limits (their Ready condition says so). */
  readonly waitingForCapacity = new Set<string>();
  private hooks: Map<string, Set<string>> | undefined;
  private readonly stopped = new Set<string>();
  /** Sessions that failed in this plan, for the town's circuit breaker. */
  readonly failedSessions: FailedSessionRecord[] = [];
  /** Problems a person must look at, merged into the town's durable escalations. */
  readonly escalations: EscalationIntent[] = [];
  /** Objects a person acted on (retried): their escalations are resolved. */
  readonly resolved = new Set<string>();
  /** The town's circuit breaker holds all new dispatch (set after sessions were checked). */
  breakerOpen = false;
  /** The town's daily budget is spent (rules/budgets.ts): why no new session starts. */
  budgetSpent: string | undefined;
  /** Beads released from a configuration hold in this plan: they are tried at once. */
  readonly probing = new Set<string>();

  constructor(snap: Snapshot, now: number) {
    this.snap = snap;
    this.now = now;
    this.wake = new Deadlines(now);
  }

  // ---- reads -------------------------------------------------------------------------------

  // Rules read every active bead several times per plan; most plans change few, so the overlay is
  // skipped while empty (one map lookup instead of two).
  bead(name: string): BeadView | undefined {
    return (this.beads.size > 0 ? this.beads.get(name) : undefined) ?? this.snap.beads.get(name);
  }

  /** A bead of the snapshot as this plan sees it now: what d.bead(view.name) returns, without the lookups while no bead changed. */
  current(view: BeadView): BeadView {
    return this.beads.size > 0 ? (this.beads.get(view.name) ?? view) : view;
  }

  agent(name: string): AgentView | undefined {
    if (this.agents.size === 0 && this.newAgents.size === 0) return this.snap.agents.get(name);
    return this.agents.get(name) ?? this.newAgents.get(name) ?? this.snap.agents.get(name);
  }

  /** Every agent as the plan currently sees it, including ones created by this plan. */
  *allAgents(): Iterable<AgentView> {
    for (const name of this.snap.agents.keys()) yield this.agent(name) as AgentView;
    yield* this.newAgents.values();
  }

  convoy(name: string): ConvoyView | undefined {
    return this.convoys.get(name) ?? this.snap.convoys.get(name);
  }

  report(name: string): ReportView | undefined {
    return this.reports.get(name);
  }

  /** How many writes the plan has so far: a rule compares two counts to see whether it wrote. */
  writeCount(): number {
    return this.log.length;
  }

  /** Beads whose status this plan changes. */
  touchedBeads(): Iterable<string> {
    return this.beads.keys();
  }

  /** True when this plan creates the bead (rules do not act on beads they cannot read yet). */
  creates(bead: string): boolean {
    return this.createdBeads.has(bead);
  }

  /** Rework beads of a merge request that this plan creates. */
  reworksCreatedFor(mr: string): readonly string[] {
    return this.createdReworks.get(mr) ?? [];
  }

  /** The bead names of a convoy's tasks, in task order (task-graph.ts: made once per spec version). */
  taskBeadNames(convoy: ConvoyView): readonly string[] {
    return taskBeadNames(convoy.name, convoy.spec.tasks);
  }

  /** Agents whose hook (as of this plan) points at the bead. */
  hookedTo(bead: string): AgentView[] {
    if (!this.hooks) {
      this.hooks = new Map();
      for (const a of this.allAgents()) if (a.state.hook) this.indexHook(a.name, a.state.hook);
    }
    const names = this.hooks.get(bead);
    return names ? [...names].map((n) => this.agent(n) as AgentView) : [];
  }

  sessions(agent: string): readonly SessionObservation[] {
    return this.snap.sessionsByAgent.get(agent) ?? [];
  }

  /** Live as of now: a pod stuck Terminating a heartbeat timeout past its deadline is not. */
  isLive(s: SessionObservation): boolean {
    const grace = this.snap.config.timeouts.heartbeatTimeout;
    const live = isLive(s, this.now, grace);
    // A terminating session stops counting at a known instant: plan again then.
    if (live && s.deleting && s.deletionDeadline !== undefined) this.wake.at(s.deletionDeadline + grace + 1);
    return live;
  }

  /**
   * Live sessions of an agent, including ones this plan stops: a terminating pod still runs, so
   * the agent is not free for new work until the runtime reports the session gone.
   */
  liveSessions(agent: string): SessionObservation[] {
    return this.sessions(agent).filter((s) => this.isLive(s));
  }

  /** Live sessions started for a bead, whatever agent runs them. */
  liveSessionsOf(bead: string): SessionObservation[] {
    return (this.snap.liveSessionsByBead.get(bead) ?? []).filter((s) => this.isLive(s));
  }

  // ---- status writes -----------------------------------------------------------------------

  updateBead(name: string, change: Partial<BeadState>, why: Why | undefined, cause?: string): BeadView {
    const view = this.bead(name);
    if (!view) throw new Error(`bead ${name} is not in the snapshot`);
    const next = { ...view, state: { ...view.state, ...change } };
    this.beads.set(name, next);
    this.recordStatus("Bead", name, view.resourceVersion, view.state, next.state, why, cause);
    return next;
  }

  updateAgent(name: string, change: Partial<AgentState>, why: Why | undefined, cause?: string): AgentView {
    const view = this.agent(name);
    if (!view) throw new Error(`agent ${name} is not in the snapshot`);
    const next = { ...view, state: { ...view.state, ...change } };
    this.storeAgent(next);
    this.recordStatus("Agent", name, view.resourceVersion, view.state, next.state, why, cause);
    return next;
  }

  updateReport(view: ReportView, change: Partial<ReportState>, why: Why | undefined): void {
    const current = this.reports.get(view.name) ?? view;
    const next = { ...current, state: { ...current.state, ...change } };
    this.reports.set(view.name, next);
    this.recordStatus("Report", view.name, view.resourceVersion, current.state, next.state, why);
  }

  updateConvoy(name: string, change: Partial<ConvoyState>, why: Why | undefined): ConvoyView {
    const view = this.convoy(name);
    if (!view) throw new Error(`convoy ${name} is not in the snapshot`);
    const next = { ...view, state: { ...view.state, ...change } };
    this.convoys.set(name, next);
    this.recordStatus("Convoy", name, view.resourceVersion, view.state, next.state, why);
    return next;
  }

  /** Folds into the previous log entry when it is a status write of the same object. */
  private recordStatus<K extends StatusKind>(
    object: K,
    name: string,
    resourceVersion: string,
    before: StateOf<K>,
    after: StateOf<K>,
    why: Why | undefined,
    cause?: string,
  ): void {
    const last = this.log[this.log.length - 1];
    if (last?.kind === "status" && last.object === object && last.name === name) {
      last.after = after;
      if (why) last.events.push(why);
      last.cause ??= cause;
      return;
    }
    this.pushStatus({ kind: "status", object, name, resourceVersion, before, after, events: why ? [why] : [], cause });
  }

  private pushStatus(entry: StatusWrite): void {
    this.log.push(entry);
    this.lastStatus.set(`${entry.object}/${entry.name}`, entry);
  }

  /**
   * Merges derived fields (conditions, counters) into the last write of the object anywhere in
   * the log. Safe because derived fields carry no ordering meaning; saves a second write.
   */
  amend<K extends StatusKind>(object: K, name: string, change: Partial<StateOf<K>>, events: Why[]): void {
    const entry = this.lastStatus.get(`${object}/${name}`);
    if (entry) {
      entry.after = { ...entry.after, ...change } as StateOf<K>;
      // A condition that follows from a change already told (same reason) would repeat it.
      const told = new Set(entry.events.map((e) => e.reason));
      entry.events.push(...events.filter((e) => !told.has(e.reason)));
      this.remember(object, name, entry.after);
      return;
    }
    const view = this.viewOf(object, name);
    if (!view) return;
    const after = { ...view.state, ...change } as StateOf<K>;
    this.pushStatus({
      kind: "status",
      object,
      name,
      resourceVersion: view.resourceVersion,
      before: view.state as StateOf<K>,
      after,
      events: [...events],
    });
    this.remember(object, name, after);
  }

  private viewOf(object: StatusKind, name: string): { resourceVersion: string; state: object } | undefined {
    if (object === "Bead") return this.bead(name);
    if (object === "Agent") return this.agent(name);
    if (object === "Convoy") return this.convoy(name);
    return this.reports.get(name);
  }

  private remember(object: StatusKind, name: string, state: unknown): void {
    const view = this.viewOf(object, name);
    if (!view) return;
    const next = { ...view, state } as never;
    if (object === "Bead") this.beads.set(name, next);
    else if (object === "Agent") this.storeAgent(next);
    else if (object === "Convoy") this.convoys.set(name, next);
    else this.reports.set(name, next);
  }

  private storeAgent(view: AgentView): void {
    if (this.newAgents.has(view.name)) this.newAgents.set(view.name, view);
    else this.agents.set(view.name, view);
  }

  // ---- other actions -----------------------------------------------------------------------

  private push(action: Action): void {
    this.log.push({ kind: "action", action });
  }

  createBead(action: Omit<ActionOf<"CreateBead">, "type">): void {
    if (this.createdBeads.has(action.name)) return;
    this.createdBeads.add(action.name);
    const of = action.spec.reworkOf;
    if (of) this.createdReworks.set(of, [...this.reworksCreatedFor(of), action.name]);
    this.push({ type: "CreateBead", ...action });
  }

  /** Creates an agent (unhooked, Idle). Later writes to it carry resourceVersion "" = "created in this batch". */
  createAgent(name: string, role: AgentView["role"], rig: string, why: Why): AgentView {
    const view: AgentView = {
      name,
      uid: "",
      resourceVersion: "",
      generation: 1,
      created: this.now,
      deleting: false,
      town: this.snap.config.name,
      role,
      rig,
      state: { phase: "Idle", session: 0, nudges: [], conditions: [], idleSince: this.now },
    };
    this.newAgents.set(name, view);
    this.push({ type: "CreateAgent", name, role, rig, why });
    return view;
  }

  setHook(agent: string, hook: string | undefined, why: Why, cause?: string): void {
    const view = this.agent(agent);
    if (!view) throw new Error(`agent ${agent} is not in the snapshot`);
    if (view.state.hook === hook) return;
    if (this.hooks) {
      if (view.state.hook) this.hooks.get(view.state.hook)?.delete(agent);
      if (hook) this.indexHook(agent, hook);
    }
    this.storeAgent({ ...view, state: { ...view.state, hook } });
    this.push({ type: "SetHook", agent, resourceVersion: view.resourceVersion, hook: hook ?? null, why, cause });
  }

  private indexHook(agent: string, bead: string): void {
    const hooks = this.hooks as Map<string, Set<string>>;
    const set = hooks.get(bead);
    if (set) set.add(agent);
    else hooks.set(bead, new Set([agent]));
  }

  startSession(a: {
    agent: AgentView;
    session: number;
    pod: string;
    bead: string;
    context: SessionContext;
    why: Why;
  }): void {
    this.push({
      type: "StartSession",
      agent: a.agent.name,
      role: a.agent.role,
      rig: a.agent.rig,
      session: a.session,
      pod: a.pod,
      bead: a.bead,
      context: a.context,
      why: a.why,
    });
  }

  /** Asks the runtime to stop a session, once: a session already being deleted is left alone. */
  stopSession(agent: string, pod: string, why: Why): void {
    if (this.stopped.has(pod)) return;
    this.stopped.add(pod);
    if (this.sessions(agent).some((s) => s.name === pod && s.deleting)) return;
    this.push({ type: "StopSession", agent, pod, why });
  }

  recordFailedSession(agent: string, bead: string | undefined, reason: string): void {
    this.failedSessions.push({ time: this.now, agent, ...(bead ? { bead } : {}), reason });
  }

  escalate(e: EscalationIntent): void {
    this.escalations.push(e);
  }

  other(action: Action): void {
    this.push(action);
  }

  // ---- result ------------------------------------------------------------------------------

  /** The plan's actions in apply order; status writes that change nothing are dropped. */
  actions(): Action[] {
    const out: Action[] = [];
    for (const entry of this.log) {
      if (entry.kind === "action") {
        out.push(entry.action);
        continue;
      }
      const patch = (PATCHERS[entry.object] as (b: unknown, a: unknown) => StatusPatch)(entry.before, entry.after);
      if (isEmptyPatch(patch)) continue;
      out.push({
        type: ACTION_TYPE[entry.object],
        name: entry.name,
        resourceVersion: entry.resourceVersion,
        status: patch,
        events: entry.events,
        ...(entry.cause ? { cause: entry.cause } : {}),
      } as Action);
    }
    return out;
  }
}
