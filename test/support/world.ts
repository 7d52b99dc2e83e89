// An in-memory world that applies actions to objects exactly as the actuator applies them to the
// API: creates are idempotent (AlreadyExists is success), deletes too (NotFound is success),
// writes carry resourceVersion preconditions (a conflict stops the batch), status writes are
// JSON merge patches, and a failed write caused by a report is charged to that report. The unit
// tests and the simulation drive it; it lives with the test doubles because nothing in the operator
// runs it, and the simulation's safety claims hold only as far as it agrees with the actuator.
import type { Agent } from "../../src/api/agent.ts";
import type { AgentReport } from "../../src/api/agent-report.ts";
import { type Bead, BeadSpecSchema } from "../../src/api/bead.ts";
import type { Convoy } from "../../src/api/convoy.ts";
import { API_VERSION } from "../../src/api/meta.ts";
import type { Town } from "../../src/api/town.ts";
import type { Action } from "../../src/core/actions.ts";
import type { LeaseObservation, SessionObservation, Snapshot } from "../../src/core/snapshot.ts";
import { buildSnapshot } from "../../src/core/snapshot.ts";
import { formatTime } from "../../src/core/time.ts";

/** The grace period the pod runtime deletes session pods with. */
export const POD_GRACE_MS = 30_000;

export class ApplyError extends Error {
  readonly code: "Conflict" | "NotFound" | "Injected";
  constructor(code: ApplyError["code"], message: string) {
    super(message);
    this.code = code;
  }
}

export interface RecordedEvent {
  kind: string;
  name: string;
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

export class World {
  now: number;
  private revision = 1;
  private state: Stored;
  readonly events: RecordedEvent[] = [];
  readonly log: Action[] = [];
  forge: Forge = () => ({ state: "Open" });

  constructor(town: Town, now: number) {
    this.now = now;
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
    this.state.beads.set(name, this.bump({ ...b, spec: { ...b.spec, ...change } }, true));
  }

  editTownSpec(change: Partial<Town["spec"]>): void {
    const t = this.state.town;
    this.state.town = this.bump({ ...t, spec: { ...t.spec, ...change } }, true);
  }

  editConvoySpec(name: string, change: Partial<Convoy["spec"]>): void {
    const c = this.state.convoys.get(name);
    if (!c) throw new Error(`no convoy ${name}`);
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

  snapshot(): Snapshot {
    return buildSnapshot({
      town: this.state.town,
      convoys: this.convoys,
      beads: this.beads,
      agents: this.agents,
      reports: this.reports,
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

  private bump<T extends { metadata: object }>(obj: T, specChange = false): T {
    const meta = obj.metadata as Meta;
    return {
      ...obj,
      metadata: { ...meta, resourceVersion: this.nextRV(), generation: meta.generation + (specChange ? 1 : 0) },
    };
  }

  /** Applies a plan's actions in order, stopping at the first error (the shell requeues). */
  apply(actions: readonly Action[], opts: ApplyOptions = {}): ApplyResult {
    const written = new Map<string, string>();
    const limit = Math.min(actions.length, opts.stopAfter ?? actions.length);
    for (let i = 0; i < limit; i++) {
      const action = actions[i] as Action;
      const injected = opts.fail?.(action, i);
      try {
        if (injected) throw new ApplyError("Injected", injected);
        this.applyOne(action, written);
        this.log.push(action);
        this.recordEvents(action);
      } catch (e) {
        if (!(e instanceof ApplyError)) throw e;
        if (action.cause) this.chargeReport(action.cause, e.message);
        return { applied: i, error: e };
      }
    }
    return { applied: limit };
  }

  private chargeReport(name: string, error: string): void {
    const r = this.state.reports.get(name);
    if (!r) return;
    const status = r.status ?? {};
    this.state.reports.set(
      name,
      this.bump({
        ...r,
        status: { ...status, attempts: (status.attempts ?? 0) + 1, lastAttemptTime: formatTime(this.now), error },
      }),
    );
  }

  private recordEvents(action: Action): void {
    const whys = "events" in action ? action.events : "why" in action ? [action.why] : [];
    const name = "name" in action ? action.name : "agent" in action ? (action.agent ?? "") : "";
    for (const w of whys) {
      this.events.push({ kind: action.type, name, reason: w.reason, message: w.message, warning: w.warning ?? false });
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

  private applyOne(a: Action, written: Map<string, string>): void {
    const s = this.state;
    switch (a.type) {
      case "CreateBead": {
        if (s.beads.has(a.name)) return;
        const spec = BeadSpecSchema.parse(a.spec);
        const owner = a.ownerConvoy
          ? {
              ownerReferences: [
                { apiVersion: API_VERSION, kind: "Convoy", name: a.ownerConvoy.name, uid: a.ownerConvoy.uid },
              ],
            }
          : {};
        const bead = this.stamp<Bead>({
          apiVersion: API_VERSION,
          kind: "Bead",
          metadata: { name: a.name, ...owner },
          spec,
        });
        s.beads.set(a.name, bead);
        written.set(`Bead/${a.name}`, bead.metadata.resourceVersion as string);
        return;
      }
      case "CreateAgent": {
        if (s.agents.has(a.name)) return;
        const agent = this.stamp<Agent>({
          apiVersion: API_VERSION,
          kind: "Agent",
          metadata: { name: a.name },
          spec: { town: s.town.metadata.name, role: a.role, rig: a.rig },
        });
        s.agents.set(a.name, agent);
        written.set(`Agent/${a.name}`, agent.metadata.resourceVersion as string);
        return;
      }
      case "UpdateBeadStatus":
        this.patchStatus(s.beads, "Bead", a, written);
        return;
      case "UpdateAgentStatus":
        this.patchStatus(s.agents, "Agent", a, written);
        return;
      case "UpdateReportStatus":
        this.patchStatus(s.reports, "AgentReport", a, written);
        return;
      case "UpdateConvoyStatus":
        this.patchStatus(s.convoys, "Convoy", a, written);
        return;
      case "UpdateTownStatus": {
        const key = `Town/${a.name}`;
        this.precondition(key, s.town.metadata.resourceVersion as string, a.resourceVersion, written);
        s.town = this.bump({ ...s.town, status: mergePatch(s.town.status ?? {}, a.status) as Town["status"] });
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
        const next = this.bump({ ...agent, spec }, true);
        s.agents.set(a.agent, next);
        written.set(key, next.metadata.resourceVersion as string);
        return;
      }
      case "StartSession": {
        if (s.sessions.has(a.pod)) return;
        if (!s.agents.has(a.agent)) throw new ApplyError("NotFound", `agent ${a.agent} not found`);
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
        // Owner references take the agent's sessions and lease with it.
        for (const [pod, session] of s.sessions) if (session.agent === a.name) s.sessions.delete(pod);
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
    }
  }

  private patchStatus<T extends { metadata: object; status?: unknown }>(
    store: Map<string, T>,
    kind: string,
    a: { name: string; resourceVersion: string; status: Record<string, unknown> },
    written: Map<string, string>,
  ): void {
    const obj = store.get(a.name);
    if (!obj) throw new ApplyError("NotFound", `${kind} ${a.name} not found`);
    const key = `${kind === "AgentReport" ? "AgentReport" : kind}/${a.name}`;
    this.precondition(key, (obj.metadata as Meta).resourceVersion, a.resourceVersion, written);
    const next = this.bump({ ...obj, status: mergePatch(obj.status ?? {}, a.status) });
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
    this.state.beads.set(bead, this.bump({ ...b, status: { ...b.status, pullRequest: next } }));
  }
}
