// Sessions as Pods. The Pod informer (label-selected to the operator's own pods) is the source
// of every session fact: phase, start, exit code, eviction, OOM, deletion.
import { parseDuration } from "../api/meta.ts";
import type { Clock } from "../controller/clock.ts";
import { createInformer, type Informer, type KubeObject } from "../controller/informer.ts";
import { isNotFound, type KubeHttp } from "../controller/kube-http.ts";
import { createKubeListWatch } from "../controller/list-watch.ts";
import type { Logger } from "../controller/logger.ts";
import { BEAD_ANNOTATION, LABELS, MANAGED_BY, townKey } from "../controller/resources.ts";
import type { SessionObservation, SessionPhase } from "../core/snapshot.ts";
import { createAgentIdentities } from "./agent-identity.ts";
import { sessionPod } from "./pod-spec.ts";
import type { SessionRuntime, StartRequest } from "./session-runtime.ts";

const TOWN_INDEX = "town";

interface PodStatus {
  phase?: string;
  reason?: string;
  startTime?: string;
  containerStatuses?: {
    state?: {
      running?: { startedAt?: string };
      terminated?: { exitCode?: number; reason?: string; finishedAt?: string; startedAt?: string };
    };
  }[];
}

const time = (v: string | undefined) => {
  const t = v === undefined ? Number.NaN : Date.parse(v);
  return Number.isFinite(t) ? t : undefined;
};

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
  });
  pods.addIndex(TOWN_INDEX, (p) => {
    const town = p.metadata.labels?.[LABELS.town];
    return town ? [townKey(p.metadata.namespace ?? "", town)] : [];
  });
  const path = (ns: string, name?: string) => `/api/v1/namespaces/${ns}/pods${name ? `/${name}` : ""}`;
  const identities = createAgentIdentities(o.http);

  return {
    kind: "pod",
    async start(req: StartRequest) {
      const heartbeatTimeout = parseDuration(req.town.spec.timeouts.heartbeatTimeout) / 1000;
      const beads = [req.action.bead, ...(req.action.context.reworkOf ? [req.action.context.reworkOf] : [])];
      await identities.ensure(
        {
          namespace: req.namespace,
          town: req.town.metadata.name,
          name: req.agent.name,
          uid: req.agent.uid,
          serviceAccountAnnotations: req.town.spec.agents.serviceAccountAnnotations,
        },
        beads,
        heartbeatTimeout,
      );
      try {
        await o.http.json({ method: "POST", path: path(req.namespace), body: sessionPod(req) });
      } catch (e) {
        if (e instanceof Error && "statusCode" in e && e.statusCode === 409) return;
        // E.g. the ServiceAccount was deleted behind our back: rebuild the identity next time.
        identities.forget(req.agent.uid);
        throw e;
      }
    },
    async stop(namespace, _agent, name) {
      try {
        await o.http.json({ method: "DELETE", path: path(namespace, name), body: { gracePeriodSeconds: 30 } });
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
    },
    observe(namespace, town) {
      const out: SessionObservation[] = [];
      for (const p of pods.byIndex(TOWN_INDEX, townKey(namespace, town))) {
        const s = podObservation(p);
        if (s) out.push(s);
      }
      return out;
    },
    lookup: (namespace, name) => pods.get(namespace, name),
    onChange(listener) {
      const fire = (p: KubeObject) => {
        const town = p.metadata.labels?.[LABELS.town];
        if (town) listener(townKey(p.metadata.namespace ?? "", town));
      };
      pods.addHandlers({ onAdd: fire, onUpdate: (_old, p) => fire(p), onDelete: fire });
    },
    run: () => pods.start(),
    hasSynced: () => pods.hasSynced(),
    async close() {
      pods.stop();
    },
  };
}
