// Each agent's HOME as a PersistentVolumeClaim of its own (Town.spec.agents.home), mounted by every
// session pod of that agent, so the coding-agent CLI's transcripts outlive a session and the
// bead's next session resumes its conversation. Owned by the Agent: the garbage collector deletes
// it with the Agent.
//
// As with the agent's identity (agent-identity.ts), the operator never adopts a claim it did not
// make for this Agent: one with the agent's home name that someone else controls could hold data
// the session must not see, or be read by whoever made it. One left by an earlier Agent of the
// same name is not reused either: the garbage collector deletes it (its owner is gone), and the
// start is tried again until it is gone, so the new agent starts with an empty HOME. The operator
// never deletes a claim itself (no delete verb on PersistentVolumeClaims: it holds data).
import type { AgentTemplate } from "../api/town.ts";
import { isAlreadyExists, isNotFound } from "../kube/errors.ts";
import type { KubeHttp } from "../kube/http.ts";
import { type AgentRef, agentObjectMetadata, type OwnerReference } from "./agent-identity.ts";

export type HomeSpec = NonNullable<AgentTemplate["home"]>;

export const DEFAULT_HOME_SIZE = "1Gi";
const DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class";
const STORAGE = "/apis/storage.k8s.io/v1/storageclasses";

/** The claim holding the agent's HOME. */
export const homeClaimName = (agent: string) => `${agent}-home`;

/** Why a session cannot get its HOME, in the words a configuration hold shows; nothing is charged. */
export class HomeVolumeError extends Error {
  readonly reason: string;

  constructor(reason: string, message: string) {
    super(message);
    this.name = "HomeVolumeError";
    this.reason = reason;
  }
}

/** Not yet: the claim of an earlier Agent of the same name is still being deleted. */
export class HomeVolumeBusyError extends Error {}

export function homeClaim(agent: AgentRef, home: HomeSpec): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: agentObjectMetadata(agent, "gastown-agent-home", "agent-home", homeClaimName(agent.name)),
    spec: {
      accessModes: ["ReadWriteOnce"],
      ...(home.storageClassName ? { storageClassName: home.storageClassName } : {}),
      resources: { requests: { storage: String(home.size ?? DEFAULT_HOME_SIZE) } },
    },
  };
}

/**
 * A claim of a class that does not exist, or of no class in a cluster without a default one, is
 * accepted and never binds: its pods wait until startupGrace says nothing. Said at once instead.
 * A class the operator may not read (no RBAC in a cluster that forbids it) is not second-guessed.
 */
async function checkStorageClass(http: KubeHttp, home: HomeSpec): Promise<void> {
  try {
    if (home.storageClassName) {
      await http.json({ method: "GET", path: `${STORAGE}/${home.storageClassName}` });
      return;
    }
    const list = await http.json<{ items?: { metadata: { annotations?: Record<string, string> } }[] }>({
      method: "GET",
      path: STORAGE,
    });
    if (!(list.items ?? []).some((c) => c.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === "true"))
      throw new HomeVolumeError(
        "NoDefaultStorageClass",
        "Town.spec.agents.home names no storageClassName and the cluster has no default StorageClass: name one",
      );
  } catch (e) {
    if (isNotFound(e))
      throw new HomeVolumeError(
        "StorageClassNotFound",
        `storageclass.storage.k8s.io "${home.storageClassName}" not found (Town.spec.agents.home.storageClassName)`,
      );
    if (e instanceof HomeVolumeError) throw e;
    if ((e as { statusCode?: number }).statusCode === 403) return;
    throw e;
  }
}

type ClaimMeta = { metadata: { uid: string; deletionTimestamp?: string; ownerReferences?: OwnerReference[] } };

/** Is the claim there this Agent's to mount? Throws why not (see the header). */
function checkOwner(agent: AgentRef, existing: ClaimMeta): void {
  const name = homeClaimName(agent.name);
  const controller = existing.metadata.ownerReferences?.find((r) => r.controller);
  const where = `PersistentVolumeClaim ${agent.namespace}/${name}`;
  if (controller?.kind === "Agent" && controller.uid === agent.uid) {
    if (existing.metadata.deletionTimestamp)
      throw new HomeVolumeBusyError(
        `${where}, agent ${agent.name}'s HOME, is being deleted; it is made again once gone`,
      );
    return;
  }
  if (controller?.kind === "Agent" && controller.name === agent.name)
    throw new HomeVolumeBusyError(
      `${where} belongs to an earlier Agent ${agent.name} (uid ${controller.uid}); a new one is made once the garbage collector has deleted it`,
    );
  const found = controller
    ? `is controlled by ${controller.kind} ${controller.name} (uid ${controller.uid}), not by Agent ${agent.name} (uid ${agent.uid})`
    : `has no controller reference to Agent ${agent.name}`;
  throw new HomeVolumeError(
    "HomeVolumeConflict",
    `${where} already exists and ${found}, so the operator will not mount it as agent ${agent.name}'s HOME ` +
      `(it could hold data the session must not see). Delete or rename it ` +
      `(kubectl -n ${agent.namespace} delete persistentvolumeclaims ${name}); the operator then creates its own.`,
  );
}

/**
 * Makes sure the agent's home claim exists and is this Agent's: one read per session start (a
 * claim deleted behind the operator's back is made again, not mounted missing), a create only
 * when there is none.
 */
export async function ensureAgentHome(http: KubeHttp, agent: AgentRef, home: HomeSpec): Promise<void> {
  const collection = `/api/v1/namespaces/${agent.namespace}/persistentvolumeclaims`;
  const path = `${collection}/${homeClaimName(agent.name)}`;
  try {
    return checkOwner(agent, await http.json<ClaimMeta>({ method: "GET", path }));
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  // Checked before the claim is made: a claim's class cannot be changed once it exists.
  await checkStorageClass(http, home);
  try {
    await http.json({ method: "POST", path: collection, body: homeClaim(agent, home) });
  } catch (e) {
    if (!isAlreadyExists(e)) throw e;
    checkOwner(agent, await http.json<ClaimMeta>({ method: "GET", path }));
  }
}
