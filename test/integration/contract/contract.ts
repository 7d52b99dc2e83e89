// The contract between the in-memory world and the real actuator: one scenario drives both. Plans
// are made by the pure core from the world's snapshot (so both sides get the same actions), the
// actions are translated for the cluster (the world's resourceVersions and uids mapped to the
// ones the API server gave the same objects), applied to each side, and after every step the two
// sides' objects, session pods, leases and Events must be the same (see normalise.ts).
import { STATUS_CODES } from "node:http";
import type { KubeConfig } from "@kubernetes/client-node";
import { expect } from "vitest";
import type { AgentReportSpec } from "../../../src/api/agent-report.ts";
import type { Bead } from "../../../src/api/bead.ts";
import type { Convoy } from "../../../src/api/convoy.ts";
import type { Town } from "../../../src/api/town.ts";
import { type Action, type ActionOf, ActionSchema, type ActionType } from "../../../src/core/actions.ts";
import { type Plan, plan } from "../../../src/core/plan.ts";
import type { LeaseObservation, Snapshot } from "../../../src/core/snapshot.ts";
import type { KubeHttp } from "../../../src/kube/http.ts";
import type { TestForge } from "../../support/forge.ts";
import type { Forge } from "../../support/world.ts";
import { ClusterSide, type ClusterView, HOLD_FINALIZER, type Kind } from "./cluster-side.ts";
import { normalise, type Outcome } from "./normalise.ts";
import { WorldSide } from "./world-side.ts";

/** Where the world's identities of objects are turned into the cluster's. */
export interface Mapper {
  rv(kind: Kind, name: string, worldRV: string): string;
  uid(worldUid: string): string;
}

/**
 * One row per action type: how an action planned from the world reads on the cluster. The mapped
 * type makes a new action type in the core a compile error here until it has its row.
 */
export const ACTIONS: { [T in ActionType]: (a: ActionOf<T>, m: Mapper) => ActionOf<T> } = {
  CreateBead: (a, m) =>
    a.ownerConvoy ? { ...a, ownerConvoy: { ...a.ownerConvoy, uid: m.uid(a.ownerConvoy.uid) } } : a,
  UpdateBeadStatus: (a, m) => ({ ...a, resourceVersion: m.rv("Bead", a.name, a.resourceVersion) }),
  CreateAgent: (a) => a,
  SetHook: (a, m) => ({ ...a, resourceVersion: m.rv("Agent", a.agent, a.resourceVersion) }),
  UpdateAgentStatus: (a, m) => ({ ...a, resourceVersion: m.rv("Agent", a.name, a.resourceVersion) }),
  StartSession: (a) => a,
  StopSession: (a) => a,
  DeleteAgent: (a, m) => ({ ...a, uid: m.uid(a.uid), resourceVersion: m.rv("Agent", a.name, a.resourceVersion) }),
  UpdateReportStatus: (a, m) => ({ ...a, resourceVersion: m.rv("AgentReport", a.name, a.resourceVersion) }),
  DeleteReport: (a) => a,
  UpdateConvoyStatus: (a, m) => ({ ...a, resourceVersion: m.rv("Convoy", a.name, a.resourceVersion) }),
  UpdateTownStatus: (a, m) => ({ ...a, resourceVersion: m.rv("Town", a.name, a.resourceVersion) }),
  PollPullRequest: (a) => a,
  Nudge: (a) => a,
  Escalate: (a) => a,
};

export const ALL_ACTION_TYPES: readonly ActionType[] = ActionSchema.options.map((o) => o.shape.type.value);

/** The admission policy's refusal, as the API server words it for `name` (see contract.test.ts). */
export type DenialMessage = (name: string) => string;
/** Merge requests of beads named denied-… cannot be created (a webhook, a quota): see the policy. */
export const denied = (a: Action): a is ActionOf<"CreateBead"> =>
  a.type === "CreateBead" && a.name.startsWith("denied-");

export interface ContractOptions {
  ns: string;
  http: KubeHttp;
  kc: KubeConfig;
  town: Record<string, unknown>;
  forge: TestForge;
  denial: DenialMessage;
  start: number;
}

/** What a forge says about a pull request, exactly as the real poller would record it. */
function modelForge(forge: TestForge): Forge {
  return (url) => {
    const n = /\/pull\/(\d+)\/?$/.exec(new URL(url).pathname)?.[1] ?? "";
    const api = `${forge.apiURL}/repos/acme/app/pulls/${n}`;
    const pull = forge.pulls.get(n);
    if (!pull) return new Error(`forge answered 404 ${STATUS_CODES[404]} for ${api}`);
    if ("error" in pull) return new Error(`forge answered ${pull.error} ${STATUS_CODES[pull.error]} for ${api}`);
    if (pull.merged)
      return { state: "Merged", ...(pull.merge_commit_sha ? { mergeCommit: pull.merge_commit_sha } : {}) };
    return { state: pull.state === "closed" ? "Closed" : "Open" };
  };
}

const OBJECT_KINDS: Kind[] = ["Town", "Convoy", "Bead", "Agent", "AgentReport"];

export class Contract {
  readonly world: WorldSide;
  readonly cluster: ClusterSide;
  readonly forge: TestForge;
  /** Action types applied on both sides (not just planned), for the suite's coverage check. */
  readonly applied = new Set<ActionType>();
  private readonly denial: DenialMessage;
  private readonly rvs = new Map<string, string>();
  private readonly uids = new Map<string, string>();
  private readonly frozen = new Map<string, { world: () => Snapshot; cluster: ClusterView }>();
  private steps = 0;
  private readonly start: number;
  private lastStep = "start";

  private constructor(world: WorldSide, cluster: ClusterSide, o: ContractOptions) {
    this.world = world;
    this.cluster = cluster;
    this.forge = o.forge;
    this.denial = o.denial;
    this.start = o.start;
  }

  static async open(o: ContractOptions): Promise<Contract> {
    // The world's clock is the only clock: the cluster side's shell reads it too.
    let now = () => o.start;
    const cluster = new ClusterSide({ ns: o.ns, http: o.http, kc: o.kc, now: () => now(), forgeHosts: [o.forge.host] });
    const town = await cluster.create<Town>("Town", o.town as never);
    const world = new WorldSide(town, o.start, modelForge(o.forge));
    now = () => world.world.now;
    await cluster.start();
    const c = new Contract(world, cluster, o);
    await c.step("the town is created", async () => {});
    return c;
  }

  async close(): Promise<void> {
    await this.cluster.close();
  }

  get now(): number {
    return this.world.world.now;
  }

  /** Moves the clock; nothing else happens (the core takes time as input). */
  advance(ms: number): void {
    this.world.world.now += ms;
  }

  // ---- what users, agents and the kubelet do, on both sides ---------------------------------------

  async addBead(name: string, spec: Partial<Bead["spec"]> & { title?: string } = {}): Promise<void> {
    await this.step(`bead ${name} is created`, async () => {
      const stored = await this.cluster.create<Bead>("Bead", {
        metadata: { name },
        spec: { town: "gt", rig: "app", title: `bead ${name}`, ...spec },
      });
      this.world.world.addBead({ metadata: { name }, spec: stored.spec });
    });
  }

  async addConvoy(name: string, tasks: { name: string; dependsOn?: string[] }[], mergeMode = "ReviewAndMerge") {
    await this.step(`convoy ${name} is created`, async () => {
      const stored = await this.cluster.create<Convoy>("Convoy", {
        metadata: { name },
        spec: {
          town: "gt",
          title: `convoy ${name}`,
          mergeMode,
          tasks: tasks.map((t) => ({
            name: t.name,
            title: `task ${t.name}`,
            rig: "app",
            dependsOn: t.dependsOn ?? [],
          })),
        },
      });
      this.world.world.addConvoy({ metadata: { name }, spec: stored.spec });
    });
  }

  async editBead(name: string, change: Partial<Bead["spec"]>): Promise<void> {
    await this.step(`bead ${name} is edited`, async () => {
      await this.cluster.patchSpec("Bead", name, change);
      this.world.world.editBeadSpec(name, change);
    });
  }

  /** The agent files a report for its current session (or the given one). */
  async report(
    name: string,
    agent: string,
    type: AgentReportSpec["type"],
    extra: Partial<AgentReportSpec> = {},
  ): Promise<void> {
    const a = this.world.world.agent(agent);
    if (!a) throw new Error(`no agent ${agent}`);
    const spec = {
      town: "gt",
      agent,
      bead: a.spec.hook ?? a.status?.sessionBead ?? "",
      session: a.status?.session ?? 0,
      type,
      ...extra,
    } as AgentReportSpec;
    await this.step(`${agent} reports ${type} (${name})`, async () => {
      const stored = await this.cluster.create<{ spec: AgentReportSpec }>("AgentReport", { metadata: { name }, spec });
      this.world.world.addReport(stored.spec, name);
    });
  }

  /** The session's container exits; the kubelet reports it. */
  async exitPod(pod: string, exitCode = 0): Promise<void> {
    await this.step(`pod ${pod} exits ${exitCode}`, async () => {
      await this.cluster.exitPod(pod, exitCode, this.now);
      this.world.exitPod(pod, exitCode);
    });
  }

  /** Someone deletes the session pod behind the controller's back (kubectl delete, a drain). */
  async deletePod(pod: string): Promise<void> {
    await this.step(`pod ${pod} is deleted`, async () => {
      await this.cluster.deletePod(pod);
      this.world.world.removeSession(pod);
    });
  }

  /** A finalizer keeps the pod Terminating once it is deleted (a dead node, a stuck volume). */
  async holdPod(pod: string, hold = true): Promise<void> {
    await this.step(`pod ${pod} is ${hold ? "held" : "released"}`, async () => {
      await this.cluster.setPodFinalizers(pod, hold ? [HOLD_FINALIZER] : []);
      if (hold) this.world.held.add(pod);
      else this.world.held.delete(pod);
    });
  }

  /** The agent's runtime renews its Lease with the activity watermark. */
  async heartbeat(agent: string, activity: Partial<LeaseObservation> = {}): Promise<void> {
    const a = this.world.world.agent(agent);
    const l: LeaseObservation = {
      agent,
      renewTime: this.now,
      activityTime: this.now,
      activityKind: "tool",
      activeTools: 0,
      session: a?.status?.session ?? 0,
      ...activity,
    };
    await this.step(`${agent} renews its lease`, async () => {
      await this.cluster.renewLease(l);
      this.world.world.setLease(l);
    });
  }

  // ---- planning and applying ----------------------------------------------------------------------

  /** Keeps both sides' current view, to plan and apply from later (a stale cache). */
  async freeze(label: string): Promise<void> {
    this.frozen.set(label, { world: this.world.world.freeze(), cluster: await this.cluster.view() });
  }

  /** Plans from the world (or a frozen view) and applies the plan to both sides. */
  async plan(opts: { from?: string; expect?: ActionType[]; outcome?: Partial<Outcome> } = {}): Promise<Plan> {
    const frozen = opts.from ? this.frozen.get(opts.from) : undefined;
    if (opts.from && !frozen) throw new Error(`nothing frozen as ${opts.from}`);
    const p = plan(frozen ? frozen.world() : this.world.world.snapshot(), this.now);
    const types = new Set(p.actions.map((a) => a.type));
    for (const t of opts.expect ?? []) {
      expect(types.has(t), `the plan at step ${this.steps + 1} has ${t}: ${[...types].join(", ")}`).toBe(true);
    }
    await this.apply(p.actions, {
      ...(opts.from ? { from: opts.from } : {}),
      ...(opts.outcome ? { outcome: opts.outcome } : {}),
    });
    return p;
  }

  /** Applies actions written against the world's objects to both sides. */
  async apply(actions: readonly Action[], opts: { from?: string; outcome?: Partial<Outcome> } = {}): Promise<Outcome> {
    let outcome: Outcome = { applied: 0 };
    const summary =
      actions
        .map(
          (a) =>
            `${a.type}(${"name" in a ? a.name : "agent" in a ? a.agent : ""}${"why" in a ? ` ${a.why.reason}` : ""})`,
        )
        .join(", ") || "nothing";
    await this.step(`apply ${summary}${opts.from ? ` planned from ${opts.from}` : ""}`, async () => {
      const view = opts.from ? (this.frozen.get(opts.from)?.cluster as ClusterView) : await this.cluster.view();
      const translated = actions.map((a) => this.translate(a));
      const real = await this.cluster.apply(translated, view);
      const logged = this.world.world.log.length;
      const model = this.world.apply(actions, (a) => (denied(a) ? this.denial(a.name) : undefined));
      const brief = (o: Outcome) => ({
        applied: o.applied,
        error: o.error,
        ...(o.error === "failed" ? { message: o.message } : {}),
      });
      expect(brief(real), `the cluster's outcome (${real.message ?? "no error"}) is the world's`).toEqual(brief(model));
      if (opts.outcome) expect(model).toMatchObject(opts.outcome);
      for (const a of this.world.world.log.slice(logged)) this.applied.add(a.type);
      outcome = model;
    });
    return outcome;
  }

  private translate(a: Action): Action {
    const w = this.world.world;
    const exists = (kind: Kind, name: string) =>
      kind === "Town"
        ? w.town.metadata.name === name
        : (kind === "Convoy" ? w.convoys : kind === "Bead" ? w.beads : kind === "Agent" ? w.agents : w.reports).some(
            (o) => o.metadata.name === name,
          );
    const m: Mapper = {
      rv: (kind, name, worldRV) => {
        if (worldRV === "") return "";
        const real = this.rvs.get(`${kind}/${name}@${worldRV}`);
        if (real !== undefined) return real;
        // A hand-written write to an object neither side has: the API server says NotFound.
        if (!exists(kind, name)) return worldRV;
        throw new Error(`${kind}/${name}@${worldRV} has no counterpart on the cluster`);
      },
      uid: (worldUid) => this.uids.get(worldUid) ?? worldUid,
    };
    return (ACTIONS[a.type] as (a: Action, m: Mapper) => Action)(a, m);
  }

  // ---- comparing ----------------------------------------------------------------------------------

  /** Runs one step on both sides, lets both settle, then requires them to agree. */
  private async step(label: string, body: () => Promise<void>): Promise<void> {
    this.steps++;
    this.lastStep = label;
    if (process.env.GASTOWN_CONTRACT_DEBUG)
      process.stderr.write(`contract step ${this.steps} @${(this.now - this.start) / 1000}s: ${label}\n`);
    await body();
    this.world.settle();
    await this.cluster.settle();
    const view = await this.cluster.view();
    this.sync(view);
    await this.check(view);
  }

  /** Records which cluster resourceVersion and uid each world object's version corresponds to. */
  private sync(real: ClusterView): void {
    const w = this.world.world;
    type Meta = { metadata: { name: string; uid?: string; resourceVersion?: string } };
    const pairs: [Kind, Meta[], Meta[]][] = [
      ["Town", [w.town], [real.town]],
      ["Convoy", [...w.convoys], real.convoys],
      ["Bead", [...w.beads], real.beads],
      ["Agent", [...w.agents], real.agents],
      ["AgentReport", [...w.reports], real.reports],
    ];
    for (const [kind, model, cluster] of pairs) {
      const byName = new Map(cluster.map((o) => [o.metadata.name, o]));
      for (const o of model) {
        const r = byName.get(o.metadata.name);
        if (!r) continue;
        this.rvs.set(`${kind}/${o.metadata.name}@${o.metadata.resourceVersion}`, r.metadata.resourceVersion ?? "");
        if (o.metadata.uid && r.metadata.uid) this.uids.set(o.metadata.uid, r.metadata.uid);
      }
    }
  }

  async check(view: ClusterView): Promise<void> {
    const model = normalise(this.world.state());
    const real = normalise(await this.cluster.state(view));
    expect(real, `the cluster agrees with the world after step ${this.steps} (${this.lastStep})`).toEqual(model);
  }

  // ---- reading the world, for scripting ---------------------------------------------------------

  bead(name: string): Bead {
    return this.world.world.bead(name);
  }

  assignee(bead: string): string {
    const a = this.bead(bead).status?.assignee;
    if (!a) throw new Error(`bead ${bead} has no assignee`);
    return a;
  }

  /** The agent hooked to the bead. */
  hooked(bead: string): string {
    const a = this.world.world.agents.find((x) => x.spec.hook === bead);
    if (!a) throw new Error(`no agent is hooked to ${bead}`);
    return a.metadata.name;
  }

  pod(agent: string): string {
    const p = this.world.world.agent(agent)?.status?.pod;
    if (!p) throw new Error(`agent ${agent} has no pod`);
    return p;
  }

  static kinds(): readonly Kind[] {
    return OBJECT_KINDS;
  }
}
