// Test harness for the pure core: builds towns, and simulates agents acting on their sessions so
// a whole convoy can run through plan → apply → agent behaviour loops without Kubernetes.
import type { AgentReport } from "../../../src/api/agent-report.ts";
import { API_VERSION } from "../../../src/api/meta.ts";
import type { Rig, Town } from "../../../src/api/town.ts";
import { TownSpecSchema } from "../../../src/api/town.ts";
import { checkInvariants } from "../../../src/core/invariants.ts";
import { type Plan, plan } from "../../../src/core/plan.ts";
import type { SessionObservation } from "../../../src/core/snapshot.ts";
import { type ApplyOptions, type ApplyResult, World } from "../../support/world.ts";

export const T0 = Date.parse("2026-01-01T00:00:00Z");
export const SEC = 1000;
export const MIN = 60 * SEC;

export function makeTown(opts: { rigs?: Partial<Rig>[]; spec?: Record<string, unknown> } = {}): Town {
  const rigs = (opts.rigs ?? [{ name: "app" }]).map((r) => ({ repo: `file:///repos/${r.name}.git`, ...r }));
  return {
    apiVersion: API_VERSION,
    kind: "Town",
    metadata: { name: "gt", namespace: "default", uid: "town-uid", generation: 1 },
    spec: TownSpecSchema.parse({ rigs, ...(opts.spec ?? {}) }),
  };
}

export interface TaskInput {
  name: string;
  rig?: string;
  dependsOn?: string[];
  priority?: number;
}

export function convoy(
  name: string,
  tasks: TaskInput[],
  opts: { mergeMode?: "ReviewThenLand" | "ReviewAndMerge"; staged?: boolean } = {},
) {
  return {
    metadata: { name },
    spec: {
      town: "gt",
      title: `convoy ${name}`,
      mergeMode: opts.mergeMode ?? "ReviewThenLand",
      staged: opts.staged ?? false,
      tasks: tasks.map((t) => ({
        name: t.name,
        title: `task ${t.name}`,
        description: "",
        rig: t.rig ?? "app",
        priority: t.priority ?? 2,
        dependsOn: t.dependsOn ?? [],
      })),
    },
  };
}

export function bead(name: string, spec: Record<string, unknown> = {}) {
  return {
    metadata: { name },
    spec: {
      town: "gt",
      rig: "app",
      type: "Issue" as const,
      title: `bead ${name}`,
      description: "",
      priority: 2,
      labels: [],
      dependsOn: [],
      cancel: false,
      ...spec,
    },
  };
}

/** What a simulated agent does with a running session. */
export type Behaviour =
  | { kind: "done"; after?: number }
  | { kind: "crash"; exitCode?: number }
  | { kind: "exit0" }
  | { kind: "hang" }
  | { kind: "silent" }
  | { kind: "requestChanges" }
  | { kind: "reviewFailed" }
  | { kind: "pullRequest" }
  | { kind: "wrongBead" }
  /** Hands off to a fresh session with a checkpoint (gt handoff), then exits 0. */
  | { kind: "handoff" }
  /** Saves a checkpoint, then finishes. */
  | { kind: "checkpoint" }
  /** A buggy or forged gt: reports Done with a session number that never ran, then exits 0. */
  | { kind: "bogusSession" }
  /** Hangs; when its pod is deleted it never finishes terminating (a finalizer, a dead node). */
  | { kind: "stuckTerminating" }
  /** The container never starts: a Secret it needs is missing (a configuration error). */
  | { kind: "configError" }
  /** The container never starts: its image cannot be pulled (transient). */
  | { kind: "imagePull" };

export type Chooser = (session: SessionObservation, role: "Polecat" | "Refinery", tick: number) => Behaviour;

export const alwaysDone: Chooser = () => ({ kind: "done" });

export class Sim {
  readonly world: World;
  tick = 0;
  readonly plans: Plan[] = [];
  private readonly age = new Map<string, number>();
  private readonly decided = new Map<string, Behaviour>();
  choose: Chooser;
  /** Every observed violation, with the tick. */
  readonly violations: { tick: number; message: string }[] = [];

  constructor(town: Town, choose: Chooser = alwaysDone, start = T0) {
    this.world = new World(town, start);
    this.choose = choose;
  }

  get now(): number {
    return this.world.now;
  }

  planAndApply(opts: ApplyOptions & { snapshotFrom?: () => ReturnType<World["snapshot"]> } = {}): ApplyResult {
    const snap = opts.snapshotFrom ? opts.snapshotFrom() : this.world.snapshot();
    const p = plan(snap, this.world.now);
    this.plans.push(p);
    return this.world.apply(p.actions, opts);
  }

  checkInvariants(): void {
    for (const v of checkInvariants(this.world.snapshot(), this.world.now)) {
      this.violations.push({ tick: this.tick, message: v.message });
    }
  }

  /** Pods that never finish terminating once deleted. */
  readonly stuck = new Set<string>();

  /** Sessions move on: pending pods start, running agents act per their behaviour. */
  agentsAct(): void {
    this.world.finishDeletions(this.stuck);
    for (const s of this.world.sessions) {
      if (s.phase !== "Running" && s.phase !== "Pending") continue;
      const agent = this.world.agent(s.agent);
      if (!agent) continue;
      const role = agent.spec.role;
      // A pod name comes back when a collected agent is recreated: key sessions by name and birth.
      const key = `${s.name}@${s.created}`;
      let b = this.decided.get(key);
      if (!b) {
        b = this.choose(s, role, this.tick);
        this.decided.set(key, b);
      }
      if (s.phase === "Pending") {
        if (b.kind === "configError") {
          this.world.setSession({
            ...s,
            waiting: { reason: "CreateContainerConfigError", message: 'secret "model-key" not found' },
          });
        } else if (b.kind === "imagePull") {
          this.world.setSession({ ...s, waiting: { reason: "ErrImagePull", message: "pull access denied" } });
        } else {
          this.world.setSession({ ...s, phase: "Running", started: this.now });
        }
        continue;
      }
      const age = (this.age.get(key) ?? 0) + 1;
      this.age.set(key, age);
      this.act(s, role, b, age);
    }
  }

  private heartbeat(s: SessionObservation): void {
    this.world.setLease({
      agent: s.agent,
      renewTime: this.now,
      activityTime: this.now,
      activeTools: 0,
      session: s.session,
    });
  }

  private report(
    s: SessionObservation,
    type: AgentReport["spec"]["type"],
    extra: Partial<AgentReport["spec"]> = {},
  ): void {
    this.world.addReport({ town: "gt", agent: s.agent, bead: s.bead ?? "", session: s.session, type, ...extra });
  }

  private exit(s: SessionObservation, exitCode: number): void {
    this.world.setSession({ ...s, phase: exitCode === 0 ? "Succeeded" : "Failed", exitCode, finished: this.now });
  }

  private act(s: SessionObservation, role: "Polecat" | "Refinery", b: Behaviour, age: number): void {
    switch (b.kind) {
      case "hang":
        return;
      case "stuckTerminating":
        this.stuck.add(s.name);
        return;
      case "bogusSession":
        this.heartbeat(s);
        if (age === 2)
          this.world.addReport({
            town: "gt",
            agent: s.agent,
            bead: s.bead ?? "",
            session: s.session + 5,
            type: "Done",
            branch: `gt/app/${s.bead}`,
          });
        if (age >= 3) this.exit(s, 0);
        return;
      case "handoff":
        this.heartbeat(s);
        if (age === 2) this.report(s, "Handoff", { data: `checkpoint of ${s.bead} from ${s.name}` });
        if (age >= 3) this.exit(s, 0);
        return;
      case "checkpoint":
        this.heartbeat(s);
        if (age === 1) this.report(s, "Checkpoint", { data: `progress of ${s.bead} in ${s.name}` });
        break;
      case "silent":
        if (age === 1) this.heartbeat(s);
        return;
      case "crash":
        this.heartbeat(s);
        if (age >= 2) this.exit(s, b.exitCode ?? 1);
        return;
      case "exit0":
        this.heartbeat(s);
        if (age >= 2) this.exit(s, 0);
        return;
      case "wrongBead":
        this.heartbeat(s);
        if (age === 2)
          this.world.addReport({
            town: "gt",
            agent: s.agent,
            bead: "no-such-bead",
            session: s.session,
            type: "Done",
            branch: "x",
          });
        if (age >= 3) this.exit(s, 0);
        return;
      default:
        break;
    }
    this.heartbeat(s);
    const doneAt = b.kind === "done" ? (b.after ?? 2) : 2;
    if (age === doneAt) {
      if (role === "Polecat") this.report(s, "Done", { branch: `gt/app/${s.bead}` });
      else if (b.kind === "requestChanges") {
        this.report(s, "RequestChanges", { feedback: "please fix" });
        this.report(s, "Done");
      } else if (b.kind === "reviewFailed") this.report(s, "ReviewFailed", { message: "merge conflict" });
      else if (b.kind === "pullRequest") this.report(s, "Done", { prURL: `https://forge.example/pr/${s.bead}` });
      else this.report(s, "Done", { commit: "abc1234" });
    }
    if (age === doneAt + 1) this.exit(s, 0);
  }

  /** One step: plan and apply, agents act, the clock moves. */
  step(advance = 10 * SEC, opts: ApplyOptions = {}): void {
    this.planAndApply(opts);
    this.checkInvariants();
    this.agentsAct();
    this.world.now += advance;
    this.tick++;
  }

  runUntil(done: () => boolean, maxSteps = 500, advance = 10 * SEC): number {
    for (let i = 0; i < maxSteps; i++) {
      if (done()) return i;
      this.step(advance);
    }
    throw new Error(`not done after ${maxSteps} steps:\n${this.describe()}`);
  }

  describe(): string {
    const beads = this.world.beads.map(
      (b) => `  ${b.metadata.name}: ${b.status?.phase ?? "-"} ${b.status?.assignee ?? ""} ${b.status?.reason ?? ""}`,
    );
    const agents = this.world.agents.map(
      (a) => `  ${a.metadata.name}: ${a.status?.phase ?? "-"} hook=${a.spec.hook ?? ""} s=${a.status?.session ?? 0}`,
    );
    const convoys = this.world.convoys.map((c) => `  ${c.metadata.name}: ${c.status?.phase ?? "-"}`);
    return ["beads:", ...beads, "agents:", ...agents, "convoys:", ...convoys].join("\n");
  }

  convoyPhase(name: string): string | undefined {
    return this.world.convoys.find((c) => c.metadata.name === name)?.status?.phase;
  }
}
