// For clusters the launcher did not start (a user's KUBECONFIG, `make cluster` reused by tests):
// kubectl understands every kubeconfig auth method (exec plugins, client certificates, OIDC),
// which the launcher's minimal client does not need to.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { readCrds } from "./objects.ts";

export const KUBECTL = join(import.meta.dirname, "..", "bin", "kubectl");
const CRD_DIR = join(import.meta.dirname, "..", "..", "crds");

/** hack/bin/kubectl; without a kubeconfig path it follows $KUBECONFIG like any kubectl. */
export function kubectl(
  kubeconfigPath: string | undefined,
  args: string[],
  opts: { input?: string; timeoutMs?: number } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      KUBECTL,
      kubeconfigPath ? [`--kubeconfig=${kubeconfigPath}`, ...args] : args,
      { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`kubectl ${args.join(" ")}: ${stderr.trim() || err.message}`));
        else resolve(stdout);
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Whether the cluster of this kubeconfig answers /readyz within a few seconds. */
export async function reachable(kubeconfigPath: string | undefined): Promise<boolean> {
  try {
    await kubectl(kubeconfigPath, ["get", "--raw=/readyz", "--request-timeout=5s"], { timeoutMs: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/** Server-side applies every CRD in crdDir and waits until all are Established. */
export async function applyCrds(kubeconfigPath: string | undefined, crdDir = CRD_DIR): Promise<string[]> {
  const crds = readCrds(crdDir);
  const names = crds.map((c) => c.metadata.name);
  // Through stdin, not `-f crdDir`: the directory also holds a kustomization.yaml.
  await kubectl(
    kubeconfigPath,
    ["apply", "--server-side", "--force-conflicts", "--field-manager=gastown-dev", "-f", "-"],
    { input: JSON.stringify({ apiVersion: "v1", kind: "List", items: crds }) },
  );
  await kubectl(kubeconfigPath, [
    "wait",
    "--for=condition=Established",
    "--timeout=60s",
    ...names.map((n) => `customresourcedefinition/${n}`),
  ]);
  return names;
}
