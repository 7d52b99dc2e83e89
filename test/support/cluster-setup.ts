// vitest globalSetup of the integration and e2e projects: one local control plane per test run,
// shared by every file (files run one at a time; see vitest.config.ts). Tests get its kubeconfig
// with inject("kubeconfigPath"), or through kubeConfig() in ./kube.ts.
//
// GASTOWN_TEST_KUBECONFIG=<path> runs the tests against an existing cluster instead (e.g. the one
// `make cluster` prints), which skips the startup; the CRDs in crds/ are applied to it first.
import { resolve } from "node:path";
import type { TestProject } from "vitest/node";
import { applyCrds, reachable, startLocalCluster } from "../../hack/local-cluster.ts";

declare module "vitest" {
  export interface ProvidedContext {
    kubeconfigPath: string;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const external = process.env.GASTOWN_TEST_KUBECONFIG;
  if (external) {
    const path = resolve(external);
    if (!(await reachable(path))) throw new Error(`GASTOWN_TEST_KUBECONFIG=${external}: the cluster does not answer`);
    await applyCrds(path);
    project.provide("kubeconfigPath", path);
    return undefined;
  }
  const started = performance.now();
  const lines: string[] = [];
  const cluster = await startLocalCluster({ log: (line) => lines.push(line) });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  process.stderr.write(`[${project.name}] local cluster ready in ${seconds}s: KUBECONFIG=${cluster.kubeconfigPath}\n`);
  if (process.env.GASTOWN_TEST_VERBOSE) process.stderr.write(`${lines.join("\n")}\n`);
  project.provide("kubeconfigPath", cluster.kubeconfigPath);
  return () => cluster.stop();
}
