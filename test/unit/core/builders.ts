// Builders for table-driven rule tests: API objects in specific phases, built directly (no
// simulation), a snapshot/plan shortcut, and queries that pick the interesting part out of a plan.
import type { Agent, AgentStatus } from "../../../src/api/agent.ts";
import type { AgentReport, AgentReportSpec, AgentReportStatus } from "../../../src/api/agent-report.ts";
import type { Bead, BeadSpec, BeadStatus } from "../../../src/api/bead.ts";
import type { Convoy, ConvoySpec, ConvoyStatus } from "../../../src/api/convoy.ts";
import { API_VERSION } from "../../../src/api/meta.ts";
import type { Rig, Town, TownStatus } from "../../../src/api/town.ts";
import { TownSpecSchema } from "../../../src/api/town.ts";
import {
  type Action,
  type ActionOf,
  ActionSchema,
  type ActionType,
  type StatusPatch,
} from "../../../src/core/actions.ts";
import { type Plan, plan } from "../../../src/core/plan.ts";
import type { LeaseObservation, SessionObservation, Snapshot, SnapshotInput } from "../../../src/core/snapshot.ts";
import { buildSnapshot } from "../../../src/core/snapshot.ts";
import { mergePatch } from "../../support/world.ts";
import { convoy, MIN, SEC, T0, type TaskInput } from "./harness.ts";

export { MIN, SEC, T0 };
export const HOUR = 60 * MIN;
export const iso = (ms: number): string => new Date(ms).toISOString();

// ---- objects --------------------------------------------------------------------------------

/** Town limits to override (undefined values keep the defaults). */
export type Limits = Partial<
  Record<
    | "maxPolecatsPerRig"
    | "maxPolecats"
    | "maxDispatchAttempts"
    | "maxReportAttempts"
    | "maxReviewCycles"
    | "maxHandoffs"
    | "maxFailedSessions"
    | "maxReEscalations"
    | "maxConfigurationProbes",
    number
  >
>;

export interface TownOpts {
  rigs?: Partial<Rig>[];
  limits?: Limits;
  timeouts?: Record<string, string | string[]>;
  suspend?: boolean;
  status?: TownStatus;
  resourceVersion?: string;
  acknowledgedEscalations?: string[];
  circuitBreakerReset?: string;
}

export function town(opts: TownOpts = {}): Town {
  const rigs = (opts.rigs ?? [{ name: "app" }]).map((r) => ({ repo: `file:///repos/${r.name}.git`, ...r }));
  return {
    apiVersion: API_VERSION,
    kind: "Town",
    metadata: {
      name: "gt",
      namespace: "default",
      uid: "town-uid",
      generation: 1,
      resourceVersion: opts.resourceVersion ?? "1",
    },
    spec: TownSpecSchema.parse({
      rigs,
      ...(opts.limits ? { limits: opts.limits } : {}),
      ...(opts.timeouts ? { timeouts: opts.timeouts } : {}),
      ...(opts.suspend === undefined ? {} : { suspend: opts.suspend }),
      ...(opts.acknowledgedEscalations ? { acknowledgedEscalations: opts.acknowledgedEscalations } : {}),
      ...(opts.circuitBreakerReset ? { circuitBreakerReset: opts.circuitBreakerReset } : {}),
    }),
    ...(opts.status ? { status: opts.status } : {}),
  };
}

/** The default dispatch back-off (2, 2, 5, 10, 30 min), one row per attempt count, for it.each. */
export const BACKOFF_STEPS = [
  { attempts: 1, backoff: 2 * MIN, limits: {} },
  { attempts: 2, backoff: 2 * MIN, limits: {} },
  { attempts: 3, backoff: 5 * MIN, limits: {} },
  { attempts: 4, backoff: 10 * MIN, limits: {} },
  { attempts: 5, backoff: 30 * MIN, limits: { maxDispatchAttempts: 6 } },
];

export const prRig = (name = "app"): Partial<Rig> => ({
  name,
  mergeStrategy: "PullRequest",
  forge: { provider: "GitHub", apiURL: "https://api.forge.example" },
});

interface MetaOpts {
  created?: number;
  rv?: string;
  generation?: number;
  deleting?: boolean;
  uid?: string;
}

function meta(name: string, o: MetaOpts) {
  return {
    name,
    namespace: "default",
    uid: o.uid ?? `uid-${name}`,
    resourceVersion: o.rv ?? `rv-${name}`,
    generation: o.generation ?? 1,
    creationTimestamp: iso(o.created ?? T0),
    ...(o.deleting ? { deletionTimestamp: iso(o.created ?? T0) } : {}),
  };
}

export interface BeadOpts extends MetaOpts {
  spec?: Partial<BeadSpec>;
  status?: BeadStatus;
  /** Shorthand for status fields, merged over `status`. */
  phase?: BeadStatus["phase"];
  since?: number;
  assignee?: string;
  attempts?: number;
}

export function issue(name: string, o: BeadOpts = {}): Bead {
  return makeBead(name, { type: "Issue" }, o);
}

export function mergeRequest(name: string, source: string, o: BeadOpts = {}): Bead {
  return makeBead(
    name,
    {
      type: "MergeRequest",
      source: { kind: "Bead", name: source },
      branch: `gt/app/${source}`,
      targetBranch: "main",
    },
    o,
  );
}

export function landingMR(name: string, convoyName: string, o: BeadOpts = {}): Bead {
  return makeBead(
    name,
    {
      type: "MergeRequest",
      source: { kind: "Convoy", name: convoyName },
      branch: `convoy/${convoyName}`,
      targetBranch: "main",
      convoy: convoyName,
    },
    o,
  );
}

export function rework(name: string, mr: string, o: BeadOpts = {}): Bead {
  return makeBead(name, { type: "Issue", reworkOf: mr, branch: "gt/app/x", feedback: "fix it", files: [] }, o);
}

function makeBead(name: string, typed: Partial<BeadSpec>, o: BeadOpts): Bead {
  const status: BeadStatus = {
    phase: o.phase ?? "Open",
    lastPhaseTransitionTime: iso(o.since ?? o.created ?? T0),
    ...(o.assignee ? { assignee: o.assignee } : {}),
    ...(o.attempts === undefined ? {} : { dispatchAttempts: o.attempts }),
    ...o.status,
  };
  return {
    apiVersion: API_VERSION,
    kind: "Bead",
    metadata: meta(name, o),
    spec: {
      town: "gt",
      rig: "app",
      title: `bead ${name}`,
      description: "",
      priority: 2,
      labels: [],
      dependsOn: [],
      cancel: false,
      ...typed,
      ...o.spec,
    } as BeadSpec,
    status,
  };
}

export interface AgentOpts extends MetaOpts {
  rig?: string;
  hook?: string;
  status?: AgentStatus;
}

export function polecat(name: string, o: AgentOpts = {}): Agent {
  return makeAgent(name, "Polecat", o);
}

export function refinery(o: AgentOpts = {}): Agent {
  const rig = o.rig ?? "app";
  return makeAgent(`gt-${rig}-refinery`, "Refinery", o);
}

function makeAgent(name: string, role: Agent["spec"]["role"], o: AgentOpts): Agent {
  return {
    apiVersion: API_VERSION,
    kind: "Agent",
    metadata: meta(name, o),
    spec: { town: "gt", role, rig: o.rig ?? "app", ...(o.hook ? { hook: o.hook } : {}) },
    status: { phase: "Idle", session: 0, idleSince: iso(o.created ?? T0), ...o.status },
  };
}

/** The status of an agent running session `session` for `bead` since `start`. */
export function workingStatus(
  name: string,
  bead: string,
  o: { session?: number; start?: number; heartbeat?: number; extra?: AgentStatus } = {},
): AgentStatus {
  const session = o.session ?? 1;
  return {
    phase: "Working",
    session,
    pod: `${name}-${session}`,
    sessionBead: bead,
    sessionStartTime: iso(o.start ?? T0),
    ...(o.heartbeat === undefined ? {} : { lastHeartbeat: iso(o.heartbeat) }),
    ...o.extra,
  };
}

export function pod(agent: string, session: number, o: Partial<SessionObservation> = {}): SessionObservation {
  return {
    name: `${agent}-${session}`,
    agent,
    session,
    phase: "Running",
    created: T0,
    deleting: false,
    ...o,
  };
}

export function lease(agent: string, o: Partial<LeaseObservation> = {}): LeaseObservation {
  return { agent, activeTools: 0, session: 1, ...o };
}

export function report(
  name: string,
  spec: Partial<AgentReportSpec> & Pick<AgentReportSpec, "agent" | "bead" | "type">,
  o: MetaOpts & { status?: AgentReportStatus } = {},
): AgentReport {
  return {
    apiVersion: API_VERSION,
    kind: "AgentReport",
    metadata: meta(name, o),
    spec: { town: "gt", session: 1, ...spec },
    ...(o.status ? { status: o.status } : {}),
  };
}

export function convoyOf(
  name: string,
  tasks: TaskInput[],
  o: MetaOpts & { mergeMode?: ConvoySpec["mergeMode"]; staged?: boolean; status?: ConvoyStatus } = {},
): Convoy {
  return {
    apiVersion: API_VERSION,
    kind: "Convoy",
    ...convoy(name, tasks, o),
    metadata: meta(name, o),
    ...(o.status ? { status: o.status } : {}),
  };
}

// ---- snapshot and plan ----------------------------------------------------------------------

export type Fixture = Partial<SnapshotInput>;

export function snapshotOf(f: Fixture): Snapshot {
  return buildSnapshot({
    town: f.town ?? town(),
    convoys: f.convoys ?? [],
    beads: f.beads ?? [],
    agents: f.agents ?? [],
    reports: f.reports ?? [],
    sessions: f.sessions ?? [],
    leases: f.leases ?? [],
  });
}

/** Plans from the fixture; every action must conform to the action schema the shell validates. */
export function planAt(f: Fixture, now: number): Plan {
  const p = plan(snapshotOf(f), now);
  for (const a of p.actions) ActionSchema.parse(a);
  return p;
}

// ---- queries --------------------------------------------------------------------------------

type Actions = Plan | readonly Action[];
const list = (p: Actions): readonly Action[] => ("actions" in p ? p.actions : p);

export function ofType<T extends ActionType>(p: Actions, type: T): ActionOf<T>[] {
  return list(p).filter((a): a is ActionOf<T> => a.type === type);
}

const STATUS_TYPES = new Set<ActionType>([
  "UpdateBeadStatus",
  "UpdateAgentStatus",
  "UpdateReportStatus",
  "UpdateConvoyStatus",
  "UpdateTownStatus",
]);
/** Fields the status pass derives; `effects` leaves them out to show what the rules decided. */
const DERIVED = new Set(["conditions", "observedGeneration"]);

/**
 * What the rules decided: the plan's actions without the town status write, with the derived
 * fields (conditions, observedGeneration) removed from status patches, and status writes that only
 * carried derived fields dropped.
 */
export function effects(p: Actions): Action[] {
  const out: Action[] = [];
  for (const a of list(p)) {
    if (a.type === "UpdateTownStatus") continue;
    if (!STATUS_TYPES.has(a.type) || !("status" in a)) {
      out.push(a);
      continue;
    }
    const status = Object.fromEntries(Object.entries(a.status).filter(([k]) => !DERIVED.has(k)));
    if (Object.keys(status).length === 0) continue;
    out.push({ ...a, status } as Action);
  }
  return out;
}

type StatusKind = "Bead" | "Agent" | "Report" | "Convoy";

/** The merged status patch a plan writes to one object (undefined when it writes none). */
export function statusOf(p: Actions, kind: StatusKind, name: string): StatusPatch | undefined {
  const type = `Update${kind}Status` as const;
  let out: StatusPatch | undefined;
  for (const a of list(p)) {
    if (a.type === type && a.name === name) out = { ...(out ?? {}), ...a.status };
  }
  return out;
}

export const beadStatus = (p: Actions, name: string) => statusOf(p, "Bead", name);
export const agentStatus = (p: Actions, name: string) => statusOf(p, "Agent", name);
export const reportStatus = (p: Actions, name: string) => statusOf(p, "Report", name);
export const convoyStatus = (p: Actions, name: string) => statusOf(p, "Convoy", name);

export function townStatus(p: Actions): StatusPatch | undefined {
  return ofType(p, "UpdateTownStatus")[0]?.status;
}

/** Event reasons the plan records on an object (by name or agent), in order. */
export function reasons(p: Actions, target?: string): string[] {
  const out: string[] = [];
  for (const a of list(p)) {
    const name = "name" in a ? a.name : "agent" in a ? a.agent : "";
    if (target !== undefined && name !== target) continue;
    const whys = "events" in a ? a.events : "why" in a ? [a.why] : [];
    out.push(...whys.map((w) => w.reason));
  }
  return out;
}

/** Every condition a plan writes for an object, keyed by type. */
export function conditionsOf(p: Actions, kind: StatusKind | "Town", name?: string) {
  const status = kind === "Town" ? townStatus(p) : statusOf(p, kind, name ?? "");
  const conditions = (status?.conditions ?? []) as { type: string; status: string; reason: string; message: string }[];
  return Object.fromEntries(conditions.map((c) => [c.type, c]));
}

// ---- converging ---------------------------------------------------------------------------

/**
 * Applies a plan's status writes and hooks to the fixture's objects (a tiny world that keeps the
 * objects as built), so a test can plan again from the result.
 */
export function applyStatus(f: Fixture, p: Actions): Fixture {
  const patch = <T extends { metadata: { name: string }; status?: unknown }>(
    objs: readonly T[] | undefined,
    type: ActionType,
  ): T[] =>
    (objs ?? []).map((o) => {
      let next = o;
      for (const a of list(p)) {
        if (a.type === type && "status" in a && a.name === o.metadata.name) {
          next = { ...next, status: mergePatch(next.status ?? {}, a.status) };
        }
        if (a.type === "SetHook" && type === "UpdateAgentStatus" && a.agent === o.metadata.name) {
          const spec = { ...(next as unknown as Agent).spec };
          if (a.hook === null) delete spec.hook;
          else spec.hook = a.hook;
          next = { ...next, spec };
        }
      }
      return next;
    });
  let t = f.town ?? town();
  for (const a of ofType(p, "UpdateTownStatus"))
    t = { ...t, status: mergePatch(t.status ?? ({} as TownStatus), a.status) };
  return {
    ...f,
    town: t,
    beads: patch(f.beads, "UpdateBeadStatus"),
    agents: patch(f.agents, "UpdateAgentStatus"),
    reports: patch(f.reports, "UpdateReportStatus"),
    convoys: patch(f.convoys, "UpdateConvoyStatus"),
  };
}

/** The fixture with `extra`'s objects added; an object with the name of an existing one replaces it. */
export function withObjects(f: Fixture, extra: Fixture): Fixture {
  const key = (o: unknown): string => {
    const x = o as { metadata?: { name: string }; name?: string; agent?: string };
    return x.metadata?.name ?? x.name ?? x.agent ?? "";
  };
  const merge = <T>(a: readonly T[] | undefined, b: readonly T[] | undefined): T[] => {
    const out = [...(a ?? [])];
    for (const o of b ?? []) {
      const i = out.findIndex((x) => key(x) === key(o));
      if (i >= 0) out[i] = o;
      else out.push(o);
    }
    return out;
  };
  return {
    town: extra.town ?? f.town,
    convoys: merge(f.convoys, extra.convoys),
    beads: merge(f.beads, extra.beads),
    agents: merge(f.agents, extra.agents),
    reports: merge(f.reports, extra.reports),
    sessions: merge(f.sessions, extra.sessions),
    leases: merge(f.leases, extra.leases),
  };
}

/** The rules' effects a report caused: writes charged to it, and its own status write. */
export function causedBy(p: Actions, reportName: string): Action[] {
  return effects(p).filter(
    (a) => ("cause" in a && a.cause === reportName) || (a.type === "UpdateReportStatus" && a.name === reportName),
  );
}
