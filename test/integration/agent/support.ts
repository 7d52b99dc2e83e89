// Acting as an agent against the test cluster: an Agent with its identity (ServiceAccount, Role,
// Lease), a kubeconfig file holding the agent's own token, and `gt` run as a real process.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { API_VERSION } from "../../../src/api/meta.ts";
import type { KubeHttp } from "../../../src/kube/http.ts";
import { ensureAgentIdentity } from "../../../src/runtime/agent-identity.ts";
import { agentKubeConfig } from "../../support/gastown.ts";

export const GT_MAIN = join(import.meta.dirname, "..", "..", "..", "src", "agent", "main.ts");

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** Creates the Agent object (its uid owns everything the identity makes). */
export async function createAgent(
  http: KubeHttp,
  namespace: string,
  name: string,
  spec: { town?: string; role?: "Polecat" | "Refinery"; rig?: string } = {},
): Promise<string> {
  const agent = await http.json<{ metadata: { uid: string } }>({
    method: "POST",
    path: `/apis/gastown.dev/v1alpha1/namespaces/${namespace}/agents`,
    body: {
      apiVersion: API_VERSION,
      kind: "Agent",
      metadata: { name },
      spec: { town: spec.town ?? "gt", role: spec.role ?? "Polecat", rig: spec.rig ?? "app" },
    },
  });
  return agent.metadata.uid;
}

/** An Agent with its identity, and a kubeconfig file (mode 0600) that authenticates as it. */
export async function actAsAgent(http: KubeHttp, namespace: string, name: string, beads: string[]) {
  const uid = await createAgent(http, namespace, name);
  await ensureAgentIdentity(http, { namespace, town: "gt", name, uid }, beads, 90);
  const kc = await agentKubeConfig(http, namespace, name);
  const path = join(tempDir("gt-agent-kubeconfig-"), "kubeconfig");
  writeFileSync(path, kc.exportConfig(), { mode: 0o600 });
  return { uid, kubeconfig: path, kubeConfig: kc };
}

export interface GtResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node src/agent/main.ts <args>` with exactly `env` (plus PATH). */
export function runGt(args: string[], env: Record<string, string>): Promise<GtResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [GT_MAIN, ...args], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on("data", (c: Buffer) => {
      stderr += c.toString();
    });
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}
