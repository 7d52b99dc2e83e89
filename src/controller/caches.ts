// Informers for the five Gas Town kinds and the agents' heartbeat Leases, indexed by town. The
// caches keep what the plan needs, not whole objects: every Gas Town object is validated with its
// zod schema once, when its version arrives, and stored parsed (defaults filled in, unknown fields
// and the metadata nothing reads dropped); an object that fails (which the CRD schema should make
// impossible) is stored as a marker with just its identity, left out of snapshots and logged once
// per version. The snapshot's views of cached objects are made once per version too (Views), so a
// reconcile of a large town only assembles what it already has.
import type { z } from "zod";
import { AgentSchema } from "../api/agent.ts";
import { AgentReportSchema } from "../api/agent-report.ts";
import { BeadSchema } from "../api/bead.ts";
import { ConvoySchema } from "../api/convoy.ts";
import { type Town, TownSchema } from "../api/town.ts";
import {
  type AgentView,
  agentView,
  type BeadView,
  beadView,
  type ConvoyView,
  convoyView,
  type LeaseObservation,
  type ReportView,
  reportView,
} from "../core/snapshot.ts";
import type { KubeHttp } from "../kube/http.ts";
import { createInformer, type Informer, type KubeObject, type ObjectMeta } from "../kube/informer.ts";
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
  /** Cache only the Towns this label selector matches (a shard's --town-selector). */
  townSelector?: string;
  clock?: Clock;
  logger: Logger;
}

/** Marks a cached object that did not match its schema (see the header). */
const INVALID = "gastownInvalid";

/**
 * The metadata the shell and the rules read: identity, versions, times, labels (indexes and
 * selectors), owner references (a bead's owning convoy).
 */
function trimmedMeta(m: ObjectMeta): ObjectMeta {
  return {
    name: m.name,
    ...(m.namespace ? { namespace: m.namespace } : {}),
    ...(m.uid ? { uid: m.uid } : {}),
    ...(m.resourceVersion ? { resourceVersion: m.resourceVersion } : {}),
    ...(m.generation !== undefined ? { generation: m.generation } : {}),
    ...(m.creationTimestamp !== undefined ? { creationTimestamp: m.creationTimestamp } : {}),
    ...(m.deletionTimestamp !== undefined ? { deletionTimestamp: m.deletionTimestamp } : {}),
    ...(m.labels ? { labels: m.labels } : {}),
    ...(m.ownerReferences ? { ownerReferences: m.ownerReferences } : {}),
  };
}

/** The cached form of a Gas Town object: parsed by its schema, or an identity-only marker. */
export function parsedForm(schema: z.ZodType, logger: Logger, reported = new Set<string>()) {
  return (o: KubeObject): KubeObject => {
    const metadata = trimmedMeta(o.metadata);
    const result = schema.safeParse({ ...o, metadata });
    if (result.success) return result.data as KubeObject;
    const id = `${o.kind}/${o.metadata.namespace}/${o.metadata.name}@${o.metadata.resourceVersion}`;
    if (!reported.has(id)) {
      reported.add(id);
      logger.warn(
        { object: id, issues: result.error.issues.slice(0, 5) },
        "ignoring an object that does not match its schema",
      );
    }
    const town = (o.spec as { town?: unknown } | undefined)?.town;
    return {
      apiVersion: o.apiVersion,
      kind: o.kind,
      metadata,
      ...(typeof town === "string" ? { spec: { town } } : {}),
      [INVALID]: true,
    };
  };
}

/** A Lease as cached: its identity, labels, the activity annotations and renewTime. */
function leaseForm(o: KubeObject): KubeObject {
  const annotations: Record<string, string> = {};
  for (const k of Object.values(LEASE_ANNOTATIONS)) {
    const v = o.metadata.annotations?.[k];
    if (v !== undefined) annotations[k] = v;
  }
  const renewTime = (o.spec as { renewTime?: unknown } | undefined)?.renewTime;
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: { ...trimmedMeta(o.metadata), annotations },
    spec: renewTime === undefined ? {} : { renewTime },
  };
}

function informerFor(r: Resource, o: CachesOptions, transform: (x: KubeObject) => KubeObject, labelSelector?: string) {
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
    transform,
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
  const reported = new Set<string>();
  const parsed = (schema: z.ZodType) => parsedForm(schema, o.logger, reported);
  const caches = {
    towns: informerFor(TOWNS, o, parsed(TownSchema), o.townSelector || undefined),
    convoys: informerFor(CONVOYS, o, parsed(ConvoySchema)),
    beads: informerFor(BEADS, o, parsed(BeadSchema)),
    agents: informerFor(AGENTS, o, parsed(AgentSchema)),
    reports: informerFor(REPORTS, o, parsed(AgentReportSchema)),
    leases: informerFor(LEASES, o, leaseForm, managed),
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
 * The snapshot's views of cached objects, made once per object version: cached objects are
 * frozen and replaced on every change, so a WeakMap keyed by the object is exact and forgets
 * what the cache forgot.
 */
export class Views {
  private readonly memo = new WeakMap<object, unknown>();

  private of<V>(o: KubeObject, make: (x: never) => V): V | undefined {
    if (INVALID in o) return undefined;
    let v = this.memo.get(o) as V | undefined;
    if (v === undefined) {
      v = make(o as never);
      this.memo.set(o, v);
    }
    return v;
  }

  private all<V>(os: readonly KubeObject[], make: (x: never) => V): V[] {
    const out: V[] = [];
    for (const o of os) {
      const v = this.of(o, make);
      if (v !== undefined) out.push(v);
    }
    return out;
  }

  /** The cached objects themselves (parsed; invalid ones left out), for rules that read them whole. */
  objects<T>(os: readonly KubeObject[]): T[] {
    return os.filter((o) => !(INVALID in o)) as unknown as T[];
  }

  town(o: KubeObject): Town | undefined {
    return INVALID in o ? undefined : (o as unknown as Town);
  }
  convoys(os: readonly KubeObject[]): ConvoyView[] {
    return this.all(os, convoyView);
  }
  beads(os: readonly KubeObject[]): BeadView[] {
    return this.all(os, beadView);
  }
  agents(os: readonly KubeObject[]): AgentView[] {
    return this.all(os, agentView);
  }
  reports(os: readonly KubeObject[]): ReportView[] {
    return this.all(os, reportView);
  }
  leases(os: readonly KubeObject[]): LeaseObservation[] {
    const out: LeaseObservation[] = [];
    for (const o of os) {
      const l = this.of(o, leaseObservation);
      if (l) out.push(l);
    }
    return out;
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
    ...optional("cliResumed", flag(a[LEASE_ANNOTATIONS.cliResumed])),
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
const flag = (v: string | undefined) => (v === "true" ? true : v === "false" ? false : undefined);

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
