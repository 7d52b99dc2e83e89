// The API resources the operator reads and writes, and the labels that tie them to a town.
import { GROUP, VERSION } from "../api/meta.ts";
import type { Resource } from "../kube/paths.ts";

export { apiPath, type Resource } from "../kube/paths.ts";

export const TOWNS: Resource = { group: GROUP, version: VERSION, plural: "towns", kind: "Town" };
export const CONVOYS: Resource = { group: GROUP, version: VERSION, plural: "convoys", kind: "Convoy" };
export const BEADS: Resource = { group: GROUP, version: VERSION, plural: "beads", kind: "Bead" };
export const AGENTS: Resource = { group: GROUP, version: VERSION, plural: "agents", kind: "Agent" };
export const REPORTS: Resource = { group: GROUP, version: VERSION, plural: "agentreports", kind: "AgentReport" };
export const PODS: Resource = { group: "", version: "v1", plural: "pods", kind: "Pod" };
export const LEASES: Resource = { group: "coordination.k8s.io", version: "v1", plural: "leases", kind: "Lease" };

export const LABELS = {
  managedBy: "app.kubernetes.io/managed-by",
  town: "gastown.dev/town",
  agent: "gastown.dev/agent",
  role: "gastown.dev/role",
  rig: "gastown.dev/rig",
  session: "gastown.dev/session",
  convoy: "gastown.dev/convoy",
} as const;

export const MANAGED_BY = "gastown-operator";

/**
 * The recommended app.kubernetes.io labels on what the operator creates (managed-by is in LABELS):
 * name = what the object is, instance = the town, component = its role in the town.
 */
export function recommendedLabels(name: string, town: string, component: string): Record<string, string> {
  return {
    "app.kubernetes.io/name": name,
    "app.kubernetes.io/instance": town,
    "app.kubernetes.io/component": component,
    "app.kubernetes.io/part-of": "gastown",
    [LABELS.managedBy]: MANAGED_BY,
  };
}

/** Annotations the agent runtime keeps on its Lease: the activity watermark (docs/agent-contract.md). */
export const LEASE_ANNOTATIONS = {
  session: "gastown.dev/session",
  activityTime: "gastown.dev/activity-time",
  activityKind: "gastown.dev/activity-kind",
  activeTools: "gastown.dev/active-tools",
  /** The session's usage so far, JSON (src/agent/presets/types.ts Usage). */
  usage: "gastown.dev/usage",
  /** The last nudge the session received: JSON {key, via, time}. */
  nudgeDelivered: "gastown.dev/nudge-delivered",
  /** The id of the last user nudge (Agent.spec.nudge) delivered, so a new session does not repeat it. */
  userNudgeDelivered: "gastown.dev/user-nudge-delivered",
  /** How the session ended (set by its last renewal): JSON {class, message}. */
  outcome: "gastown.dev/outcome",
  /** The CLI's conversation id, for session continuity. */
  cliSession: "gastown.dev/cli-session",
  /**
   * Set by a session that was given an earlier conversation to resume: "true" when it resumed it,
   * "false" when it could not (no transcript in its HOME) and started a new one.
   */
  cliResumed: "gastown.dev/cli-resumed",
} as const;

export const BEAD_ANNOTATION = "gastown.dev/bead";

/** Work queue keys are "<namespace>/<town>". */
export function townKey(namespace: string, town: string): string {
  return `${namespace}/${town}`;
}

export function splitTownKey(key: string): { namespace: string; town: string } {
  const i = key.indexOf("/");
  return { namespace: key.slice(0, i), town: key.slice(i + 1) };
}
