// Acting as a ServiceAccount from a test: a kubeconfig with a TokenRequest token (what the kubelet
// mounts into a pod), and HTTPS requests to an operator serving a self-signed certificate.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { requestAgentToken } from "../../src/runtime/agent-identity.ts";
import { adminHttp } from "./gastown.ts";
import { kubeConfig } from "./kube.ts";

export { httpsGet } from "./https-get.ts";

/** A kubeconfig for this run's cluster as namespace/sa, written to dir/kubeconfig; returns its path too. */
export async function serviceAccountKubeconfig(
  namespace: string,
  sa: string,
  dir: string,
): Promise<{ kc: KubeConfig; path: string; token: string }> {
  const token = await requestAgentToken(adminHttp(), namespace, sa, 3600);
  const cluster = kubeConfig().getCurrentCluster();
  if (!cluster) throw new Error("the test kubeconfig has no current cluster");
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [cluster],
    users: [{ name: sa, token }],
    contexts: [{ name: sa, cluster: cluster.name, user: sa }],
    currentContext: sa,
  });
  const path = join(dir, "kubeconfig");
  writeFileSync(path, kc.exportConfig(), { mode: 0o600 });
  return { kc, path, token };
}
