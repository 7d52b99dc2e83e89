// A simulated crew for integration tests: it watches session Pods, and for every new one acts as
// that pod's agent with the agent's own ServiceAccount token — renewing its Lease from the start
// and filing reports — the way `gt run` inside a real session pod would (kwok runs no containers).
// It starts from the Pod, not from the Agent's "Working" status, because a real session does: the
// operator writes that status after creating the pod, and may not live to write it. What each
// session does is up to the test. The operator benchmark uses it too, so it must not import
// vitest (see ./agents.ts).

import type { KubeConfig } from "@kubernetes/client-node";
import { AgentClient, type ReportInput } from "../../src/agent/client.ts";
import { BEAD_ANNOTATION, LABELS, MANAGED_BY } from "../../src/controller/resources.ts";
import { KubeApiError } from "../../src/kube/errors.ts";
import { createKubeHttp, type KubeHttp } from "../../src/kube/http.ts";
import { createInformer, type Informer, type KubeObject } from "../../src/kube/informer.ts";
import { createKubeListWatch } from "../../src/kube/list-watch.ts";
import { agentKubeConfigOf, exitPod } from "./agents.ts";

export interface Session {
  agent: string;
  rig: string;
  role: "Polecat" | "Refinery";
  session: number;
  bead: string;
  pod: string;
  client: AgentClient;
  report(input: Omit<ReportInput, "bead"> & { bead?: string }): Promise<string>;
  /** The session's process ends: the kubelet reports the exit code. */
  exit(code: number): Promise<void>;
  /** Stop renewing the Lease (a hung or dead agent). */
  stopHeartbeat(): void;
}

export type SessionScript = (s: Session) => Promise<void>;

interface SessionPod {
  metadata: {
    name: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
  };
  status?: { phase?: string };
}

/** The well-behaved crew: polecats report Done on their branch, refineries merge. */
export const finishWork: SessionScript = async (s) => {
  if (s.role === "Polecat") await s.report({ type: "Done", branch: `gt/${s.rig}/${s.bead}`, summary: "done" });
  else await s.report({ type: "Done", commit: "abc1234" });
  await s.exit(0);
};

export interface CrewOptions {
  script?: SessionScript;
  heartbeatMs?: number;
  /** Wraps every KubeConfig the crew makes: the benchmark tags requests to count who wrote. */
  tag?: (kc: KubeConfig, as: "agent" | "kubelet") => KubeConfig;
  /**
   * Every call a session makes (its token, reports, its exit; not the heartbeats, which are
   * periodic and allowed to fail) goes through this: a test that stops the control plane on
   * purpose holds the crew's calls across the outage, as an agent waits for its network.
   */
  through?: <T>(call: () => Promise<T>) => Promise<T>;
}

export class Crew {
  private readonly informer: Informer;
  /** Pods whose session has been started. */
  private readonly handled = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly running = new Set<Promise<void>>();
  private readonly credentials = new Map<string, Promise<KubeHttp>>();
  private readonly admin: KubeConfig;
  /** The kubelet's doings: TokenRequests for agents, pod exits. */
  private readonly kubelet: KubeHttp;
  private readonly namespace: string;
  private readonly heartbeatMs: number;
  private readonly tag: NonNullable<CrewOptions["tag"]>;
  private readonly through: NonNullable<CrewOptions["through"]>;
  readonly errors: string[] = [];
  readonly sessions: { agent: string; role: string; session: number; bead: string }[] = [];
  script: SessionScript;

  constructor(admin: KubeConfig, namespace: string, opts: CrewOptions | SessionScript = {}) {
    const o = typeof opts === "function" ? { script: opts } : opts;
    this.admin = admin;
    this.namespace = namespace;
    this.heartbeatMs = o.heartbeatMs ?? 500;
    this.script = o.script ?? finishWork;
    this.tag = o.tag ?? ((kc) => kc);
    this.through = o.through ?? ((call) => call());
    this.kubelet = createKubeHttp(this.tag(admin, "kubelet"));
    this.informer = createInformer({
      name: "crew-pods",
      listWatch: createKubeListWatch(createKubeHttp(admin), {
        group: "",
        version: "v1",
        plural: "pods",
        namespace,
        labelSelector: `${LABELS.managedBy}=${MANAGED_BY}`,
      }),
    });
    const fire = (o: KubeObject) => this.consider(o as SessionPod);
    this.informer.addHandlers({ onAdd: fire, onUpdate: (_p, o) => fire(o) });
  }

  /** Sessions still acting. */
  get busy(): number {
    return this.running.size;
  }

  start(): this {
    this.informer.start();
    return this;
  }

  /** The agent's own credentials (one TokenRequest per agent, reused across its sessions). */
  private agentHttp(agent: string): Promise<KubeHttp> {
    let h = this.credentials.get(agent);
    if (!h) {
      h = this.through(() => agentKubeConfigOf(this.admin, this.kubelet, this.namespace, agent)).then((kc) =>
        createKubeHttp(this.tag(kc, "agent")),
      );
      h.catch(() => this.credentials.delete(agent));
      this.credentials.set(agent, h);
    }
    return h;
  }

  private consider(pod: SessionPod): void {
    const { labels = {}, annotations = {}, name, deletionTimestamp } = pod.metadata;
    const phase = pod.status?.phase;
    // gt run runs inside the container: a pod whose container never started (an image that cannot
    // be pulled, a missing Secret, no node) runs no session.
    if (deletionTimestamp || phase !== "Running" || this.handled.has(name)) return;
    const agent = labels[LABELS.agent];
    const bead = annotations[BEAD_ANNOTATION];
    const session = Number(labels[LABELS.session]);
    const role = labels[LABELS.role] === "refinery" ? "Refinery" : "Polecat";
    if (!agent || !bead || !session) return;
    this.handled.add(name);
    this.sessions.push({ agent, role, session, bead });
    const town = labels[LABELS.town] ?? "";
    const rig = labels[LABELS.rig] ?? "";
    const run = this.run(town, rig, agent, role, session, bead, name).catch((e) => {
      this.errors.push(`${agent} session ${session}: ${(e as Error).message}`);
    });
    this.running.add(run);
    void run.finally(() => this.running.delete(run));
  }

  private async run(
    town: string,
    rig: string,
    agent: string,
    role: "Polecat" | "Refinery",
    session: number,
    bead: string,
    pod: string,
  ) {
    const client = new AgentClient(await this.agentHttp(agent), { namespace: this.namespace, town, agent, session });
    const beat = () => client.heartbeat(pod, { time: Date.now(), kind: "test", activeTools: 0 }).catch(() => {});
    await beat();
    const timer = setInterval(beat, this.heartbeatMs);
    this.timers.add(timer);
    const stopHeartbeat = () => {
      clearInterval(timer);
      this.timers.delete(timer);
    };
    try {
      await this.script({
        agent,
        rig,
        role,
        session,
        bead,
        pod,
        client,
        report: (input) => this.through(() => client.report({ ...input, bead: input.bead ?? bead } as ReportInput)),
        exit: async (code) => {
          stopHeartbeat();
          // After Done the operator may stop the session first: a deleted pod has no status to
          // report, just as a kubelet would find nothing to update.
          await this.through(() => exitPod(this.kubelet, this.namespace, pod, code)).catch((e: unknown) => {
            if (!(e instanceof KubeApiError && e.statusCode === 404)) throw e;
          });
        },
        stopHeartbeat,
      });
    } finally {
      stopHeartbeat();
    }
  }

  async stop(): Promise<void> {
    this.informer.stop();
    for (const t of this.timers) clearInterval(t);
    await Promise.allSettled([...this.running]);
  }
}
