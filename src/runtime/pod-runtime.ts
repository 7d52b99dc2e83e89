// Sessions as Pods. The Pod informer (label-selected to the operator's own pods) is the source
// of every session fact: phase, start, exit code, eviction, OOM, deletion.
import { parseDuration } from "../api/meta.ts";
import type { Clock } from "../controller/clock.ts";
import type { Logger } from "../controller/logger.ts";
import { BEAD_ANNOTATION, LABELS, MANAGED_BY, townKey } from "../controller/resources.ts";
import type { SessionObservation, SessionPhase } from "../core/snapshot.ts";
import { isAlreadyExists, isNotFound, isTransient, KubeApiError } from "../kube/errors.ts";
import type { KubeHttp } from "../kube/http.ts";
import { createInformer, type Informer, type KubeObject } from "../kube/informer.ts";
import { createKubeListWatch } from "../kube/list-watch.ts";
import { ensureAgentHome, HomeVolumeError, homeClaimName } from "./agent-home.ts";
import { createAgentIdentities, IdentityConflictError } from "./agent-identity.ts";
import { podTemplateFor, sessionPod } from "./pod-spec.ts";
import type { SessionRuntime, StartRequest } from "./session-runtime.ts";
import { parseTermination } from "./session-termination.ts";

const TOWN_INDEX = "town";

interface PodStatus {
  phase?: string;
  reason?: string;
  startTime?: string;
  conditions?: { type?: string; status?: string; reason?: string; message?: string }[];
  containerStatuses?: {
    state?: {
      waiting?: { reason?: string; message?: string };
      running?: { startedAt?: string };
      terminated?: { exitCode?: number; reason?: string; message?: string; finishedAt?: string; startedAt?: string };
    };
  }[];
}

const time = (v: string | undefined) => {
  const t = v === undefined ? Number.NaN : Date.parse(v);
  return Number.isFinite(t) ? t : undefined;
};

/**
 * The scheduler says Unschedulable while a pod's volume is still being made: every session with
 * an ephemeral workspace claim starts so ("waiting for ephemeral volume controller to create the
 * persistentvolumeclaim"), and a claim of an Immediate class is unbound until its provisioner is
 * done. That is progress, not a session that cannot start; a claim that never binds is a session
 * that does not start within startupGrace. (Seen on kind with the local-path provisioner.)
 */
const VOLUME_BINDING_UNDER_WAY = [
  "waiting for ephemeral volume controller to create the persistentvolumeclaim",
  "pod has unbound immediate PersistentVolumeClaims",
];

function volumeBindingUnderWay(message: string | undefined): boolean {
  return VOLUME_BINDING_UNDER_WAY.some((m) => message?.includes(m) === true);
}
/** What a Pod says about its session. */
export function podObservation(pod: KubeObject): SessionObservation | undefined {
  const labels = pod.metadata.labels ?? {};
  const agent = labels[LABELS.agent];
  const session = Number(labels[LABELS.session]);
  if (!agent || !Number.isInteger(session)) return undefined;
  const status = (pod.status ?? {}) as PodStatus;
  const terminated = status.containerStatuses?.[0]?.state?.terminated;
  const phases: readonly string[] = ["Pending", "Running", "Succeeded", "Failed", "Unknown"];
  const phase = (phases.includes(status.phase ?? "") ? status.phase : "Pending") as SessionPhase;
  const started =
    time(status.containerStatuses?.[0]?.state?.running?.startedAt) ??
    time(terminated?.startedAt) ??
    time(status.startTime);
  const finished = time(terminated?.finishedAt);
  const reason = status.reason ?? terminated?.reason;
  const waiting = status.containerStatuses?.[0]?.state?.waiting;
  const scheduled = status.conditions?.find((c) => c.type === "PodScheduled");
  const unschedulable =
    scheduled?.status === "False" && scheduled.reason === "Unschedulable" && !volumeBindingUnderWay(scheduled.message)
      ? (scheduled.message ?? "")
      : undefined;
  const termination = parseTermination(terminated?.message);
  // The apiserver sets deletionTimestamp to the request time plus the grace period: the instant
  // the kubelet must have killed the pod by.
  const deletionDeadline = time(pod.metadata.deletionTimestamp as string | undefined);
  return {
    name: pod.metadata.name,
    agent,
    session,
    bead: pod.metadata.annotations?.[BEAD_ANNOTATION],
    phase,
    created: time(pod.metadata.creationTimestamp as string | undefined) ?? 0,
    ...(started === undefined ? {} : { started }),
    ...(finished === undefined ? {} : { finished }),
    ...(terminated?.exitCode === undefined ? {} : { exitCode: terminated.exitCode }),
    ...(reason ? { reason } : {}),
    deleting: pod.metadata.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null,
    ...(deletionDeadline === undefined ? {} : { deletionDeadline }),
    // ContainerCreating and PodInitializing are how every container starts: not worth a word.
    ...(waiting?.reason && waiting.reason !== "ContainerCreating" && waiting.reason !== "PodInitializing"
      ? { waiting: { reason: waiting.reason, ...(waiting.message ? { message: waiting.message } : {}) } }
      : {}),
    ...(unschedulable === undefined ? {} : { unschedulable }),
    ...(termination ? { termination } : {}),
  };
}

/**
 * A pod the apiserver refused to create (admission, quota, an invalid pod spec, an identity the
 * operator may not adopt) is a session that cannot start, observed like any other: the rules
 * decide what that means. Kept until the session is stopped, or for a day at most.
 */
interface Refusal {
  observation: SessionObservation;
  town: string;
  namespace: string;
}

const REFUSAL_TTL_MS = 24 * 3_600_000;

/** Client errors no retry of the same request can fix: the pod spec or the namespace must change. */
export function isRefusal(e: unknown): e is KubeApiError {
  return (
    e instanceof KubeApiError && !isTransient(e) && e.statusCode >= 400 && e.statusCode < 500 && e.statusCode !== 409
  );
}

export function refusedSession(
  req: StartRequest,
  e: { statusCode: number; reason?: string | undefined; message: string },
  now: number,
  what?: string,
): SessionObservation {
  return {
    name: req.action.pod,
    agent: req.agent.name,
    session: req.action.session,
    bead: req.action.bead,
    phase: "Failed",
    created: now,
    finished: now,
    deleting: false,
    refused: {
      code: e.statusCode,
      reason: e.reason ?? "Refused",
      message: e.message.slice(0, 1024),
      ...(what ? { what } : {}),
    },
  };
}

/**
 * What the pod cache keeps of a session pod: what podObservation, expectations and the handlers
 * read. A session pod's spec (environment, volumes) and most of its status are several kB that
 * nothing reads; a thousand of them were a large part of the operator's memory.
 */
export function cachedPod(pod: KubeObject): KubeObject {
  const m = pod.metadata;
  const status = (pod.status ?? {}) as PodStatus;
  const first = status.containerStatuses?.[0];
  const bead = m.annotations?.[BEAD_ANNOTATION];
  // Only the scheduler's verdict is read of the conditions (a pod that cannot be scheduled).
  const scheduled = status.conditions?.find((c) => c.type === "PodScheduled");
  return {
    apiVersion: pod.apiVersion,
    kind: pod.kind,
    metadata: {
      name: m.name,
      ...(m.namespace ? { namespace: m.namespace } : {}),
      ...(m.uid ? { uid: m.uid } : {}),
      ...(m.resourceVersion ? { resourceVersion: m.resourceVersion } : {}),
      ...(m.creationTimestamp !== undefined ? { creationTimestamp: m.creationTimestamp } : {}),
      ...(m.deletionTimestamp !== undefined && m.deletionTimestamp !== null
        ? { deletionTimestamp: m.deletionTimestamp }
        : {}),
      ...(m.labels ? { labels: m.labels } : {}),
      ...(bead !== undefined ? { annotations: { [BEAD_ANNOTATION]: bead } } : {}),
    },
    status: {
      ...(status.phase ? { phase: status.phase } : {}),
      ...(status.reason ? { reason: status.reason } : {}),
      ...(status.startTime ? { startTime: status.startTime } : {}),
      ...(first?.state ? { containerStatuses: [{ state: first.state }] } : {}),
      ...(scheduled ? { conditions: [scheduled] } : {}),
    },
  };
}

export interface PodRuntimeOptions {
  http: KubeHttp;
  namespace?: string;
  clock?: Clock;
  logger: Logger;
}

export function createPodRuntime(o: PodRuntimeOptions): SessionRuntime {
  const pods: Informer = createInformer({
    name: "pods",
    listWatch: createKubeListWatch(o.http, {
      group: "",
      version: "v1",
      plural: "pods",
      labelSelector: `${LABELS.managedBy}=${MANAGED_BY}`,
      ...(o.namespace ? { namespace: o.namespace } : {}),
    }),
    ...(o.clock ? { clock: o.clock } : {}),
    logger: o.logger,
    transform: cachedPod,
  });
  // One observation per pod version (cached pods are frozen and replaced on every change).
  const observed = new WeakMap<object, SessionObservation | null>();
  const observation = (p: KubeObject) => {
    let s = observed.get(p);
    if (s === undefined) {
      s = podObservation(p) ?? null;
      observed.set(p, s);
    }
    return s ?? undefined;
  };
  pods.addIndex(TOWN_INDEX, (p) => {
    const town = p.metadata.labels?.[LABELS.town];
    return town ? [townKey(p.metadata.namespace ?? "", town)] : [];
  });
  const path = (ns: string, name?: string) => `/api/v1/namespaces/${ns}/pods${name ? `/${name}` : ""}`;
  const identities = createAgentIdentities(o.http);
  const refusals = new Map<string, Refusal>();
  const listeners: ((townKey: string) => void)[] = [];
  const now = () => (o.clock ?? { now: () => Date.now() }).now();

  return {
    kind: "pod",
    async start(req: StartRequest) {
      const heartbeatTimeout = parseDuration(req.town.spec.timeouts.heartbeatTimeout) / 1000;
      const beads = [req.action.bead, ...(req.action.context.reworkOf ? [req.action.context.reworkOf] : [])];
      const agent = {
        namespace: req.namespace,
        town: req.town.metadata.name,
        name: req.agent.name,
        uid: req.agent.uid,
        serviceAccountAnnotations: req.town.spec.agents.serviceAccountAnnotations,
      };
      const refuse = (observation: SessionObservation) => {
        refusals.set(`${req.namespace}/${req.action.pod}`, {
          observation,
          town: req.town.metadata.name,
          namespace: req.namespace,
        });
        for (const l of listeners) l(townKey(req.namespace, req.town.metadata.name));
      };
      try {
        await identities.ensure(agent, beads, heartbeatTimeout);
      } catch (e) {
        // A planted ServiceAccount, Role or RoleBinding is a configuration error like a planted
        // home claim: the work is held saying which object to delete, not retried as a failed reconcile.
        if (!(e instanceof IdentityConflictError)) throw e;
        refuse(
          refusedSession(
            req,
            { statusCode: 0, reason: "IdentityConflict", message: e.message },
            now(),
            `agent ${req.agent.name}'s identity`,
          ),
        );
        return;
      }
      const home = podTemplateFor(req.town.spec.agents, req.action.rig).home;
      if (home) {
        try {
          await ensureAgentHome(o.http, agent, home);
        } catch (e) {
          // Said like a refused pod: the work is held with the reason, and tried again by itself.
          const claim = `PersistentVolumeClaim ${req.namespace}/${homeClaimName(req.agent.name)}`;
          if (e instanceof HomeVolumeError) {
            refuse(
              refusedSession(
                req,
                { statusCode: 0, reason: e.reason, message: e.message },
                now(),
                `agent ${req.agent.name}'s HOME`,
              ),
            );
            return;
          }
          if (!isRefusal(e)) throw e;
          refuse(
            refusedSession(
              req,
              e,
              now(),
              `the apiserver refused ${claim}, agent ${req.agent.name}'s HOME (${e.statusCode})`,
            ),
          );
          return;
        }
      }
      try {
        await o.http.json({ method: "POST", path: path(req.namespace), body: sessionPod(req) });
      } catch (e) {
        if (isAlreadyExists(e)) return;
        // E.g. the ServiceAccount was deleted behind our back: rebuild the identity next time.
        identities.forget(req.agent.uid);
        if (!isRefusal(e)) throw e;
        refuse(refusedSession(req, e, now()));
      }
    },
    async stop(namespace, _agent, name) {
      refusals.delete(`${namespace}/${name}`);
      try {
        await o.http.json({ method: "DELETE", path: path(namespace, name), body: { gracePeriodSeconds: 30 } });
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    },
    observe(namespace, town) {
      const out: SessionObservation[] = [];
      for (const p of pods.byIndex(TOWN_INDEX, townKey(namespace, town))) {
        const s = observation(p);
        if (s) out.push(s);
      }
      const seen = new Set(out.map((s) => s.name));
      for (const [key, r] of refusals) {
        if (now() - r.observation.created > REFUSAL_TTL_MS) refusals.delete(key);
        else if (r.namespace === namespace && r.town === town && !seen.has(r.observation.name)) out.push(r.observation);
      }
      return out;
    },
    // A refused pod is what the cache will ever show of that session: it satisfies the
    // expectation of its create, or the town would wait for a pod that will never come.
    lookup: (namespace, name) =>
      pods.get(namespace, name) ??
      (refusals.has(`${namespace}/${name}`) ? { metadata: { uid: `refused-${name}` } } : undefined),
    onChange(listener) {
      listeners.push(listener);
      const fire = (p: KubeObject) => {
        const town = p.metadata.labels?.[LABELS.town];
        if (town) listener(townKey(p.metadata.namespace ?? "", town));
      };
      pods.addHandlers({ onAdd: fire, onUpdate: (_old, p) => fire(p), onDelete: fire });
    },
    run: () => pods.start(),
    hasSynced: () => pods.hasSynced(),
    waitForSync: (signal) => pods.waitForSync(signal),
    async close() {
      pods.stop();
    },
  };
}
