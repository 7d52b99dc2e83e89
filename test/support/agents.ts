// Acting as agents and as the kubelet, without vitest: test support shared with the benchmarks
// (test/support/kube.ts registers vitest hooks when it loads, so modules here must not import it).
import { KubeConfig } from "@kubernetes/client-node";
import type { KubeHttp } from "../../src/kube/http.ts";
import { requestAgentToken } from "../../src/runtime/agent-identity.ts";

/** A KubeConfig for `admin`'s cluster that authenticates as the agent's own ServiceAccount. */
export async function agentKubeConfigOf(
  admin: KubeConfig,
  http: KubeHttp,
  namespace: string,
  agent: string,
  into: KubeConfig = new KubeConfig(),
): Promise<KubeConfig> {
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error("the admin kubeconfig has no current cluster");
  const token = await requestAgentToken(http, namespace, agent, 3600);
  into.loadFromOptions({
    clusters: [cluster],
    users: [{ name: agent, token }],
    contexts: [{ name: agent, cluster: cluster.name, user: agent, namespace }],
    currentContext: agent,
  });
  return into;
}

/** What a kubelet reports when the session's container exits. */
export async function exitPod(
  http: KubeHttp,
  namespace: string,
  pod: string,
  exitCode: number,
  reason?: string,
): Promise<void> {
  const now = new Date().toISOString();
  await http.json({
    method: "PATCH",
    path: `/api/v1/namespaces/${namespace}/pods/${pod}/status`,
    contentType: "application/merge-patch+json",
    body: {
      status: {
        phase: exitCode === 0 ? "Succeeded" : "Failed",
        ...(reason === "Evicted" ? { reason } : {}),
        containerStatuses: [
          {
            name: "agent",
            ready: false,
            restartCount: 0,
            image: "ghcr.io/gastown-operator/agent:test",
            imageID: "",
            state: {
              terminated: {
                exitCode,
                reason: reason ?? (exitCode === 0 ? "Completed" : "Error"),
                finishedAt: now,
                startedAt: now,
              },
            },
          },
        ],
      },
    },
  });
}
