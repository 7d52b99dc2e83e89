// The actuator turns a plan's actions into API calls: independent chains of them at once, each
// chain in the plan's order (chains.ts). It knows nothing about Gas Town rules; it knows the API's:
// creates and deletes are idempotent, status writes are merge patches guarded by the
// resourceVersion the plan read (or the one our previous write in this batch returned), the first
// real error stops its chain (and the summaries), and a failed write caused by a report is charged
// to that report. After every write it records what the cache must show before the town may be
// planned again (expectations), and it records an Event for every change.
import { API_VERSION } from "../api/meta.ts";
import type { Town } from "../api/town.ts";
import type { Action, ActionOf, Why } from "../core/actions.ts";
import type { Snapshot } from "../core/snapshot.ts";
import { isAlreadyExists, isConflict, isNotFound, isTransient, KubeApiError } from "../kube/errors.ts";
import type { KubeHttp } from "../kube/http.ts";
import type { SessionRuntime } from "../runtime/session-runtime.ts";
import { splitIntoChains } from "./chains.ts";
import type { Clock } from "./clock.ts";
import type { EventRecorder, ObjectReference } from "./event-recorder.ts";
import type { Expectations } from "./expectations.ts";
import type { Logger } from "./logger.ts";
import type { DomainMetrics } from "./metrics.ts";
import type { PullRequestPoller } from "./pr-poller.ts";
import {
  AGENTS,
  apiPath,
  BEADS,
  CONVOYS,
  LABELS,
  REPORTS,
  type Resource,
  recommendedLabels,
  TOWNS,
} from "./resources.ts";
import { creatorOf, tellStories } from "./transition-events.ts";

export interface ActuatorDeps {
  http: KubeHttp;
  /** Chains of a plan applied at once (default 16); each chain is still applied in order. */
  concurrency?: number;
  runtime: SessionRuntime;
  expectations: Expectations;
  events: EventRecorder;
  metrics: DomainMetrics;
  poller: PullRequestPoller;
  clock: Clock;
  logger: Logger;
}

export interface Batch {
  key: string;
  town: Town;
  snapshot: Snapshot;
  planMs: number;
  actions: number;
  /**
   * Aborts when this replica stops leading: no action starts after that, and writes in flight
   * are abandoned, so a deposed leader does not go on writing beside its successor.
   */
  signal?: AbortSignal;
}

export interface ApplyOutcome {
  applied: number;
  error?: Error;
}

/** A write the plan made from a view that is out of date: replan from fresh caches. */
export class StaleViewError extends Error {}

/**
 * Whether a failed write is the report's fault, so that it counts towards poisoning the report.
 * Not when the view was stale, or the API could not be reached or did not answer properly
 * (isTransient: connection errors, timeouts, 5xx, 429): an apiserver or etcd outage is nobody's
 * report's doing, and three of them must not poison it.
 */
export function chargeable(error: Error): boolean {
  return !(error instanceof StaleViewError) && !isTransient(error);
}

interface BatchState {
  written: Map<string, string>;
  uids: Map<string, string>;
  /** What the plan did to each object: one Event per object per plan (transition-events.ts). */
  story: Map<string, { kind: Kind; name: string; steps: Step[] }>;
  /** The plan position of the action being applied (each action's run has its own view of this). */
  at: number;
}

/**
 * One recorded step, with the plan position of its action: chains complete in any order, and an
 * Event must read the same whichever finished first (a convoy's creations, a Town's escalations).
 */
interface Step {
  why: Why;
  at: number;
  action: string;
  made: boolean;
}

const RESOURCE_OF = { Bead: BEADS, Agent: AGENTS, AgentReport: REPORTS, Convoy: CONVOYS, Town: TOWNS } as const;
type Kind = keyof typeof RESOURCE_OF;

export function createActuator(deps: ActuatorDeps) {
  const { http, expectations, clock } = deps;
  const concurrency = Math.max(1, deps.concurrency ?? 16);

  function ref(b: Batch, s: BatchState, kind: Kind, name: string): ObjectReference {
    const known =
      s.uids.get(`${kind}/${name}`) ??
      (kind === "Bead"
        ? b.snapshot.beads.get(name)?.uid
        : kind === "Agent"
          ? b.snapshot.agents.get(name)?.uid
          : kind === "Convoy"
            ? b.snapshot.convoys.get(name)?.uid
            : kind === "Town"
              ? b.snapshot.town.uid
              : [...b.snapshot.pendingReports, ...b.snapshot.processedReports].find((r) => r.name === name)?.uid);
    return { apiVersion: API_VERSION, kind, namespace: b.snapshot.config.namespace, name, uid: known ?? "" };
  }

  function record(_b: Batch, s: BatchState, kind: Kind, name: string, why: Why, action: string, made = false): void {
    const key = `${kind}/${name}`;
    const told = s.story.get(key) ?? { kind, name, steps: [] };
    s.story.set(key, told);
    told.steps.push({ why, at: s.at, action, made });
  }

  /** Records the plan's Events, one per object, once its writes are done (or stopped), in plan order. */
  function tell(b: Batch, s: BatchState): void {
    const stories = [...s.story.values()].map(({ kind, name, steps }) => {
      const ordered = steps.toSorted((x, y) => x.at - y.at);
      return {
        kind,
        name,
        action: (ordered[0] as Step).action,
        whys: ordered.filter((t) => !t.made).map((t) => t.why),
        made: ordered.filter((t) => t.made).map((t) => t.why),
        first: (ordered[0] as Step).at,
      };
    });
    stories.sort((x, y) => x.first - y.first);
    for (const { story, transition, related } of tellStories(stories)) {
      deps.events.record({
        regarding: ref(b, s, story.kind, story.name),
        ...(related ? { related: ref(b, s, related.kind, related.name) } : {}),
        action: story.action,
        ...transition,
      });
    }
  }

  async function create(b: Batch, s: BatchState, kind: "Bead" | "Agent", body: Record<string, unknown>): Promise<void> {
    const r = RESOURCE_OF[kind];
    const ns = b.snapshot.config.namespace;
    const name = (body.metadata as { name: string }).name;
    try {
      const created = await http.json<{ metadata: { resourceVersion: string; uid: string } }>({
        method: "POST",
        path: apiPath(r, ns),
        body,
        signal: b.signal,
      });
      s.written.set(`${kind}/${name}`, created.metadata.resourceVersion);
      s.uids.set(`${kind}/${name}`, created.metadata.uid);
      expectations.expectCreate(b.key, { resource: r.plural, namespace: ns, name });
    } catch (e) {
      // AlreadyExists is success; a later write that needs its resourceVersion will see a stale view.
      if (!isAlreadyExists(e)) throw e;
    }
  }

  async function patch(
    b: Batch,
    s: BatchState,
    kind: Kind,
    name: string,
    planned: string,
    body: Record<string, unknown>,
    subresource?: "status",
  ): Promise<void> {
    const r = RESOURCE_OF[kind];
    const ns = b.snapshot.config.namespace;
    const key = `${kind}/${name}`;
    const expected = s.written.get(key) ?? planned;
    if (expected === "")
      throw new StaleViewError(`${key} was created by this plan but already existed: the view is stale`);
    try {
      const res = await http.json<{ metadata: { resourceVersion: string } }>({
        method: "PATCH",
        path: apiPath(r, ns, name, subresource),
        contentType: "application/merge-patch+json",
        body: { ...body, metadata: { resourceVersion: expected } },
        signal: b.signal,
      });
      s.written.set(key, res.metadata.resourceVersion);
      expectations.expectUpdate(b.key, { resource: r.plural, namespace: ns, name }, expected);
    } catch (e) {
      if (isConflict(e) || isNotFound(e)) throw new StaleViewError(`${key}: ${(e as Error).message}`);
      throw e;
    }
  }

  async function remove(b: Batch, r: Resource, name: string, preconditions?: { uid: string; resourceVersion: string }) {
    const ns = b.snapshot.config.namespace;
    try {
      await http.json({
        method: "DELETE",
        path: apiPath(r, ns, name),
        body: { propagationPolicy: "Background", ...(preconditions ? { preconditions } : {}) },
        signal: b.signal,
      });
      if (preconditions)
        expectations.expectDelete(b.key, { resource: r.plural, namespace: ns, name }, preconditions.uid);
    } catch (e) {
      if (isNotFound(e)) return;
      if (isConflict(e)) throw new StaleViewError(`${r.kind}/${name}: ${(e as Error).message}`);
      throw e;
    }
  }

  function beadBody(b: Batch, a: ActionOf<"CreateBead">): Record<string, unknown> {
    const labels: Record<string, string> = {
      ...recommendedLabels(
        "gastown-bead",
        b.snapshot.config.name,
        a.spec.type === "MergeRequest" ? "merge-request" : "issue",
      ),
      [LABELS.town]: b.snapshot.config.name,
    };
    if (a.spec.convoy) labels[LABELS.convoy] = a.spec.convoy;
    const owner = a.ownerConvoy
      ? [
          {
            apiVersion: API_VERSION,
            kind: "Convoy",
            name: a.ownerConvoy.name,
            uid: a.ownerConvoy.uid,
            blockOwnerDeletion: true,
          },
        ]
      : undefined;
    return {
      apiVersion: API_VERSION,
      kind: "Bead",
      metadata: {
        name: a.name,
        namespace: b.snapshot.config.namespace,
        labels,
        ...(owner ? { ownerReferences: owner } : {}),
      },
      spec: a.spec,
    };
  }

  async function applyOne(b: Batch, s: BatchState, a: Action): Promise<void> {
    b.signal?.throwIfAborted();
    const ns = b.snapshot.config.namespace;
    const town = b.snapshot.config.name;
    switch (a.type) {
      case "CreateBead": {
        await create(b, s, "Bead", beadBody(b, a));
        const creator = creatorOf(a.spec);
        record(b, s, creator?.kind ?? "Bead", creator?.name ?? a.name, a.why, "Create", creator !== undefined);
        return;
      }
      case "CreateAgent":
        await create(b, s, "Agent", {
          apiVersion: API_VERSION,
          kind: "Agent",
          metadata: {
            name: a.name,
            namespace: ns,
            labels: {
              ...recommendedLabels("gastown-agent", town, a.role.toLowerCase()),
              [LABELS.town]: town,
              [LABELS.rig]: a.rig,
              [LABELS.role]: a.role.toLowerCase(),
            },
            ownerReferences: [
              { apiVersion: API_VERSION, kind: "Town", name: town, uid: b.snapshot.town.uid, blockOwnerDeletion: true },
            ],
          },
          spec: { town, role: a.role, rig: a.rig },
        });
        record(b, s, "Agent", a.name, a.why, "Create");
        return;
      case "UpdateBeadStatus":
      case "UpdateAgentStatus":
      case "UpdateReportStatus":
      case "UpdateConvoyStatus":
      case "UpdateTownStatus": {
        const kind: Kind = (
          {
            UpdateBeadStatus: "Bead",
            UpdateAgentStatus: "Agent",
            UpdateReportStatus: "AgentReport",
            UpdateConvoyStatus: "Convoy",
            UpdateTownStatus: "Town",
          } as const
        )[a.type];
        const status =
          a.type === "UpdateTownStatus"
            ? {
                ...a.status,
                lastReconcile: {
                  time: new Date(clock.now()).toISOString(),
                  durationMs: Math.round(b.planMs * 1000) / 1000,
                  actions: b.actions,
                },
              }
            : a.status;
        await patch(b, s, kind, a.name, a.resourceVersion, { status }, "status");
        for (const w of a.events) record(b, s, kind, a.name, w, "Update");
        if (a.type === "UpdateReportStatus" && a.status.outcome === "Applied") observeReportLag(b, a.name);
        return;
      }
      case "SetHook":
        await patch(b, s, "Agent", a.agent, a.resourceVersion, { spec: { hook: a.hook } });
        record(b, s, "Agent", a.agent, a.why, a.hook ? "Hook" : "Unhook");
        return;
      case "StartSession": {
        const uid = s.uids.get(`Agent/${a.agent}`) ?? b.snapshot.agents.get(a.agent)?.uid;
        if (!uid) throw new StaleViewError(`agent ${a.agent} has no known uid`);
        try {
          await deps.runtime.start({ namespace: ns, town: b.town, agent: { name: a.agent, uid }, action: a });
        } catch (e) {
          const reason = e instanceof KubeApiError ? (e.reason ?? `HTTP${e.statusCode}`) : "Error";
          deps.metrics.sessionStartFailures.inc({ namespace: ns, town, rig: a.rig, reason });
          throw e;
        }
        expectations.expectCreate(b.key, { resource: "pods", namespace: ns, name: a.pod });
        deps.metrics.dispatches.inc({ namespace: ns, town, rig: a.rig, role: a.role.toLowerCase() });
        record(b, s, "Agent", a.agent, a.why, "StartSession");
        return;
      }
      case "StopSession": {
        const uid = deps.runtime.lookup(ns, a.pod)?.metadata.uid;
        await deps.runtime.stop(ns, a.agent, a.pod);
        if (uid) expectations.expectDelete(b.key, { resource: "pods", namespace: ns, name: a.pod }, uid);
        if (b.snapshot.agents.has(a.agent)) record(b, s, "Agent", a.agent, a.why, "StopSession");
        return;
      }
      case "DeleteAgent":
        // After the delete: a refused precondition (the agent was re-hooked) collected nothing.
        await remove(b, AGENTS, a.name, { uid: a.uid, resourceVersion: a.resourceVersion });
        record(b, s, "Agent", a.name, a.why, "Delete");
        return;
      case "DeleteReport":
        await remove(b, REPORTS, a.name);
        return;
      case "PollPullRequest":
        deps.poller.request({
          namespace: ns,
          town: b.town,
          bead: a.bead,
          rig: a.rig,
          url: a.url,
          consecutiveErrors: b.snapshot.beads.get(a.bead)?.pr.consecutiveErrors ?? 0,
        });
        return;
      case "Nudge":
        deps.metrics.nudges.inc({ namespace: ns, town, tier: a.tier });
        record(b, s, "Agent", a.agent, a.why, "Nudge");
        return;
      case "Escalate":
        // The rule that raised it already told the agent's own story; the escalation is the town's.
        deps.metrics.escalations.inc({ namespace: ns, town, severity: a.severity.toLowerCase() });
        record(b, s, "Town", town, a.why, "Escalate");
        return;
    }
  }

  function observeReportLag(b: Batch, name: string): void {
    const r = b.snapshot.pendingReports.find((x) => x.name === name);
    if (r && r.created > 0) {
      deps.metrics.reportLag.observe(
        { namespace: b.snapshot.config.namespace, town: b.snapshot.config.name, type: r.spec.type },
        (clock.now() - r.created) / 1000,
      );
    }
  }

  /** Charges a failed write to the report that caused it: the rules retry it, then poison it. */
  async function charge(b: Batch, report: string, error: Error): Promise<void> {
    const r = b.snapshot.pendingReports.find((x) => x.name === report);
    try {
      await http.json({
        method: "PATCH",
        path: apiPath(REPORTS, b.snapshot.config.namespace, report, "status"),
        contentType: "application/merge-patch+json",
        body: {
          status: {
            attempts: (r?.state.attempts ?? 0) + 1,
            lastAttemptTime: new Date(clock.now()).toISOString(),
            error: error.message.slice(0, 4000),
          },
        },
      });
    } catch (e) {
      deps.logger.warn({ report, err: (e as Error).message }, "could not record a failed report attempt");
    }
  }

  return {
    /**
     * Applies a plan: its independent chains concurrently (each in plan order, each stopping at
     * its first failure), then the summaries if every chain went through. The outcome counts what
     * was applied and carries the failure that comes first in plan order.
     */
    async apply(b: Batch, actions: readonly Action[]): Promise<ApplyOutcome> {
      const s: BatchState = { written: new Map(), uids: new Map(), story: new Map(), at: 0 };
      const position = new Map(actions.map((a, i) => [a, i]));
      const failures: { at: number; error: Error }[] = [];
      let applied = 0;
      const run = async (a: Action): Promise<boolean> => {
        try {
          await applyOne(b, { ...s, at: position.get(a) ?? 0 }, a);
          applied++;
          deps.metrics.actions.inc({
            namespace: b.snapshot.config.namespace,
            town: b.snapshot.config.name,
            type: a.type,
          });
          return true;
        } catch (e) {
          const error = e instanceof Error ? e : new Error(String(e));
          if (a.cause && !b.signal?.aborted && chargeable(error)) await charge(b, a.cause, error);
          failures.push({ at: position.get(a) ?? 0, error });
          return false;
        }
      };
      const { chains, last } = splitIntoChains(actions, {
        beadOf: (name) => b.snapshot.beads.get(name)?.spec,
        hookOf: (agent) => b.snapshot.agents.get(agent)?.state.hook,
      });
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < chains.length; i = next++) {
          for (const a of chains[i] as Action[]) if (!(await run(a))) break;
        }
      };
      try {
        await Promise.all(Array.from({ length: Math.min(concurrency, chains.length) }, worker));
        if (failures.length === 0) for (const a of last) if (!(await run(a))) break;
      } finally {
        tell(b, s);
      }
      failures.sort((x, y) => x.at - y.at);
      const first = failures[0];
      return first ? { applied, error: first.error } : { applied };
    },
  };
}

export type Actuator = ReturnType<typeof createActuator>;
