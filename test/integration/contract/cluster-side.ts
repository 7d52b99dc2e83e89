// The contract suite's real side: the operator's own actuator, with the real pod runtime, event
// recorder, expectations and PR poller, writing to the local control plane in a namespace of its
// own. Its clock is the scenario's clock, so every time the shell writes (lastReconcile, a charged
// report's lastAttemptTime, a poll's times, Event times) is the instant the world uses too.
import type { KubeConfig } from "@kubernetes/client-node";
import { type Agent, AgentSchema } from "../../../src/api/agent.ts";
import { type AgentReport, AgentReportSchema } from "../../../src/api/agent-report.ts";
import { type Bead, BeadSchema } from "../../../src/api/bead.ts";
import { type Convoy, ConvoySchema } from "../../../src/api/convoy.ts";
import { API_VERSION } from "../../../src/api/meta.ts";
import { type Town, TownSchema } from "../../../src/api/town.ts";
import { type ApplyOutcome, createActuator, StaleViewError } from "../../../src/controller/actuator.ts";
import { leaseObservation, parsedForm, Views } from "../../../src/controller/caches.ts";
import { type Clock, formatMicroTime, systemClock } from "../../../src/controller/clock.ts";
import { createEventRecorder, type EventObject, type EventRecorder } from "../../../src/controller/event-recorder.ts";
import { createEventSink } from "../../../src/controller/event-sink.ts";
import { createExpectations } from "../../../src/controller/expectations.ts";
import { silentLogger } from "../../../src/controller/logger.ts";
import { createMetrics } from "../../../src/controller/metrics.ts";
import { createPullRequestPoller, type PullRequestPoller } from "../../../src/controller/pr-poller.ts";
import {
  AGENTS,
  apiPath,
  BEADS,
  CONVOYS,
  LEASE_ANNOTATIONS,
  LEASES,
  PODS,
  REPORTS,
  TOWNS,
} from "../../../src/controller/resources.ts";
import type { Action } from "../../../src/core/actions.ts";
import { type LeaseObservation, type Snapshot, snapshotFromViews } from "../../../src/core/snapshot.ts";
import type { KubeHttp } from "../../../src/kube/http.ts";
import type { KubeObject } from "../../../src/kube/informer.ts";
import { createPodRuntime, podObservation } from "../../../src/runtime/pod-runtime.ts";
import type { SessionRuntime } from "../../../src/runtime/session-runtime.ts";
import { waitForList } from "../../support/kube.ts";
import type { Outcome, RawState } from "./normalise.ts";

/** Everything the actuator reads from a snapshot, as the API returned it at one moment. */
export interface ClusterView {
  town: Town;
  convoys: Convoy[];
  beads: Bead[];
  agents: Agent[];
  reports: AgentReport[];
  pods: KubeObject[];
  leases: KubeObject[];
}

/** Pods a test holds in Terminating with this finalizer (a dead node, a stuck volume). */
export const HOLD_FINALIZER = "gastown.dev/contract-hold";

const PLURAL = { Town: TOWNS, Convoy: CONVOYS, Bead: BEADS, Agent: AGENTS, AgentReport: REPORTS } as const;
export type Kind = keyof typeof PLURAL;

/** The Town as the caches hold it: parsed, defaults filled in. */
function snapshotTown(t: Town): Town {
  return TownSchema.parse(t) as Town;
}

export class ClusterSide {
  readonly ns: string;
  private readonly http: KubeHttp;
  private readonly kc: KubeConfig;
  private readonly runtime: SessionRuntime;
  private readonly recorder: EventRecorder;
  private readonly poller: PullRequestPoller;
  private readonly actuator: ReturnType<typeof createActuator>;
  private readonly views = new Views();

  constructor(o: { ns: string; http: KubeHttp; kc: KubeConfig; now: () => number; forgeHosts: string[] }) {
    this.ns = o.ns;
    this.http = o.http;
    this.kc = o.kc;
    const logger = silentLogger();
    const clock: Clock = { ...systemClock, now: o.now };
    const metrics = createMetrics();
    this.runtime = createPodRuntime({ http: o.http, namespace: o.ns, logger });
    // The real recorder; its per-object budget is raised because a scenario packs hours of a
    // town's life into seconds, and a dropped Event would read as a difference of the world.
    this.recorder = createEventRecorder({
      sink: createEventSink(o.http),
      reportingInstance: "contract",
      clock,
      logger,
      metrics: metrics.events,
      perObjectBurst: 1000,
    });
    this.poller = createPullRequestPoller({ http: o.http, allowedHosts: o.forgeHosts, clock, logger });
    this.actuator = createActuator({
      http: o.http,
      runtime: this.runtime,
      expectations: createExpectations({ clock, logger }),
      events: this.recorder,
      metrics: metrics.gastown,
      poller: this.poller,
      clock,
      logger,
    });
  }

  async start(): Promise<void> {
    this.runtime.run();
    const deadline = Date.now() + 30_000;
    while (!this.runtime.hasSynced()) {
      if (Date.now() > deadline) throw new Error("the pod runtime's informer did not sync in 30 s");
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async close(): Promise<void> {
    await this.poller.close();
    await this.recorder.flush();
    await this.runtime.close();
  }

  private path(kind: Kind, name?: string, sub?: string): string {
    return apiPath(PLURAL[kind], this.ns, name, sub);
  }

  /** Creates an object as a user (or an agent) would; returns it as stored, defaults applied. */
  async create<T>(kind: Kind, body: { metadata: { name: string; labels?: Record<string, string> }; spec: unknown }) {
    return this.http.json<T>({
      method: "POST",
      path: this.path(kind),
      body: { apiVersion: API_VERSION, kind, ...body },
    });
  }

  async patchSpec<T>(kind: Kind, name: string, spec: Record<string, unknown>): Promise<T> {
    return this.http.json<T>({
      method: "PATCH",
      path: this.path(kind, name),
      contentType: "application/merge-patch+json",
      body: { spec },
    });
  }

  async remove(kind: Kind, name: string): Promise<void> {
    await this.http.json({ method: "DELETE", path: this.path(kind, name), body: { propagationPolicy: "Background" } });
  }

  // ---- the kubelet and the agents' runtime ------------------------------------------------------

  /** What a kubelet reports when the session's container exits. */
  async exitPod(pod: string, exitCode: number, at: number): Promise<void> {
    const time = new Date(at).toISOString().replace(/\.\d+Z$/, "Z");
    await this.http.json({
      method: "PATCH",
      path: apiPath(PODS, this.ns, pod, "status"),
      contentType: "application/merge-patch+json",
      body: {
        status: {
          phase: exitCode === 0 ? "Succeeded" : "Failed",
          containerStatuses: [
            {
              name: "agent",
              ready: false,
              restartCount: 0,
              image: "ghcr.io/gastown-operator/agent:test",
              imageID: "",
              state: {
                terminated: {
                  exitCode,
                  reason: exitCode === 0 ? "Completed" : "Error",
                  startedAt: time,
                  finishedAt: time,
                },
              },
            },
          ],
        },
      },
    });
  }

  async deletePod(pod: string): Promise<void> {
    await this.http.json({ method: "DELETE", path: apiPath(PODS, this.ns, pod) });
  }

  async setPodFinalizers(pod: string, finalizers: string[]): Promise<void> {
    await this.http.json({
      method: "PATCH",
      path: apiPath(PODS, this.ns, pod),
      contentType: "application/merge-patch+json",
      body: { metadata: { finalizers } },
    });
  }

  /** The agent renews its Lease, as `gt run` does: renewTime plus the activity watermark. */
  async renewLease(l: LeaseObservation): Promise<void> {
    const annotations: Record<string, string> = {};
    if (l.session !== undefined) annotations[LEASE_ANNOTATIONS.session] = String(l.session);
    if (l.activityTime !== undefined)
      annotations[LEASE_ANNOTATIONS.activityTime] = new Date(l.activityTime).toISOString();
    if (l.activityKind !== undefined) annotations[LEASE_ANNOTATIONS.activityKind] = l.activityKind;
    annotations[LEASE_ANNOTATIONS.activeTools] = String(l.activeTools);
    await this.http.json({
      method: "PATCH",
      path: apiPath(LEASES, this.ns, l.agent),
      contentType: "application/merge-patch+json",
      body: {
        metadata: { annotations },
        spec: {
          holderIdentity: `${l.agent}-${l.session ?? 0}`,
          ...(l.renewTime ? { renewTime: formatMicroTime(l.renewTime) } : {}),
        },
      },
    });
  }

  // ---- reading ----------------------------------------------------------------------------------

  private async list<T>(path: string): Promise<T[]> {
    return (await this.http.json<{ items: T[] }>({ method: "GET", path })).items;
  }

  async view(): Promise<ClusterView> {
    const [town, convoys, beads, agents, reports, pods, leases] = await Promise.all([
      this.http.json<Town>({ method: "GET", path: this.path("Town", "gt") }),
      this.list<Convoy>(this.path("Convoy")),
      this.list<Bead>(this.path("Bead")),
      this.list<Agent>(this.path("Agent")),
      this.list<AgentReport>(this.path("AgentReport")),
      this.list<KubeObject>(apiPath(PODS, this.ns)),
      this.list<KubeObject>(
        `${apiPath(LEASES, this.ns)}?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dgastown-operator`,
      ),
    ]);
    return { town, convoys, beads, agents, reports, pods, leases };
  }

  /** The snapshot the reconciler would build from caches holding exactly this view. */
  snapshot(v: ClusterView): Snapshot {
    const cached = (schema: Parameters<typeof parsedForm>[0], xs: unknown[]) =>
      (xs as KubeObject[]).map(parsedForm(schema, silentLogger()));
    const town = this.views.town(parsedForm(TownSchema, silentLogger())(v.town as unknown as KubeObject));
    if (!town) throw new Error("the town does not match its schema");
    return snapshotFromViews({
      town,
      convoys: this.views.convoys(cached(ConvoySchema, v.convoys)),
      beads: this.views.beads(cached(BeadSchema, v.beads)),
      agents: this.views.agents(cached(AgentSchema, v.agents)),
      reports: this.views.reports(cached(AgentReportSchema, v.reports)),
      sessions: v.pods.flatMap((p) => podObservation(p) ?? []),
      leases: v.leases.flatMap((l) => leaseObservation(l) ?? []),
    });
  }

  async events(): Promise<EventObject[]> {
    await this.recorder.flush();
    return (await this.list<EventObject>(`/apis/events.k8s.io/v1/namespaces/${this.ns}/events`)).filter(
      (e) => e.reportingController === "gastown.dev/operator",
    );
  }

  async state(v: ClusterView): Promise<RawState> {
    return {
      objects: [v.town, ...v.convoys, ...v.beads, ...v.agents, ...v.reports].map((o) => ({
        kind: (o as { kind?: string }).kind ?? "",
        ...(o as unknown as Omit<RawState["objects"][number], "kind">),
      })),
      sessions: v.pods.flatMap((p) => podObservation(p) ?? []),
      leases: v.leases.flatMap((l) => leaseObservation(l) ?? []),
      events: (await this.events()).map((e) => ({
        kind: e.regarding.kind,
        name: e.regarding.name,
        ...(e.related ? { related: e.related.name } : {}),
        type: e.type,
        reason: e.reason,
        note: e.note,
        count: e.series?.count ?? 1,
      })),
    };
  }

  // ---- applying ---------------------------------------------------------------------------------

  /** Applies the actions as the reconciler does, to a snapshot of `view` (the view the plan read). */
  async apply(actions: readonly Action[], view: ClusterView): Promise<Outcome> {
    const snapshot = this.snapshot(view);
    const town = snapshotTown(view.town);
    const outcome: ApplyOutcome = await this.actuator.apply(
      { key: `${this.ns}/gt`, town, snapshot, planMs: 0, actions: actions.length },
      actions,
    );
    return {
      applied: outcome.applied,
      ...(outcome.error
        ? { error: outcome.error instanceof StaleViewError ? "stale" : "failed", message: outcome.error.message }
        : {}),
    };
  }

  /**
   * Waits until the cluster has done what follows from the writes on its own: polls answered,
   * Events written, kwok started new pods and finished deleting (unless held by a finalizer),
   * and the garbage collector removed what deleted agents owned.
   */
  async settle(): Promise<void> {
    await this.poller.idle();
    await this.recorder.flush();
    const settled = (v: Pick<ClusterView, "agents" | "pods" | "leases">) => {
      const agents = new Set(v.agents.map((a) => a.metadata.uid));
      const ownedByLiveAgent = (o: KubeObject) =>
        ((o.metadata.ownerReferences as { kind: string; uid: string }[] | undefined) ?? [])
          .filter((r) => r.kind === "Agent")
          .every((r) => agents.has(r.uid));
      const pods = v.pods.every((o) => {
        const held = ((o.metadata.finalizers as string[] | undefined) ?? []).includes(HOLD_FINALIZER);
        if (o.metadata.deletionTimestamp !== undefined) return held;
        return (o.status as { phase?: string } | undefined)?.phase !== "Pending" && ownedByLiveAgent(o);
      });
      return pods && v.leases.every(ownedByLiveAgent);
    };
    // Usually there is nothing to wait for; otherwise wait on watches, not on a timer.
    if (settled(await this.view())) return;
    const agents = await this.list<Agent>(this.path("Agent"));
    await waitForList(
      this.kc,
      { apiVersion: "v1", kind: "Pod", namespace: this.ns },
      (pods) => settled({ agents, pods: pods as unknown as KubeObject[], leases: [] }),
      { description: "session pods to be started, deleted or collected", timeoutMs: 30_000 },
    );
    await waitForList(
      this.kc,
      { apiVersion: "coordination.k8s.io/v1", kind: "Lease", namespace: this.ns },
      (ls) => settled({ agents, pods: [], leases: ls as unknown as KubeObject[] }),
      { description: "leases of deleted agents to be collected", timeoutMs: 30_000 },
    );
  }
}
