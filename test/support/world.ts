// An in-memory world that applies actions to objects exactly as the actuator applies them to the
// API: creates are idempotent (AlreadyExists is success), deletes too (NotFound is success),
// writes carry resourceVersion preconditions (a conflict stops the batch), status writes are
// JSON merge patches validated and defaulted by the CRD's schema (a write that changes nothing
// keeps the version), a failed write caused by a report is charged to that report (a stale view
// is not), created objects carry the operator's labels and owners, and Events are recorded as the
// actuator records them. The unit tests and the simulation drive it; it lives with the test
// doubles because nothing in the operator runs it, and the simulation's safety claims hold only
// as far as it agrees with the actuator: test/integration/contract/ checks that it does.
import type { z } from "zod";
import { type Agent, AgentStatusSchema } from "../../src/api/agent.ts";
import { type AgentReport, AgentReportStatusSchema } from "../../src/api/agent-report.ts";
import { type Bead, BeadSpecSchema, BeadStatusSchema } from "../../src/api/bead.ts";
import { type Convoy, ConvoyStatusSchema } from "../../src/api/convoy.ts";
import { API_VERSION } from "../../src/api/meta.ts";
import { type Town, TownStatusSchema } from "../../src/api/town.ts";
import { Views } from "../../src/controller/caches.ts";
import { splitIntoChains } from "../../src/controller/chains.ts";
import { truncateUtf8 } from "../../src/controller/event-recorder.ts";
import { recommendedLabels } from "../../src/controller/resources.ts";
import { creatorOf, tellStories } from "../../src/controller/transition-events.ts";
import type { Action, Why } from "../../src/core/actions.ts";
import type { LeaseObservation, SessionObservation, Snapshot } from "../../src/core/snapshot.ts";
import { buildSnapshot, snapshotFromViews } from "../../src/core/snapshot.ts";
import { formatTime } from "../../src/core/time.ts";
import type { KubeObject } from "../../src/kube/informer.ts";

/** The grace period the pod runtime deletes session pods with. */
export const POD_GRACE_MS = 30_000;

export class ApplyError extends Error {
  /** Conflict and NotFound are a stale view (replan); Injected and Invalid are refusals (charged). */
  readonly code: "Conflict" | "NotFound" | "Injected" | "Invalid";
  constructor(code: ApplyError["code"], message: string) {
    super(message);
    this.code = code;
  }
}

/** An Event as the actuator records it: on the object it is about (Bead, Agent, AgentReport, …). */
export interface RecordedEvent {
  kind: "Town" | "Convoy" | "Bead" | "Agent" | "AgentReport";
  name: string;
  /** The agent whose transition this bead's Event also tells (transition-events.ts). */
  related?: string;
  reason: string;
  message: string;
  warning: boolean;
}

export interface ApplyOptions {
  /** Apply only the first n actions: the controller died after them. */
  stopAfter?: number;
  /** Make an action fail as the API would (quota, webhook, outage). */
  fail?: (action: Action, index: number) => string | undefined;
}

export interface ApplyResult {
  applied: number;
  error?: ApplyError;
}

/** What the forge says about a pull request when the world polls it. */
export type Forge = (url: string) => { state: "Open" | "Merged" | "Closed"; mergeCommit?: string } | Error;

type Meta = { name: string; uid: string; resourceVersion: string; generation: number; creationTimestamp: string };

interface Batch {
  /** resourceVersions this batch's own writes returned: later writes in the batch chain on them. */
  written: Map<string, string>;
  /** What the batch did to each object, in order: one Event per object (transition-events.ts). */
  story: Map<string, { kind: RecordedEvent["kind"]; name: string; whys: Why[]; made: Why[] }>;
  agentsAtStart: ReadonlySet<string>;
  actions: number;
}

const STATUS_KIND = {
  UpdateBeadStatus: "Bead",
  UpdateAgentStatus: "Agent",
  UpdateReportStatus: "AgentReport",
  UpdateConvoyStatus: "Convoy",
  UpdateTownStatus: "Town",
} as const;

interface Stored {
  town: Town;
  convoys: Map<string, Convoy>;
  beads: Map<string, Bead>;
  agents: Map<string, Agent>;
  reports: Map<string, AgentReport>;
  sessions: Map<string, SessionObservation>;
  leases: Map<string, LeaseObservation>;
}

/** Applies a JSON merge patch (RFC 7386) to a plain object. */
export function mergePatch<T>(target: T, patch: Record<string, unknown>): T {
  const out: Record<string, unknown> = { ...(target as Record<string, unknown>) };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (
      typeof v === "object" &&
      !Array.isArray(v) &&
      typeof out[k] === "object" &&
      out[k] !== null &&
      !Array.isArray(out[k])
    ) {
      out[k] = mergePatch(out[k], v as Record<string, unknown>);
    } else out[k] = v;
  }
  return out as T;
}

/** True when merging `patch` into `target` would change it (a no-op write is no write). */
export function patchChanges(target: unknown, patch: Record<string, unknown>): boolean {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === "object" && v !== null && !Array.isArray(v);
  const t = isObject(target) ? target : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) {
      if (t[k] !== undefined) return true;
    } else if (isObject(v) && isObject(t[k])) {
      if (patchChanges(t[k], v)) return true;
    } else if (JSON.stringify(t[k]) !== JSON.stringify(v)) return true;
  }
  return false;
}

export interface WorldOptions {
  /**
   * Validate every written status against its CRD schema and refuse invalid ones, as the API
   * server does (the contract suite runs so). Off by default, for the simulation's speed; the
   * Town's status is defaulted either way (its counters are the only status fields the CRDs
   * default), so plans read the same as from the API.
   */
  strict?: boolean;
}

export class World {
  now: number;
  private revision = 1;
  private state: Stored;
  readonly events: RecordedEvent[] = [];
  readonly log: Action[] = [];
  forge: Forge = () => ({ state: "Open" });

  private readonly strict: boolean;

  constructor(town: Town, now: number, opts: WorldOptions = {}) {
    this.now = now;
    this.strict = opts.strict ?? false;
    this.state = {
      town: this.stamp(town),
      convoys: new Map(),
      beads: new Map(),
      agents: new Map(),
      reports: new Map(),
      sessions: new Map(),
      leases: new Map(),
    };
  }

  private nextRV(): string {
    return String(++this.revision);
  }

  private stamp<T extends { metadata: { name: string } }>(obj: T, generation = 1): T {
    const meta = obj.metadata as Partial<Meta> & { name: string };
    return {
      ...obj,
      metadata: {
        ...meta,
        uid: meta.uid ?? `uid-${meta.name}-${this.revision}`,
        resourceVersion: this.nextRV(),
        generation: meta.generation ?? generation,
        creationTimestamp: meta.creationTimestamp ?? formatTime(this.now),
        namespace: "default",
      },
    };
  }

  // ---- what users and agents do --------------------------------------------------------------

  addConvoy(convoy: Omit<Convoy, "apiVersion" | "kind">): void {
    this.state.convoys.set(convoy.metadata.name, this.stamp({ apiVersion: API_VERSION, kind: "Convoy", ...convoy }));
  }

  addBead(bead: Omit<Bead, "apiVersion" | "kind">): void {
    this.state.beads.set(bead.metadata.name, this.stamp({ apiVersion: API_VERSION, kind: "Bead", ...bead }));
  }

  addReport(spec: AgentReport["spec"], name?: string): string {
    // Like `gt`, name reports so that names sort in creation order: the API's creation timestamps
    // have one-second resolution, and ties are broken by name.
    const n = name ?? `${spec.agent}-${String(this.revision).padStart(10, "0")}-${spec.type.toLowerCase()}`;
    this.state.reports.set(
      n,
      this.stamp({ apiVersion: API_VERSION, kind: "AgentReport", metadata: { name: n }, spec }),
    );
    return n;
  }

  /** A user edits a spec (e.g. cancel, staged): bumps generation and resourceVersion. */
  editBeadSpec(name: string, change: Partial<Bead["spec"]>): void {
    const b = this.bead(name);
    if (!patchChanges(b.spec, change)) return;
    this.state.beads.set(name, this.bump({ ...b, spec: { ...b.spec, ...change } }, true));
  }

  editTownSpec(change: Partial<Town["spec"]>): void {
    const t = this.state.town;
    this.state.town = this.bump({ ...t, spec: { ...t.spec, ...change } }, true);
  }

  editConvoySpec(name: string, change: Partial<Convoy["spec"]>): void {
    const c = this.state.convoys.get(name);
    if (!c) throw new Error(`no convoy ${name}`);
    if (!patchChanges(c.spec, change)) return;
    this.state.convoys.set(name, this.bump({ ...c, spec: { ...c.spec, ...change } }, true));
  }

  /**
   * A user deletes a convoy (background propagation): the convoy goes at once; the beads it owns
   * stay until the garbage collector's next pass (collectGarbage).
   */
  deleteConvoy(name: string): void {
    this.state.convoys.delete(name);
  }

  /** A user deletes a bead. */
  deleteBead(name: string): void {
    this.state.beads.delete(name);
  }

  /** The garbage collector: beads whose owning convoy is gone are deleted. */
  collectGarbage(): void {
    for (const [name, b] of this.state.beads) {
      const owner = b.metadata.ownerReferences?.find((o) => o.kind === "Convoy");
      if (owner && !this.state.convoys.has(owner.name)) this.state.beads.delete(name);
    }
  }

  setSession(s: SessionObservation): void {
    this.state.sessions.set(s.name, s);
  }

  removeSession(name: string): void {
    this.state.sessions.delete(name);
  }

  setLease(l: LeaseObservation): void {
    this.state.leases.set(l.agent, l);
  }

  /** Pods whose deletion was requested disappear (the kubelet finished terminating them), except stuck ones. */
  finishDeletions(stuck: ReadonlySet<string> = new Set()): void {
    for (const [name, s] of this.state.sessions) if (s.deleting && !stuck.has(name)) this.state.sessions.delete(name);
  }

  // ---- reads ---------------------------------------------------------------------------------

  bead(name: string): Bead {
    const b = this.state.beads.get(name);
    if (!b) throw new Error(`no bead ${name}`);
    return b;
  }

  get beads(): readonly Bead[] {
    return [...this.state.beads.values()];
  }
  get agents(): readonly Agent[] {
    return [...this.state.agents.values()];
  }
  get convoys(): readonly Convoy[] {
    return [...this.state.convoys.values()];
  }
  get reports(): readonly AgentReport[] {
    return [...this.state.reports.values()];
  }
  get sessions(): readonly SessionObservation[] {
    return [...this.state.sessions.values()];
  }
  get town(): Town {
    return this.state.town;
  }
  agent(name: string): Agent | undefined {
    return this.state.agents.get(name);
  }
  lease(agent: string): LeaseObservation | undefined {
    return this.state.leases.get(agent);
  }
  get leases(): readonly LeaseObservation[] {
    return [...this.state.leases.values()];
  }

  /**
   * Views made once per object version by the operator's own Views: objects here are replaced,
   * never changed, on every write, so successive snapshots share the views of what did not change
   * and the core's per-view memo (rules/status.ts) is exercised as it is live.
   */
  private readonly views = new Views();

  snapshot(): Snapshot {
    const town = this.state.town.metadata.name;
    const own = (os: readonly { spec: { town: string } }[]) =>
      os.filter((o) => o.spec.town === town) as unknown as KubeObject[];
    return snapshotFromViews({
      town: this.state.town,
      convoys: this.views.convoys(own(this.convoys)),
      beads: this.views.beads(own(this.beads)),
      agents: this.views.agents(own(this.agents)),
      reports: this.views.reports(own(this.reports)),
      sessions: this.sessions,
      leases: [...this.state.leases.values()],
    });
  }

  /** A frozen copy of the current objects, to plan from later (a stale cache). */
  freeze(): () => Snapshot {
    const copy = { ...this.state, convoys: new Map(this.state.convoys), beads: new Map(this.state.beads) };
    const agents = [...this.state.agents.values()];
    const reports = [...this.state.reports.values()];
    const sessions = [...this.state.sessions.values()];
    const leases = [...this.state.leases.values()];
    return () =>
      buildSnapshot({
        town: copy.town,
        convoys: [...copy.convoys.values()],
        beads: [...copy.beads.values()],
        agents,
        reports,
        sessions,
        leases,
      });
  }

  // ---- applying a plan -------------------------------------------------------------------------

  /**
   * A written status as the API server stores it: validated against the CRD's schema, defaults
   * filled in and unknown fields pruned (the CRDs are generated from the same zod schemas).
   */
  private validStatus<S extends z.ZodType>(schema: S, kind: string, status: unknown): z.infer<S> {
    if (!this.strict && kind !== "Town") return status as z.infer<S>;
    const parsed = schema.safeParse(status);
    if (!parsed.success) throw new ApplyError("Invalid", `${kind} status is invalid: ${parsed.error.message}`);
    return parsed.data;
  }

  private bump<T extends { metadata: object }>(obj: T, specChange = false): T {
    const meta = obj.metadata as Meta;
    return {
      ...obj,
      metadata: { ...meta, resourceVersion: this.nextRV(), generation: meta.generation + (specChange ? 1 : 0) },
    };
  }

  /**
   * Applies a plan as the actuator does: each independent chain (src/controller/chains.ts) in
   * order until its first error, the summaries (town and convoy status) only if no chain failed.
   * The result counts what was applied and carries the first error in plan order (the shell
   * requeues). With stopAfter, the controller died after n actions, sent round-robin from its chains.
   */
  apply(actions: readonly Action[], opts: ApplyOptions = {}): ApplyResult {
    const batch: Batch = {
      written: new Map(),
      story: new Map(),
      agentsAtStart: new Set(this.state.agents.keys()),
      actions: actions.length,
    };
    const position = new Map(actions.map((a, i) => [a, i]));
    const errors: { at: number; error: ApplyError }[] = [];
    let applied = 0;
    const run = (action: Action): boolean => {
      const at = position.get(action) ?? 0;
      const injected = opts.fail?.(action, at);
      try {
        if (injected) throw new ApplyError("Injected", injected);
        this.applyOne(action, batch);
        this.log.push(action);
        this.recordEvents(action, batch);
        applied++;
        return true;
      } catch (e) {
        if (!(e instanceof ApplyError)) throw e;
        // Like the actuator: a stale view is replanned, not held against the report.
        if (action.cause && (e.code === "Injected" || e.code === "Invalid")) this.chargeReport(action.cause, e.message);
        errors.push({ at, error: e });
        return false;
      }
    };
    const { chains, last } = splitIntoChains(actions, {
      beadOf: (name) => this.state.beads.get(name)?.spec,
      hookOf: (agent) => this.state.agents.get(agent)?.spec.hook,
    });
    if (opts.stopAfter !== undefined) {
      // The controller died after n writes of its concurrent chains: they went out round-robin,
      // so what is applied is a prefix of every chain, not a prefix of the plan.
      let budget = opts.stopAfter;
      const stopped = new Set<number>();
      for (let step = 0; budget > 0 && stopped.size < chains.length; step++) {
        for (let c = 0; c < chains.length && budget > 0; c++) {
          const chain = chains[c] as Action[];
          if (stopped.has(c)) continue;
          if (step >= chain.length) {
            stopped.add(c);
            continue;
          }
          budget--;
          if (!run(chain[step] as Action)) stopped.add(c);
        }
      }
      if (budget > 0 && errors.length === 0) for (const action of last.slice(0, budget)) if (!run(action)) break;
    } else {
      for (const chain of chains) for (const action of chain) if (!run(action)) break;
      if (errors.length === 0) for (const action of last) if (!run(action)) break;
    }
    this.tell(batch);
    errors.sort((x, y) => x.at - y.at);
    const first = errors[0];
    return first ? { applied, error: first.error } : { applied };
  }

  private chargeReport(name: string, error: string): void {
    const r = this.state.reports.get(name);
    if (!r) return;
    const status = r.status ?? {};
    this.state.reports.set(
      name,
      this.bump({
        ...r,
        status: {
          ...status,
          attempts: (status.attempts ?? 0) + 1,
          lastAttemptTime: formatTime(this.now),
          error: error.slice(0, 4000),
        },
      }),
    );
  }

  /**
   * The Events the actuator records: on the object each action is about, one per object per
   * batch, telling everything the batch did to it (see transition-events.ts).
   */
  private recordEvents(a: Action, batch: Batch): void {
    const record = (kind: RecordedEvent["kind"], name: string, w: Why, made = false) => {
      const told = batch.story.get(`${kind}/${name}`) ?? { kind, name, whys: [], made: [] };
      batch.story.set(`${kind}/${name}`, told);
      (made ? told.made : told.whys).push(w);
    };
    switch (a.type) {
      case "CreateBead": {
        const creator = creatorOf(a.spec);
        record(creator?.kind ?? "Bead", creator?.name ?? a.name, a.why, creator !== undefined);
        return;
      }
      case "CreateAgent":
      case "DeleteAgent":
        record("Agent", a.name, a.why);
        return;
      case "UpdateBeadStatus":
      case "UpdateAgentStatus":
      case "UpdateReportStatus":
      case "UpdateConvoyStatus":
      case "UpdateTownStatus":
        for (const w of a.events) record(STATUS_KIND[a.type], a.name, w);
        return;
      case "SetHook":
      case "StartSession":
      case "Nudge":
        record("Agent", a.agent, a.why);
        return;
      case "StopSession":
        // An orphaned pod's agent is gone: there is no object to tell the story on.
        if (batch.agentsAtStart.has(a.agent)) record("Agent", a.agent, a.why);
        return;
      case "Escalate":
        // The rule that raised it already told the agent's own story; the escalation is the town's.
        record("Town", this.state.town.metadata.name, a.why);
        return;
      case "DeleteReport":
      case "PollPullRequest":
        return;
      default:
        a satisfies never;
    }
  }

  private tell(batch: Batch): void {
    for (const { story, transition: t, related } of tellStories(batch.story.values())) {
      // The Events API holds 1 KB of note and 128 characters of reason; the recorder cuts both.
      this.events.push({
        kind: story.kind,
        name: story.name,
        ...(related ? { related: related.name } : {}),
        reason: t.reason.slice(0, 128),
        message: truncateUtf8(t.note, 1024),
        warning: t.type === "Warning",
      });
    }
  }

  private precondition(key: string, have: string, want: string, written: Map<string, string>): void {
    const expected = written.get(key) ?? want;
    if (expected === "" || expected !== have) {
      throw new ApplyError(
        "Conflict",
        `${key}: the object has been modified (have ${have}, plan read ${expected || "nothing"})`,
      );
    }
  }

  private applyOne(a: Action, batch: Batch): void {
    const s = this.state;
    const written = batch.written;
    switch (a.type) {
      case "CreateBead": {
        if (s.beads.has(a.name)) return;
        const spec = BeadSpecSchema.parse(a.spec);
        const component = spec.type === "MergeRequest" ? "merge-request" : "issue";
        const labels: Record<string, string> = {
          ...recommendedLabels("gastown-bead", s.town.metadata.name, component),
          "gastown.dev/town": s.town.metadata.name,
        };
        if (spec.convoy) labels["gastown.dev/convoy"] = spec.convoy;
        const owner = a.ownerConvoy && {
          apiVersion: API_VERSION,
          kind: "Convoy",
          name: a.ownerConvoy.name,
          uid: a.ownerConvoy.uid,
          blockOwnerDeletion: true,
        };
        const bead = this.stamp<Bead>({
          apiVersion: API_VERSION,
          kind: "Bead",
          metadata: { name: a.name, labels, ...(owner ? { ownerReferences: [owner] } : {}) },
          spec,
        });
        s.beads.set(a.name, bead);
        written.set(`Bead/${a.name}`, bead.metadata.resourceVersion as string);
        return;
      }
      case "CreateAgent": {
        if (s.agents.has(a.name)) return;
        const town = s.town.metadata;
        const agent = this.stamp<Agent>({
          apiVersion: API_VERSION,
          kind: "Agent",
          metadata: {
            name: a.name,
            labels: {
              ...recommendedLabels("gastown-agent", town.name, a.role.toLowerCase()),
              "gastown.dev/town": town.name,
              "gastown.dev/rig": a.rig,
              "gastown.dev/role": a.role.toLowerCase(),
            },
            ownerReferences: [
              { apiVersion: API_VERSION, kind: "Town", name: town.name, uid: town.uid ?? "", blockOwnerDeletion: true },
            ],
          },
          spec: { town: town.name, role: a.role, rig: a.rig },
        });
        s.agents.set(a.name, agent);
        written.set(`Agent/${a.name}`, agent.metadata.resourceVersion as string);
        return;
      }
      case "UpdateBeadStatus":
        this.patchStatus(s.beads, "Bead", BeadStatusSchema, a, written);
        return;
      case "UpdateAgentStatus":
        this.patchStatus(s.agents, "Agent", AgentStatusSchema, a, written);
        return;
      case "UpdateReportStatus":
        this.patchStatus(s.reports, "AgentReport", AgentReportStatusSchema, a, written);
        return;
      case "UpdateConvoyStatus":
        this.patchStatus(s.convoys, "Convoy", ConvoyStatusSchema, a, written);
        return;
      case "UpdateTownStatus": {
        const key = `Town/${a.name}`;
        this.precondition(key, s.town.metadata.resourceVersion as string, a.resourceVersion, written);
        // The shell adds when the reconcile ran, how long planning took and how much it did.
        const lastReconcile = { time: formatTime(this.now), durationMs: 0, actions: batch.actions };
        const patch = { ...a.status, lastReconcile };
        if (patchChanges(s.town.status, patch)) {
          const status = this.validStatus(TownStatusSchema, "Town", mergePatch(s.town.status ?? {}, patch));
          s.town = this.bump({ ...s.town, status });
        }
        written.set(key, s.town.metadata.resourceVersion as string);
        return;
      }
      case "SetHook": {
        const agent = s.agents.get(a.agent);
        if (!agent) throw new ApplyError("NotFound", `agent ${a.agent} not found`);
        const key = `Agent/${a.agent}`;
        this.precondition(key, agent.metadata.resourceVersion as string, a.resourceVersion, written);
        const spec = { ...agent.spec };
        if (a.hook === null) delete spec.hook;
        else spec.hook = a.hook;
        const next = spec.hook === agent.spec.hook ? agent : this.bump({ ...agent, spec }, true);
        s.agents.set(a.agent, next);
        written.set(key, next.metadata.resourceVersion as string);
        return;
      }
      case "StartSession": {
        if (s.sessions.has(a.pod)) return;
        if (!s.agents.has(a.agent)) throw new ApplyError("NotFound", `agent ${a.agent} not found`);
        // The agent's identity comes first: its ServiceAccount, Role and an empty heartbeat Lease.
        if (!s.leases.has(a.agent)) s.leases.set(a.agent, { agent: a.agent, activeTools: 0 });
        s.sessions.set(a.pod, {
          name: a.pod,
          agent: a.agent,
          session: a.session,
          bead: a.bead,
          phase: "Pending",
          created: this.now,
          deleting: false,
        });
        return;
      }
      case "StopSession": {
        // As the pod runtime deletes: with a 30 s grace period, which the deletion deadline shows.
        const session = s.sessions.get(a.pod);
        if (session && !session.deleting)
          s.sessions.set(a.pod, { ...session, deleting: true, deletionDeadline: this.now + POD_GRACE_MS });
        return;
      }
      case "DeleteAgent": {
        const agent = s.agents.get(a.name);
        if (!agent) return;
        this.precondition(`Agent/${a.name}`, agent.metadata.resourceVersion as string, a.resourceVersion, written);
        s.agents.delete(a.name);
        // Owner references take the agent's sessions and lease with it: the garbage collector
        // deletes the pods, which then terminate like any deleted pod (finishDeletions).
        for (const [pod, session] of s.sessions) {
          if (session.agent === a.name) s.sessions.set(pod, { ...session, deleting: true });
        }
        s.leases.delete(a.name);
        return;
      }
      case "DeleteReport":
        s.reports.delete(a.name);
        return;
      case "PollPullRequest":
        this.poll(a.bead, a.url);
        return;
      case "Nudge":
      case "Escalate":
        return;
      default:
        // A new action type needs its effect here (and its row in the contract suite).
        a satisfies never;
    }
  }

  private patchStatus<T extends { metadata: object; status?: unknown }>(
    store: Map<string, T>,
    kind: string,
    schema: z.ZodType,
    a: { name: string; resourceVersion: string; status: Record<string, unknown> },
    written: Map<string, string>,
  ): void {
    const obj = store.get(a.name);
    if (!obj) throw new ApplyError("NotFound", `${kind} ${a.name} not found`);
    const key = `${kind}/${a.name}`;
    this.precondition(key, (obj.metadata as Meta).resourceVersion, a.resourceVersion, written);
    const next = patchChanges(obj.status, a.status)
      ? this.bump({ ...obj, status: this.validStatus(schema, kind, mergePatch(obj.status ?? {}, a.status)) })
      : obj;
    store.set(a.name, next);
    written.set(key, (next.metadata as Meta).resourceVersion);
  }

  /** The shell's PR poller: records what the forge said, without deciding anything. */
  private poll(bead: string, url: string): void {
    const b = this.state.beads.get(bead);
    if (!b) return;
    const answer = this.forge(url);
    const pr = b.status?.pullRequest ?? {};
    const now = formatTime(this.now);
    const next =
      answer instanceof Error
        ? { ...pr, lastAttemptTime: now, lastError: answer.message, consecutiveErrors: (pr.consecutiveErrors ?? 0) + 1 }
        : {
            state: answer.state,
            lastPolledTime: now,
            lastAttemptTime: now,
            consecutiveErrors: 0,
            ...(answer.mergeCommit ? { mergeCommit: answer.mergeCommit } : {}),
          };
    if (JSON.stringify(next) === JSON.stringify(b.status?.pullRequest)) return;
    const status = this.validStatus(BeadStatusSchema, "Bead", { ...b.status, pullRequest: next });
    this.state.beads.set(bead, this.bump({ ...b, status }));
  }
}
