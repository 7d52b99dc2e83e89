// vitest globalSetup of the e2e-kind project: one kind cluster for every file (files run one at a
// time), with the operator deployed as its Deployment. Tests reach it with inject("kubeconfigPath")
// (test/support/kube.ts) and inject("kind") for the names of images and the cluster.
//
// KEEP_CLUSTER=1 keeps the cluster for a look (start the engine first with `node hack/docker.ts
// up`, or it stops with this run); KIND_NODE_IMAGE uses that node image instead of building one.
import type { TestProject } from "vitest/node";
import { startKindEnvironment } from "./support/cluster.ts";

export interface KindContext {
  cluster: string;
  operatorImage: string;
  agentImage: string;
  kind: string;
  dockerEnv: Record<string, string>;
  /** The host's address on the kind node's network, for host services pods must reach. */
  hostAddress: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    kind: KindContext;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = performance.now();
  const step = (line: string) => process.stderr.write(`[e2e-kind] ${line}\n`);
  const env = await startKindEnvironment(step);
  step(`ready in ${((performance.now() - started) / 1000).toFixed(0)}s: KUBECONFIG=${env.kubeconfigPath}`);
  project.provide("kubeconfigPath", env.kubeconfigPath);
  project.provide("kind", {
    cluster: env.cluster,
    operatorImage: env.operatorImage,
    agentImage: env.agentImage,
    kind: env.kind,
    dockerEnv: env.dockerEnv,
    hostAddress: env.hostAddress,
  });
  return async () => {
    if (process.env.KEEP_CLUSTER) {
      step(`kept kind cluster ${env.cluster}: export KUBECONFIG=${env.kubeconfigPath}`);
      return;
    }
    const t0 = performance.now();
    await env.stop();
    step(`torn down in ${((performance.now() - t0) / 1000).toFixed(0)}s; nothing left behind`);
  };
}
