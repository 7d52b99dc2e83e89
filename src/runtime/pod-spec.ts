// The Pod of one session, built from Town.spec.agents. Restricted Pod Security profile: non-root,
// no privilege escalation, all capabilities dropped, RuntimeDefault seccomp. Git credentials are
// mounted only into pods of the rig that names them; model keys come in through envFrom.
import { GROUP, VERSION } from "../api/meta.ts";
import { MODEL_API_KEY_ENV } from "../api/session.ts";
import type { AgentTemplate } from "../api/town.ts";
import { AGENTS, BEAD_ANNOTATION, LABELS, MANAGED_BY, recommendedLabels } from "../controller/resources.ts";
import { homeClaimName } from "./agent-home.ts";
import { modelKeyRef, sessionEnvFor } from "./session-env.ts";
import type { StartRequest } from "./session-runtime.ts";

export const WORKSPACE = "/workspace";
/** HOME of every session: on the workspace volume, or the agent's own claim (Town.spec.agents.home). */
export const HOME = `${WORKSPACE}/home`;
const CREDENTIALS = "/var/run/gastown/git";

/**
 * The scheduling and placement fields of one rig's session pods: the town-wide template with the
 * rig's perRig entry over it (scalars and lists replace, label and annotation maps merge).
 */
export function podTemplateFor(t: AgentTemplate, rig: string) {
  const r = t.perRig?.find((p) => p.rig === rig);
  const pick = <
    K extends
      | "resources"
      | "nodeSelector"
      | "tolerations"
      | "affinity"
      | "priorityClassName"
      | "runtimeClassName"
      | "home",
  >(
    key: K,
  ) => r?.[key] ?? t[key];
  return {
    resources: pick("resources"),
    nodeSelector: pick("nodeSelector"),
    tolerations: pick("tolerations"),
    affinity: pick("affinity"),
    priorityClassName: pick("priorityClassName"),
    runtimeClassName: pick("runtimeClassName"),
    home: pick("home"),
    labels: { ...t.podLabels, ...r?.podLabels },
    annotations: { ...t.podAnnotations, ...r?.podAnnotations },
  };
}

const defined = (fields: Record<string, unknown>) =>
  Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));

export function sessionPod(req: StartRequest): Record<string, unknown> {
  const { action, town, namespace } = req;
  const t = town.spec.agents;
  const p = podTemplateFor(t, action.rig);
  const rig = town.spec.rigs.find((r) => r.name === action.rig);
  const env: Record<string, unknown>[] = Object.entries(sessionEnvFor(req, WORKSPACE)).map(([name, value]) => ({
    name,
    value,
  }));
  const key = modelKeyRef(town, action.rig);
  // By reference: the key never appears in the Pod object; a missing Secret fails the pod start.
  if (key) env.push({ name: MODEL_API_KEY_ENV, valueFrom: { secretKeyRef: { name: key.name, key: key.key } } });
  if (rig?.gitCredentialsSecret) env.push({ name: "GT_GIT_CREDENTIALS_DIR", value: CREDENTIALS });
  env.push({ name: "HOME", value: HOME });
  const volumes: Record<string, unknown>[] = [
    t.workspace?.storageClassName
      ? {
          name: "workspace",
          ephemeral: {
            volumeClaimTemplate: {
              spec: {
                accessModes: ["ReadWriteOnce"],
                storageClassName: t.workspace.storageClassName,
                resources: { requests: { storage: String(t.workspace.size ?? "10Gi") } },
              },
            },
          },
        }
      : { name: "workspace", emptyDir: t.workspace?.size ? { sizeLimit: String(t.workspace.size) } : {} },
    { name: "tmp", emptyDir: {} },
  ];
  const mounts: Record<string, unknown>[] = [
    { name: "workspace", mountPath: WORKSPACE },
    { name: "tmp", mountPath: "/tmp" },
  ];
  if (p.home) {
    volumes.push({ name: "home", persistentVolumeClaim: { claimName: homeClaimName(action.agent) } });
    mounts.push({ name: "home", mountPath: HOME });
  }
  if (rig?.gitCredentialsSecret) {
    volumes.push({ name: "git-credentials", secret: { secretName: rig.gitCredentialsSecret, defaultMode: 0o400 } });
    mounts.push({ name: "git-credentials", mountPath: CREDENTIALS, readOnly: true });
  }
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: action.pod,
      namespace,
      // The Town's labels first: the operator's own (which tie the pod to its agent) always win.
      labels: {
        ...p.labels,
        ...recommendedLabels("gastown-session", town.metadata.name, action.role.toLowerCase()),
        [LABELS.managedBy]: MANAGED_BY,
        [LABELS.town]: town.metadata.name,
        [LABELS.agent]: action.agent,
        [LABELS.role]: action.role.toLowerCase(),
        [LABELS.rig]: action.rig,
        [LABELS.session]: String(action.session),
      },
      annotations: { ...p.annotations, [BEAD_ANNOTATION]: action.bead },
      ownerReferences: [
        {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: AGENTS.kind,
          name: req.agent.name,
          uid: req.agent.uid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      serviceAccountName: action.agent,
      restartPolicy: "Never",
      enableServiceLinks: false,
      ...defined({
        imagePullSecrets: t.imagePullSecrets,
        nodeSelector: p.nodeSelector,
        tolerations: p.tolerations,
        affinity: p.affinity,
        priorityClassName: p.priorityClassName,
        runtimeClassName: p.runtimeClassName,
      }),
      securityContext: {
        runAsNonRoot: true,
        runAsUser: 1000,
        runAsGroup: 1000,
        fsGroup: 1000,
        seccompProfile: { type: "RuntimeDefault" },
      },
      containers: [
        {
          name: "agent",
          image: t.image,
          imagePullPolicy: t.imagePullPolicy,
          args: ["run"],
          env: [...env, ...t.env],
          envFrom: t.envFrom,
          ...(p.resources ? { resources: p.resources } : {}),
          workingDir: WORKSPACE,
          volumeMounts: mounts,
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ["ALL"] },
          },
        },
      ],
      volumes,
    },
  };
}
