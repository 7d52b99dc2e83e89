// Each agent acts with its own ServiceAccount, limited by a Role to exactly what docs/security.md (Agents) lists:
// create AgentReports, read and renew its own Lease, read and watch its own Agent, read the bead
// it works on. Everything is owned by the Agent, so deleting the agent takes it all away.
//
// The operator never adopts an identity object it did not make: a ServiceAccount, Role or
// RoleBinding that already carries the agent's name but is not controlled by that Agent could
// grant the session anything (or bind someone else to its rights), so starting the session fails
// with an IdentityConflictError that names the object and what to do. One left behind by an
// earlier Agent of the same name (the garbage collector has not caught up) was ours: it is
// replaced.
import { GROUP, VERSION } from "../api/meta.ts";
import { AGENTS, LABELS, LEASES, MANAGED_BY, recommendedLabels } from "../controller/resources.ts";
import { isAlreadyExists, isNotFound } from "../kube/errors.ts";
import type { KubeHttp } from "../kube/http.ts";
import { apiPath } from "../kube/paths.ts";

export interface AgentRef {
  namespace: string;
  town: string;
  name: string;
  uid: string;
  /** Town.spec.agents.serviceAccountAnnotations (e.g. a cloud workload identity), set at creation. */
  serviceAccountAnnotations?: Record<string, string>;
}

export type OwnerReference = { apiVersion?: string; kind: string; name: string; uid: string; controller?: boolean };

function owner(agent: AgentRef): OwnerReference[] {
  return [
    {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: AGENTS.kind,
      name: agent.name,
      uid: agent.uid,
      controller: true,
      blockOwnerDeletion: true,
    } as OwnerReference,
  ];
}

function metadata(agent: AgentRef, name = agent.name) {
  return agentObjectMetadata(agent, "gastown-agent-identity", "agent-identity", name);
}

/** Metadata of an object the operator makes for one agent: its labels, controlled by the Agent. */
export function agentObjectMetadata(agent: AgentRef, app: string, component: string, name: string) {
  return {
    name,
    namespace: agent.namespace,
    labels: {
      ...recommendedLabels(app, agent.town, component),
      [LABELS.managedBy]: MANAGED_BY,
      [LABELS.town]: agent.town,
      [LABELS.agent]: agent.name,
    },
    ownerReferences: owner(agent),
  };
}

/** The Role's rules for an agent currently working on `beads` (its bead, and a rework's MR). */
export function agentRules(agent: string, beads: readonly string[]) {
  return [
    { apiGroups: [GROUP], resources: ["agentreports"], verbs: ["create"] },
    { apiGroups: [LEASES.group], resources: ["leases"], resourceNames: [agent], verbs: ["get", "update", "patch"] },
    { apiGroups: [GROUP], resources: ["agents"], resourceNames: [agent], verbs: ["get", "list", "watch"] },
    { apiGroups: [GROUP], resources: ["beads"], resourceNames: [...beads], verbs: ["get"] },
  ];
}

/** An object with the agent's name exists that the operator did not create for this Agent. */
export class IdentityConflictError extends Error {
  readonly object: { kind: string; namespace: string; name: string };

  constructor(object: { kind: string; namespace: string; name: string; plural: string }, found: string) {
    super(
      `${object.kind} ${object.namespace}/${object.name} already exists and ${found}, so the operator will not ` +
        `use it as agent ${object.name}'s identity (it could grant the session rights nobody reviewed). ` +
        `Delete or rename it (kubectl -n ${object.namespace} delete ${object.plural} ${object.name}); ` +
        "the operator then creates its own.",
    );
    this.name = "IdentityConflictError";
    this.object = { kind: object.kind, namespace: object.namespace, name: object.name };
  }
}

const RBAC = "/apis/rbac.authorization.k8s.io/v1";
interface Part {
  kind: string;
  plural: string;
  collection: (ns: string) => string;
  body: (agent: AgentRef, beads: readonly string[], heartbeatTimeoutSeconds: number) => Record<string, unknown>;
  /** Only these are checked for an owner: a foreign Lease grants nothing. */
  guarded: boolean;
}

const PARTS: Part[] = [
  {
    kind: "ServiceAccount",
    plural: "serviceaccounts",
    collection: (ns) => `/api/v1/namespaces/${ns}/serviceaccounts`,
    body: (agent) => ({
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: {
        ...metadata(agent),
        ...(agent.serviceAccountAnnotations ? { annotations: agent.serviceAccountAnnotations } : {}),
      },
    }),
    guarded: true,
  },
  {
    kind: "Role",
    plural: "roles",
    collection: (ns) => `${RBAC}/namespaces/${ns}/roles`,
    body: (agent, beads) => ({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: metadata(agent),
      rules: agentRules(agent.name, beads),
    }),
    guarded: true,
  },
  {
    kind: "RoleBinding",
    plural: "rolebindings",
    collection: (ns) => `${RBAC}/namespaces/${ns}/rolebindings`,
    // Created once its Role exists: the apiserver's RBAC escalation check resolves the Role it
    // names, and an operator without the bind verb is refused while the Role is not there yet.
    body: (agent) => ({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: metadata(agent),
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: agent.name },
      subjects: [{ kind: "ServiceAccount", name: agent.name, namespace: agent.namespace }],
    }),
    guarded: true,
  },
  {
    kind: "Lease",
    plural: "leases",
    collection: (ns) => apiPath(LEASES, ns),
    body: (agent, _beads, heartbeatTimeoutSeconds) => ({
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: metadata(agent),
      spec: { leaseDurationSeconds: Math.max(1, Math.ceil(heartbeatTimeoutSeconds)) },
    }),
    guarded: false,
  },
];

function patchRoleRules(http: KubeHttp, agent: AgentRef, beads: readonly string[]): Promise<unknown> {
  return http.json({
    method: "PATCH",
    path: `${RBAC}/namespaces/${agent.namespace}/roles/${agent.name}`,
    contentType: "application/merge-patch+json",
    body: { rules: agentRules(agent.name, beads) },
  });
}

/** Creates one part; if it exists, keeps it only when this Agent controls it (see the header). */
async function ensurePart(
  http: KubeHttp,
  part: Part,
  agent: AgentRef,
  beads: readonly string[],
  heartbeatTimeoutSeconds: number,
): Promise<void> {
  const collection = part.collection(agent.namespace);
  const body = part.body(agent, beads, heartbeatTimeoutSeconds);
  for (let attempt = 0; ; attempt++) {
    try {
      await http.json({ method: "POST", path: collection, body });
      return;
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
    }
    const path = `${collection}/${agent.name}`;
    let existing: { metadata: { uid: string; ownerReferences?: OwnerReference[] } };
    try {
      existing = await http.json({ method: "GET", path });
    } catch (e) {
      if (isNotFound(e) && attempt < 2) continue; // deleted in between: create it again
      throw e;
    }
    const controller = existing.metadata.ownerReferences?.find((r) => r.controller);
    if (controller?.kind === AGENTS.kind && controller.uid === agent.uid) {
      if (part.kind === "Role") await patchRoleRules(http, agent, beads);
      return;
    }
    const ours = controller?.kind === AGENTS.kind && controller.name === agent.name;
    if (ours && attempt < 2) {
      // Made for an earlier Agent of this name; the garbage collector will take it anyway.
      await http
        .json({ method: "DELETE", path, body: { preconditions: { uid: existing.metadata.uid } } })
        .catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
      continue;
    }
    if (!part.guarded) return;
    const found = controller
      ? `is controlled by ${controller.kind} ${controller.name} (uid ${controller.uid}), not by Agent ${agent.name} (uid ${agent.uid})`
      : `has no controller reference to Agent ${agent.name}`;
    throw new IdentityConflictError(
      { kind: part.kind, plural: part.plural, namespace: agent.namespace, name: agent.name },
      found,
    );
  }
}

/**
 * Makes sure the agent's ServiceAccount, Role, RoleBinding and heartbeat Lease exist, and that
 * the Role grants read access to the beads of the session being started. The ServiceAccount, Role
 * and Lease go out together; the RoleBinding follows its Role (see its part). Found on kind: created
 * at once, the binding was refused ('rolebindings … not found') and the dispatch charged twice.
 */
export async function ensureAgentIdentity(
  http: KubeHttp,
  agent: AgentRef,
  beads: readonly string[],
  heartbeatTimeoutSeconds: number,
): Promise<void> {
  const ensure = (part: Part) => ensurePart(http, part, agent, beads, heartbeatTimeoutSeconds);
  const role = PARTS.find((p) => p.kind === "Role") as Part;
  const binding = PARTS.find((p) => p.kind === "RoleBinding") as Part;
  const roleDone = ensure(role);
  const results = await Promise.allSettled([
    roleDone,
    roleDone.then(() => ensure(binding)),
    ...PARTS.filter((p) => p !== role && p !== binding).map(ensure),
  ]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}

export interface AgentIdentities {
  /** ensureAgentIdentity, in one write (the Role's bead list) for an agent seen before. */
  ensure(agent: AgentRef, beads: readonly string[], heartbeatTimeoutSeconds: number): Promise<void>;
  /** Something built on the identity failed: check every object again next time. */
  forget(agentUid: string): void;
}

/**
 * Remembers whose identities exist, so that a session start does not cost four creates answered
 * with AlreadyExists (the benchmark saw them as 14% of the operator's writes). Keyed by the
 * Agent's uid: a re-created Agent is a new identity. A Role that vanished all the same (someone
 * deleted it) is noticed by the patch, and everything is created again.
 */
export function createAgentIdentities(http: KubeHttp): AgentIdentities {
  const known = new Set<string>();
  return {
    async ensure(agent, beads, heartbeatTimeoutSeconds) {
      if (known.has(agent.uid)) {
        try {
          await patchRoleRules(http, agent, beads);
          return;
        } catch (e) {
          if (!isNotFound(e)) throw e;
          known.delete(agent.uid);
        }
      }
      await ensureAgentIdentity(http, agent, beads, heartbeatTimeoutSeconds);
      known.add(agent.uid);
    },
    forget(agentUid) {
      known.delete(agentUid);
    },
  };
}

/** A short-lived token of the agent's ServiceAccount (TokenRequest API), bound to nothing else. */
export async function requestAgentToken(
  http: KubeHttp,
  namespace: string,
  agent: string,
  seconds = 3600,
): Promise<string> {
  const res = await http.json<{ status: { token: string } }>({
    method: "POST",
    path: `/api/v1/namespaces/${namespace}/serviceaccounts/${agent}/token`,
    body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: seconds } },
  });
  return res.status.token;
}
