// The Pod of one session, built from Town.spec.agents. Restricted Pod Security profile: non-root,
// no privilege escalation, all capabilities dropped, RuntimeDefault seccomp. Git credentials are
// mounted only into pods of the rig that names them; model keys come in through envFrom.
import { GROUP, VERSION } from "../api/meta.ts";
import { AGENTS, BEAD_ANNOTATION, LABELS, MANAGED_BY } from "../controller/resources.ts";
import { sessionEnvFor } from "./session-env.ts";
import type { StartRequest } from "./session-runtime.ts";

export const WORKSPACE = "/workspace";
const CREDENTIALS = "/var/run/gastown/git";

export function sessionPod(req: StartRequest): Record<string, unknown> {
  const { action, town, namespace } = req;
  const t = town.spec.agents;
  const rig = town.spec.rigs.find((r) => r.name === action.rig);
  const env = Object.entries(sessionEnvFor(req, WORKSPACE)).map(([name, value]) => ({ name, value }));
  if (rig?.gitCredentialsSecret) env.push({ name: "GT_GIT_CREDENTIALS_DIR", value: CREDENTIALS });
  env.push({ name: "HOME", value: `${WORKSPACE}/home` });
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
      labels: {
        [LABELS.managedBy]: MANAGED_BY,
        [LABELS.town]: town.metadata.name,
        [LABELS.agent]: action.agent,
        [LABELS.role]: action.role.toLowerCase(),
        [LABELS.rig]: action.rig,
        [LABELS.session]: String(action.session),
      },
      annotations: { [BEAD_ANNOTATION]: action.bead },
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
          ...(t.resources ? { resources: t.resources } : {}),
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
