// What the contract compares, in one shape for both sides: every Gas Town object (labels, owners,
// generation, spec, status), every session pod as the rules see it (a SessionObservation), every
// heartbeat Lease as the rules see it, and the Events (regarding kind/name, type, reason, note,
// with their counts). Left out is what the API server makes up on its own: uids, resourceVersions,
// creation times, managedFields, the namespace; and a session's start times, which come from the
// kubelet's (kwok's) clock.
import type { LeaseObservation, SessionObservation } from "../../../src/core/snapshot.ts";

export interface RawObject {
  kind: string;
  metadata: {
    name: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: {
      apiVersion: string;
      kind: string;
      name: string;
      controller?: boolean;
      blockOwnerDeletion?: boolean;
    }[];
    finalizers?: string[];
    generation?: number;
    deletionTimestamp?: unknown;
  };
  spec?: unknown;
  status?: unknown;
}

export interface RawEvent {
  kind: string;
  name: string;
  /** The related agent's name, when the Event also tells an agent's transition. */
  related?: string;
  type: string;
  reason: string;
  note: string;
  count: number;
}

export interface RawState {
  objects: RawObject[];
  sessions: SessionObservation[];
  leases: LeaseObservation[];
  events: RawEvent[];
}

/** How a batch ended: how many actions were applied, and whether the first failure was a stale view. */
export interface Outcome {
  applied: number;
  error?: "stale" | "failed";
  message?: string;
}

export interface Normalised {
  objects: Record<string, unknown>;
  sessions: Record<string, unknown>;
  leases: Record<string, unknown>;
  events: Record<string, number>;
}

/** The shell measures how long planning took; the number is not part of the contract. */
function status(kind: string, s: unknown): unknown {
  if (kind !== "Town" || typeof s !== "object" || s === null) return s;
  const town = s as { lastReconcile?: Record<string, unknown> };
  if (!town.lastReconcile) return s;
  return { ...town, lastReconcile: { ...town.lastReconcile, durationMs: "<measured>" } };
}

function sorted<T>(entries: [string, T][]): Record<string, T> {
  return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function normalise(raw: RawState): Normalised {
  const objects = raw.objects.map((o): [string, unknown] => [
    `${o.kind}/${o.metadata.name}`,
    {
      labels: o.metadata.labels ?? {},
      annotations: o.metadata.annotations ?? {},
      owners: (o.metadata.ownerReferences ?? []).map(
        (r) => `${r.kind}/${r.name}${r.controller ? " controller" : ""}${r.blockOwnerDeletion ? " blocking" : ""}`,
      ),
      finalizers: o.metadata.finalizers ?? [],
      generation: o.metadata.generation,
      deleting: o.metadata.deletionTimestamp !== undefined && o.metadata.deletionTimestamp !== null,
      spec: o.spec,
      status: status(o.kind, o.status ?? {}),
    },
  ]);
  const sessions = raw.sessions.map((s): [string, unknown] => [
    s.name,
    {
      agent: s.agent,
      session: s.session,
      bead: s.bead,
      phase: s.phase,
      started: s.started !== undefined,
      finished: s.finished,
      exitCode: s.exitCode,
      reason: s.reason,
      deleting: s.deleting,
    },
  ]);
  const leases = raw.leases.map((l): [string, unknown] => [
    l.agent,
    {
      renewTime: l.renewTime,
      activityTime: l.activityTime,
      activityKind: l.activityKind,
      activeTools: l.activeTools,
      session: l.session,
    },
  ]);
  const events = new Map<string, number>();
  for (const e of raw.events) {
    const key = `${e.kind}/${e.name}${e.related ? ` (Agent/${e.related})` : ""} ${e.type} ${e.reason}: ${e.note}`;
    events.set(key, (events.get(key) ?? 0) + e.count);
  }
  return { objects: sorted(objects), sessions: sorted(sessions), leases: sorted(leases), events: sorted([...events]) };
}
