// Reconciling one town: wait until the caches show our own last writes, assemble the snapshot,
// run the pure plan, apply it, and ask to be woken at the plan's next deadline.
import { performance } from "node:perf_hooks";
import { AGENT_PHASES } from "../api/agent.ts";
import type { Bead } from "../api/bead.ts";
import { BEAD_PHASES } from "../api/bead.ts";
import type { Convoy } from "../api/convoy.ts";
import type { Condition } from "../api/meta.ts";
import { API_VERSION } from "../api/meta.ts";
import type { Town, Violation } from "../api/town.ts";
import { setCondition } from "../core/conditions.ts";
import { planOrphans } from "../core/orphans.ts";
import { plan } from "../core/plan.ts";
import { snapshotFromViews } from "../core/snapshot.ts";
import type { KubeHttp } from "../kube/http.ts";
import type { SessionRuntime } from "../runtime/session-runtime.ts";
import { type Actuator, StaleViewError } from "./actuator.ts";
import { type Caches, TOWN_INDEX, type Views } from "./caches.ts";
import type { Clock } from "./clock.ts";
import type { EventRecorder } from "./event-recorder.ts";
import type { Expectations, ObjectRef } from "./expectations.ts";
import type { Logger } from "./logger.ts";
import { countUsage, type DomainMetrics, setPhaseGauge, setTownConditions } from "./metrics.ts";
import { apiPath, splitTownKey, TOWNS } from "./resources.ts";
import type { Shards } from "./shards.ts";

export interface ReconcilerDeps {
  http: KubeHttp;
  events: EventRecorder;
  caches: Caches;
  views: Views;
  runtime: SessionRuntime;
  expectations: Expectations;
  actuator: Actuator;
  clock: Clock;
  logger: Logger;
  metrics: DomainMetrics;
  /** When sharded: whether this shard may act on a town (shards.ts). */
  shards?: Shards;
}

export interface ReconcileResult {
  requeueAfterMs?: number;
}

/** One second of slack after a deadline, so the plan sees it as passed (docs/rules.md). */
const SLACK_MS = 1000;

export function createReconciler(deps: ReconcilerDeps) {
  const { caches, views, runtime, expectations, clock } = deps;
  const lastViolations = new Map<string, Set<string>>();

  const lookup = (ref: ObjectRef) =>
    ref.resource === "pods"
      ? runtime.lookup(ref.namespace ?? "", ref.name)
      : caches.byPlural(ref.resource)?.get(ref.namespace, ref.name);

  function reportViolations(key: string, namespace: string, town: string, violations: Violation[]): void {
    const seen = new Set(violations.map((v) => `${v.invariant}:${v.object}`));
    const before = lastViolations.get(key) ?? new Set();
    for (const v of violations) {
      if (before.has(`${v.invariant}:${v.object}`)) continue;
      deps.metrics.invariantViolations.inc({ namespace, town, invariant: String(v.invariant) });
      deps.logger.error({ town, invariant: v.invariant, object: v.object }, v.message);
    }
    lastViolations.set(key, seen);
  }

  /** Convoys and beads naming a town that does not exist say so (TownNotFound). */
  async function orphans(key: string, namespace: string, town: string, signal?: AbortSignal): Promise<ReconcileResult> {
    const byTown = (c: Caches["beads"]) => c.byIndex(TOWN_INDEX, key);
    const convoys = views.objects<Convoy>(byTown(caches.convoys));
    const beads = views.objects<Bead>(byTown(caches.beads));
    const actions = planOrphans({ town, namespace, convoys, beads }, clock.now());
    if (actions.length === 0) return {};
    // The actuator writes within a town's batch; a town that does not exist gets a placeholder
    // that only names it (no rig, no rule reads it).
    const placeholder = {
      apiVersion: API_VERSION,
      kind: "Town",
      metadata: { name: town, namespace },
      spec: { rigs: [] },
    } as unknown as Town;
    const snapshot = snapshotFromViews({
      town: placeholder,
      convoys: views.convoys(byTown(caches.convoys)),
      beads: views.beads(byTown(caches.beads)),
      agents: [],
      reports: [],
      sessions: [],
      leases: [],
    });
    const outcome = await deps.actuator.apply(
      { key, town: placeholder, snapshot, planMs: 0, actions: actions.length, ...(signal ? { signal } : {}) },
      actions,
    );
    if (outcome.error) throw outcome.error;
    return {};
  }

  /**
   * A reconcile that failed says so on its Town (Ready=False, ReconcileFailed, with the API's own
   * message) and as a Warning Event; the next plan that succeeds makes it Ready again.
   */
  async function failed(key: string, error: Error): Promise<void> {
    // A plan made from a view that is out of date is replanned at once: no failure to speak of.
    if (error instanceof StaleViewError) return;
    const { namespace, town } = splitTownKey(key);
    const t = caches.towns.get(namespace, town) as Town | undefined;
    if (!t) return;
    const message = `the last reconcile failed: ${error.message}`.slice(0, 1024);
    const before = (t.status?.conditions ?? []) as Condition[];
    const after = setCondition(
      before,
      { type: "Ready", status: "False", reason: "ReconcileFailed", message },
      clock.now(),
      t.metadata.generation,
    );
    deps.events.record({
      regarding: { apiVersion: API_VERSION, kind: "Town", namespace, name: town, uid: t.metadata.uid ?? "" },
      type: "Warning",
      reason: "ReconcileFailed",
      action: "Reconcile",
      note: message,
    });
    if (after === before) return;
    try {
      await deps.http.json({
        method: "PATCH",
        path: apiPath(TOWNS, namespace, town, "status"),
        contentType: "application/merge-patch+json",
        body: { metadata: { resourceVersion: t.metadata.resourceVersion }, status: { conditions: after } },
      });
    } catch (e) {
      deps.logger.warn({ town, err: (e as Error).message }, "could not record the failed reconcile on the Town");
    }
  }

  /** `signal` aborts when this replica stops leading: the plan's writes stop there. */
  async function reconcile(key: string, signal?: AbortSignal): Promise<ReconcileResult> {
    const { namespace, town } = splitTownKey(key);
    const townObject = caches.towns.get(namespace, town);
    if (!townObject) {
      expectations.clear(key);
      lastViolations.delete(key);
      // A deleted town's series would otherwise be scraped forever with their last values.
      for (const phase of BEAD_PHASES) deps.metrics.beads.remove({ namespace, town, phase });
      for (const phase of AGENT_PHASES) deps.metrics.agents.remove({ namespace, town, phase });
      deps.metrics.escalationsOpen.remove({ namespace, town });
      setTownConditions(deps.metrics.townCondition, namespace, town, []);
      countUsage(deps.metrics, namespace, town, undefined, true);
      // Gone, or no longer this shard's: its last reconcile here is over, so let it go — after the
      // Events of that reconcile, which the recorder writes off the reconcile's path (and a series
      // update up to 30 s later): otherwise they could go out after the next shard took the town.
      if (deps.shards) {
        await deps.events.flush();
        await deps.shards.release(namespace, town, signal);
      }
      // A shard sees only its own towns: one it no longer sees may live on in another shard.
      if (deps.shards && (await deps.shards.exists(namespace, town, signal))) return {};
      return orphans(key, namespace, town, signal);
    }
    if (!expectations.satisfied(key, lookup)) {
      // The watch event that satisfies them enqueues the town; this is only the safety net.
      deps.logger.debug({ town, waitingFor: expectations.describe(key) }, "waiting for the cache to show our writes");
      const at = expectations.expiresAt(key);
      return { requeueAfterMs: at === undefined ? SLACK_MS : Math.max(0, at - clock.now()) };
    }
    const parsedTown = views.town(townObject);
    if (!parsedTown) return {};
    if (deps.shards) {
      const admission = await deps.shards.admit(parsedTown, signal);
      if (!admission.act)
        return admission.requeueAfterMs === undefined ? {} : { requeueAfterMs: admission.requeueAfterMs };
    }
    const byTown = (c: Caches["beads"]) => c.byIndex(TOWN_INDEX, key);
    const assembling = performance.now();
    const snapshot = snapshotFromViews({
      town: parsedTown,
      convoys: views.convoys(byTown(caches.convoys)),
      beads: views.beads(byTown(caches.beads)),
      agents: views.agents(byTown(caches.agents)),
      reports: views.reports(byTown(caches.reports)),
      sessions: runtime.observe(namespace, town),
      leases: views.leases(byTown(caches.leases)),
    });
    deps.metrics.snapshotDuration.observe({ namespace, town }, (performance.now() - assembling) / 1000);
    const now = clock.now();
    const started = performance.now();
    const result = plan(snapshot, now);
    const planMs = performance.now() - started;
    deps.metrics.planDuration.observe({ namespace, town }, planMs / 1000);
    reportViolations(key, namespace, town, result.violations);
    setPhaseGauge(
      deps.metrics.beads,
      namespace,
      town,
      BEAD_PHASES,
      [...snapshot.beads.values()].map((b) => b.state.phase),
    );
    setPhaseGauge(
      deps.metrics.agents,
      namespace,
      town,
      AGENT_PHASES,
      [...snapshot.agents.values()].map((a) => a.state.phase),
    );
    // The Town's durable escalations (status.escalations) that nobody acknowledged yet.
    deps.metrics.escalationsOpen.set(
      { namespace, town },
      (parsedTown.status?.escalations ?? []).filter((e) => !e.acknowledged).length,
    );
    // As last written (one reconcile behind at most): what `kubectl get town` shows.
    setTownConditions(deps.metrics.townCondition, namespace, town, parsedTown.status?.conditions ?? []);
    countUsage(deps.metrics, namespace, town, parsedTown.status?.usage);
    // One info line per transition: one transition is often several actions carrying the same
    // reason (the bead, its agent and its hook), and status writes without a reason follow from
    // others; those are details, at debug level.
    const logged = new Set<string>();
    for (const a of result.actions) {
      const target = "name" in a ? a.name : "agent" in a ? a.agent : "";
      const why = "why" in a ? a.why : a.events[0];
      const line = why ? `${why.reason}\n${why.message}` : undefined;
      const level = line !== undefined && !logged.has(line) ? "info" : "debug";
      if (line !== undefined) logged.add(line);
      deps.logger[level]({ town, action: a.type, object: target, reason: why?.reason }, why?.message ?? a.type);
    }
    const outcome = await deps.actuator.apply(
      { key, town: parsedTown, snapshot, planMs, actions: result.actions.length, ...(signal ? { signal } : {}) },
      result.actions,
    );
    if (outcome.error) {
      deps.logger.warn(
        { town, applied: outcome.applied, of: result.actions.length, err: outcome.error.message },
        "plan stopped",
      );
      throw outcome.error;
    }
    return result.nextWakeAt === undefined ? {} : { requeueAfterMs: Math.max(0, result.nextWakeAt - now) + SLACK_MS };
  }

  return Object.assign(reconcile, { failed });
}
