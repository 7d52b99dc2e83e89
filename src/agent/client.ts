// What an agent may do with the API, with its own ServiceAccount's credentials: create reports,
// renew its heartbeat Lease with the activity watermark, read its Agent (nudges) and its bead.
// The Role the operator grants allows exactly these calls and nothing else.
import type { Agent } from "../api/agent.ts";
import type { AgentReportSpec } from "../api/agent-report.ts";
import type { Bead } from "../api/bead.ts";
import { API_VERSION } from "../api/meta.ts";
import { formatMicroTime } from "../controller/clock.ts";
import { AGENTS, apiPath, BEADS, LEASE_ANNOTATIONS, LEASES, REPORTS } from "../controller/resources.ts";
import type { KubeConnection } from "../kube/config.ts";
import { createKubeHttp, type KubeHttp } from "../kube/http.ts";

/** Lease annotations one session writes about itself (src/agent/run-preset.ts). */
const PER_SESSION = [
  LEASE_ANNOTATIONS.usage,
  LEASE_ANNOTATIONS.cliSession,
  LEASE_ANNOTATIONS.cliResumed,
  LEASE_ANNOTATIONS.nudgeDelivered,
  LEASE_ANNOTATIONS.outcome,
] as const;

export interface AgentIdentity {
  namespace: string;
  town: string;
  agent: string;
  session: number;
}

export interface Activity {
  time: number;
  kind: string;
  activeTools: number;
}

let sequence = 0;

/**
 * Report names sort in creation order: the API's creationTimestamp has one-second resolution and
 * the controller breaks ties by name, so "RequestChanges then Done" is never read backwards.
 */
export function reportName(agent: string, type: string, now = Date.now()): string {
  sequence = (sequence + 1) % 1000;
  return `${agent}-${now}${String(sequence).padStart(3, "0")}-${type.toLowerCase()}`;
}

export type ReportInput = Omit<AgentReportSpec, "town" | "agent" | "session">;

export class AgentClient {
  readonly http: KubeHttp;
  readonly id: AgentIdentity;

  constructor(kc: KubeConnection | KubeHttp, id: AgentIdentity) {
    this.http = "json" in kc ? kc : createKubeHttp(kc);
    this.id = id;
  }

  async report(input: ReportInput): Promise<string> {
    const name = reportName(this.id.agent, input.type);
    await this.http.json({
      method: "POST",
      path: apiPath(REPORTS, this.id.namespace),
      body: {
        apiVersion: API_VERSION,
        kind: "AgentReport",
        metadata: { name, namespace: this.id.namespace },
        spec: { town: this.id.town, agent: this.id.agent, session: this.id.session, ...input },
      },
    });
    return name;
  }

  /** Renews the Lease: renewTime now, holder = this session, and the activity watermark. */
  async heartbeat(
    holder: string,
    activity?: Activity,
    now = Date.now(),
    extra: Record<string, string> = {},
  ): Promise<void> {
    // The Lease outlives sessions and a merge patch keeps what it does not name: what belongs to one
    // session is cleared unless this one says it, or the operator would count the last session's
    // usage again as this one's. (userNudgeDelivered is kept on purpose: a new session must not
    // repeat the nudge.)
    const annotations: Record<string, string | null> = {
      ...Object.fromEntries(PER_SESSION.map((k) => [k, null])),
      ...extra,
      [LEASE_ANNOTATIONS.session]: String(this.id.session),
    };
    if (activity) {
      annotations[LEASE_ANNOTATIONS.activityTime] = new Date(activity.time).toISOString();
      annotations[LEASE_ANNOTATIONS.activityKind] = activity.kind;
      annotations[LEASE_ANNOTATIONS.activeTools] = String(activity.activeTools);
    }
    await this.http.json({
      method: "PATCH",
      path: apiPath(LEASES, this.id.namespace, this.id.agent),
      contentType: "application/merge-patch+json",
      body: { metadata: { annotations }, spec: { holderIdentity: holder, renewTime: formatMicroTime(now) } },
    });
  }

  async lease(): Promise<{ metadata: { annotations?: Record<string, string> } }> {
    return this.http.json({ method: "GET", path: apiPath(LEASES, this.id.namespace, this.id.agent) });
  }

  async agent(): Promise<Agent> {
    return this.http.json<Agent>({ method: "GET", path: apiPath(AGENTS, this.id.namespace, this.id.agent) });
  }

  async bead(name: string): Promise<Bead> {
    return this.http.json<Bead>({ method: "GET", path: apiPath(BEADS, this.id.namespace, name) });
  }
}
