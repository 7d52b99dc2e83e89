// Each agent acts with its own ServiceAccount, limited by a Role to exactly what docs/security.md (Agents) lists:
// create AgentReports, read and renew its own Lease, read and watch its own Agent, read the bead
// it works on. Everything is owned by the Agent, so deleting the agent takes it all away.

import { GROUP, VERSION } from "../api/meta.ts";
import { AGENTS, apiPath, LABELS, LEASES, MANAGED_BY, recommendedLabels } from "../controller/resources.ts";
import { isAlreadyExists, isNotFound } from "../kube/errors.ts";
import type { KubeHttp } from "../kube/http.ts";

export interface AgentRef {
  namespace: string;
  town: string;
  name: string;
  uid: string;
  /** Town.spec.agents.serviceAccountAnnotations (e.g. a cloud workload identity), set at creation. */
  serviceAccountAnnotations?: Record<string, string>;
}

function owner(agent: AgentRef) {
  return [
    {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: AGENTS.kind,
      name: agent.name,
      uid: agent.uid,
      controller: true,
      blockOwnerDeletion: true,
    },
  ];
}

function metadata(agent: AgentRef, name = agent.name) {
  return {
    name,
    namespace: agent.namespace,
    labels: {
      ...recommendedLabels("gastown-agent-identity", agent.town, "agent-identity"),
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

const rolesPath = (ns: string) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`;

function patchRoleRules(http: KubeHttp, agent: AgentRef, beads: readonly string[]): Promise<unknown> {
  return http.json({
    method: "PATCH",
    path: `${rolesPath(agent.namespace)}/${agent.name}`,
    contentType: "application/merge-patch+json",
    body: { rules: agentRules(agent.name, beads) },
  });
}

async function createOrKeep(http: KubeHttp, path: string, body: unknown): Promise<boolean> {
  try {
    await http.json({ method: "POST", path, body });
    return true;
  } catch (e) {
    if (isAlreadyExists(e)) return false;
    throw e;
  }
}

/**
 * Makes sure the agent's ServiceAccount, Role, RoleBinding and heartbeat Lease exist, and that
 * the Role grants read access to the beads of the session being started.
 */
export async function ensureAgentIdentity(
  http: KubeHttp,
  agent: AgentRef,
  beads: readonly string[],
  heartbeatTimeoutSeconds: number,
): Promise<void> {
  const ns = agent.namespace;
  await createOrKeep(http, `/api/v1/namespaces/${ns}/serviceaccounts`, {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: {
      ...metadata(agent),
      ...(agent.serviceAccountAnnotations ? { annotations: agent.serviceAccountAnnotations } : {}),
    },
  });
  const role = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: metadata(agent),
    rules: agentRules(agent.name, beads),
  };
  if (!(await createOrKeep(http, rolesPath(ns), role))) await patchRoleRules(http, agent, beads);
  await createOrKeep(http, `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: metadata(agent),
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: agent.name },
    subjects: [{ kind: "ServiceAccount", name: agent.name, namespace: ns }],
  });
  await createOrKeep(http, apiPath(LEASES, ns), {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: metadata(agent),
    spec: { leaseDurationSeconds: Math.max(1, Math.ceil(heartbeatTimeoutSeconds)) },
  });
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
