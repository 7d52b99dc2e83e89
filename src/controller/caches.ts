// Informers for the five Gas Town kinds and the agents' heartbeat Leases, indexed by town. Every
// object read from the API is validated with its zod schema before a rule sees it; an object that
// fails (which the CRD schema should make impossible) is left out and logged once per version.
import type { z } from "zod";
import { AgentSchema } from "../api/agent.ts";
import { AgentReportSchema } from "../api/agent-report.ts";
import { BeadSchema } from "../api/bead.ts";
import { ConvoySchema } from "../api/convoy.ts";
import { TownSchema } from "../api/town.ts";
import type { LeaseObservation } from "../core/snapshot.ts";
import type { KubeHttp } from "../kube/http.ts";
import { createInformer, type Informer, type KubeObject } from "../kube/informer.ts";
import { createKubeListWatch } from "../kube/list-watch.ts";
import type { Clock } from "./clock.ts";
import type { Logger } from "./logger.ts";
import {
  AGENTS,
  BEADS,
  CONVOYS,
  LABELS,
  LEASE_ANNOTATIONS,
  LEASES,
  MANAGED_BY,
  REPORTS,
  type Resource,
  TOWNS,
  townKey,
} from "./resources.ts";

export const TOWN_INDEX = "town";

export interface Caches {
  towns: Informer;
  convoys: Informer;
  beads: Informer;
  agents: Informer;
  reports: Informer;
  leases: Informer;
  all(): Informer[];
  /** The informer for a resource plural, for expectations' cache lookups. */
  byPlural(plural: string): Informer | undefined;
}

export interface CachesOptions {
  http: KubeHttp;
  /** Watch one namespace; undefined watches all namespaces the operator may read. */
  namespace?: string;
  clock?: Clock;
  logger: Logger;
}

function informerFor(r: Resource, o: CachesOptions, labelSelector?: string): Informer {
  return createInformer({
    name: `${r.plural}${r.group ? `.${r.group}` : ""}`,
    listWatch: createKubeListWatch(o.http, {
      group: r.group,
      version: r.version,
      plural: r.plural,
      ...(o.namespace ? { namespace: o.namespace } : {}),
      ...(labelSelector ? { labelSelector } : {}),
    }),
    ...(o.clock ? { clock: o.clock } : {}),
    logger: o.logger,
  });
}

const specTown = (o: KubeObject): string[] => {
  const town = (o.spec as { town?: unknown } | undefined)?.town;
  return typeof town === "string" ? [townKey(o.metadata.namespace ?? "", town)] : [];
};

const labelTown = (o: KubeObject): string[] => {
  const town = o.metadata.labels?.[LABELS.town];
  return town ? [townKey(o.metadata.namespace ?? "", town)] : [];
};

export function createCaches(o: CachesOptions): Caches {
  const managed = `${LABELS.managedBy}=${MANAGED_BY}`;
  const caches = {
    towns: informerFor(TOWNS, o),
    convoys: informerFor(CONVOYS, o),
    beads: informerFor(BEADS, o),
    agents: informerFor(AGENTS, o),
    reports: informerFor(REPORTS, o),
    leases: informerFor(LEASES, o, managed),
  };
  caches.towns.addIndex(TOWN_INDEX, (t) => [townKey(t.metadata.namespace ?? "", t.metadata.name)]);
  for (const i of [caches.convoys, caches.beads, caches.agents, caches.reports]) i.addIndex(TOWN_INDEX, specTown);
  caches.leases.addIndex(TOWN_INDEX, labelTown);
  const byPlural = new Map<string, Informer>([
    ["towns", caches.towns],
    ["convoys", caches.convoys],
    ["beads", caches.beads],
    ["agents", caches.agents],
    ["agentreports", caches.reports],
    ["leases", caches.leases],
  ]);
  return {
    ...caches,
    all: () => [...byPlural.values()],
    byPlural: (plural) => byPlural.get(plural),
  };
}

/** The town a watched object belongs to, for the event handlers that enqueue it. */
export function townKeysOf(plural: string, o: KubeObject): string[] {
  if (plural === "towns") return [townKey(o.metadata.namespace ?? "", o.metadata.name)];
  if (plural === "leases" || plural === "pods") return labelTown(o);
  return specTown(o);
}

/**
 * Parses cached objects with their schema. Cached objects are frozen and replaced on every change,
 * so a WeakMap keyed by the object itself memoises the parse exactly once per version.
 */
export class Validator {
  private readonly parsed = new WeakMap<object, unknown>();
  private readonly logger: Logger;
  private readonly reported = new Set<string>();

  constructor(logger: Logger) {
    this.logger = logger;
  }

  private parse<S extends z.ZodType>(schema: S, o: KubeObject): z.infer<S> | undefined {
    if (this.parsed.has(o)) return this.parsed.get(o) as z.infer<S> | undefined;
    const result = schema.safeParse(o);
    const value = result.success ? result.data : undefined;
    if (!result.success) {
      const id = `${o.kind}/${o.metadata.namespace}/${o.metadata.name}@${o.metadata.resourceVersion}`;
      if (!this.reported.has(id)) {
        this.reported.add(id);
        this.logger.warn(
          { object: id, issues: result.error.issues.slice(0, 5) },
          "ignoring an object that does not match its schema",
        );
      }
    }
    this.parsed.set(o, value);
    return value;
  }

  all<S extends z.ZodType>(schema: S, objects: readonly KubeObject[]): z.infer<S>[] {
    const out: z.infer<S>[] = [];
    for (const o of objects) {
      const v = this.parse(schema, o);
      if (v !== undefined) out.push(v);
    }
    return out;
  }

  town(o: KubeObject) {
    return this.parse(TownSchema, o);
  }
  convoys(os: readonly KubeObject[]) {
    return this.all(ConvoySchema, os);
  }
  beads(os: readonly KubeObject[]) {
    return this.all(BeadSchema, os);
  }
  agents(os: readonly KubeObject[]) {
    return this.all(AgentSchema, os);
  }
  reports(os: readonly KubeObject[]) {
    return this.all(AgentReportSchema, os);
  }
}

function microTime(v: unknown): number | undefined {
  if (typeof v !== "string") return undefined;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : undefined;
}

/** A heartbeat Lease as the rules see it: renewTime plus the activity watermark annotations. */
export function leaseObservation(o: KubeObject): LeaseObservation | undefined {
  const agent = o.metadata.labels?.[LABELS.agent];
  if (!agent) return undefined;
  const a = o.metadata.annotations ?? {};
  const spec = (o.spec ?? {}) as { renewTime?: unknown };
  const session = Number(a[LEASE_ANNOTATIONS.session]);
  const tools = Number(a[LEASE_ANNOTATIONS.activeTools] ?? 0);
  return {
    agent,
    renewTime: microTime(spec.renewTime),
    activityTime: microTime(a[LEASE_ANNOTATIONS.activityTime]),
    activityKind: a[LEASE_ANNOTATIONS.activityKind],
    activeTools: Number.isFinite(tools) ? tools : 0,
    ...(Number.isFinite(session) && a[LEASE_ANNOTATIONS.session] !== undefined ? { session } : {}),
    ...optional("usage", leaseUsage(a[LEASE_ANNOTATIONS.usage])),
    ...optional("cliSession", cliSession(a[LEASE_ANNOTATIONS.cliSession])),
    ...optional("nudgeDelivery", nudgeDelivery(a[LEASE_ANNOTATIONS.nudgeDelivered])),
  };
}

const optional = <K extends string, V>(k: K, v: V | undefined) =>
  (v === undefined ? {} : { [k]: v }) as { [P in K]?: V };

function json(v: string | undefined): Record<string, unknown> | undefined {
  if (!v) return undefined;
  try {
    const o: unknown = JSON.parse(v);
    return o && typeof o === "object" && !Array.isArray(o) ? (o as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Annotations are written by agents: anything not a non-negative finite count reads as 0. */
function leaseUsage(v: string | undefined): LeaseObservation["usage"] {
  const o = json(v);
  if (!o) return undefined;
  const n = (k: string) => {
    const x = o[k];
    return typeof x === "number" && Number.isFinite(x) && x >= 0 ? x : 0;
  };
  return {
    inputTokens: Math.round(n("inputTokens")),
    outputTokens: Math.round(n("outputTokens")),
    cacheReadTokens: Math.round(n("cacheReadTokens")),
    cacheWriteTokens: Math.round(n("cacheWriteTokens")),
    costUSD: n("costUSD"),
  };
}

const cliSession = (v: string | undefined) => (v && v.length <= 256 ? v : undefined);

function nudgeDelivery(v: string | undefined): LeaseObservation["nudgeDelivery"] {
  const o = json(v);
  const time = microTime(o?.time);
  if (!o || typeof o.key !== "string" || time === undefined) return undefined;
  const failed = typeof o.failed === "string" ? o.failed.slice(0, 256) : undefined;
  return {
    nudge: o.key.slice(0, 128),
    result: failed === undefined ? "Delivered" : "Failed",
    ...(typeof o.via === "string" ? { via: o.via.slice(0, 32) } : {}),
    ...(failed === undefined ? {} : { message: failed }),
    time,
  };
}
