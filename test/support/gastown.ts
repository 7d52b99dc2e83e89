// Gas Town helpers for integration tests: towns with short timeouts, an operator in this process
// or as a child process, and pod exits faked the way a kubelet would report them.
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import type { Bead } from "../../src/api/bead.ts";
import { API_VERSION } from "../../src/api/meta.ts";
import { createKubeHttp, type KubeHttp } from "../../src/controller/kube-http.ts";
import { createLogger, silentLogger } from "../../src/controller/logger.ts";
import { type Operator, startOperator } from "../../src/controller/operator.ts";
import { apiPath, BEADS } from "../../src/controller/resources.ts";
import { createPodRuntime } from "../../src/runtime/pod-runtime.ts";
import { agentKubeConfigOf, FAST_TIMEOUTS } from "./agents.ts";
import { kubeconfigPath, waitFor } from "./kube.ts";

export { exitPod, FAST_TIMEOUTS } from "./agents.ts";

const ROOT = join(import.meta.dirname, "..", "..");

export function townManifest(
  name: string,
  opts: {
    rigs?: Record<string, unknown>[];
    timeouts?: Record<string, unknown>;
    limits?: Record<string, unknown>;
    suspend?: boolean;
  } = {},
) {
  return {
    apiVersion: API_VERSION,
    kind: "Town",
    metadata: { name },
    spec: {
      rigs: opts.rigs ?? [{ name: "app", repo: "https://git.example.com/app.git", gates: ["true"] }],
      agents: { image: "ghcr.io/gastown-operator/agent:test" },
      limits: { maxPolecatsPerRig: 2, ...(opts.limits ?? {}) },
      timeouts: { ...FAST_TIMEOUTS, ...(opts.timeouts ?? {}) },
      ...(opts.suspend ? { suspend: true } : {}),
    },
  };
}

export function convoyManifest(
  name: string,
  town: string,
  tasks: { name: string; dependsOn?: string[]; rig?: string; priority?: number }[],
  opts: { mergeMode?: "ReviewThenLand" | "ReviewAndMerge"; staged?: boolean } = {},
) {
  return {
    apiVersion: API_VERSION,
    kind: "Convoy",
    metadata: { name },
    spec: {
      town,
      title: `convoy ${name}`,
      mergeMode: opts.mergeMode ?? "ReviewThenLand",
      ...(opts.staged ? { staged: true } : {}),
      tasks: tasks.map((t) => ({
        name: t.name,
        title: `task ${t.name}`,
        rig: t.rig ?? "app",
        priority: t.priority ?? 2,
        dependsOn: t.dependsOn ?? [],
      })),
    },
  };
}

export function adminHttp(): KubeHttp {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath());
  return createKubeHttp(kc);
}

export async function create(
  http: KubeHttp,
  namespace: string,
  obj: { apiVersion?: string; kind: string; metadata: { name: string }; [field: string]: unknown },
): Promise<void> {
  const plural = `${obj.kind.toLowerCase()}s`;
  await http.json({ method: "POST", path: `/apis/gastown.dev/v1alpha1/namespaces/${namespace}/${plural}`, body: obj });
}

/** Logs go to test-logs/<name>.log when GASTOWN_TEST_LOGS is set; otherwise nowhere. */
function testLogger(name: string) {
  if (!process.env.GASTOWN_TEST_LOGS) return silentLogger();
  return createLogger({
    level: "debug",
    destination: createWriteStream(join(ROOT, ".cache", `${name}.log`), { flags: "a" }),
  });
}

/** The operator, in this process, with the pod runtime, watching one namespace. */
export async function startTestOperator(
  namespace: string,
  opts: { forgeAllowedHosts?: string[]; identity?: string; leaderElection?: boolean } = {},
): Promise<Operator> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath());
  const logger = testLogger(namespace);
  const operator = await startOperator({
    kubeConfig: kc,
    namespace,
    runtime: (http) => createPodRuntime({ http, namespace, logger }),
    identity: opts.identity ?? `test-${namespace}`,
    ...(opts.leaderElection ? { leaderElection: { namespace } } : {}),
    logger,
    ...(opts.forgeAllowedHosts ? { forgeAllowedHosts: opts.forgeAllowedHosts } : {}),
    port: 0,
  });
  await operator.waitUntilLeading();
  return operator;
}

export interface OperatorProcess {
  child: ChildProcess;
  identity: string;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** The operator as a child process (node src/main.ts), for crash and leader-election tests. */
export function spawnOperator(namespace: string, identity: string, extra: string[] = []): OperatorProcess {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, "src", "main.ts"),
      `--kubeconfig=${kubeconfigPath()}`,
      `--namespace=${namespace}`,
      "--runtime=pod",
      "--metrics-port=0",
      `--identity=${identity}`,
      ...(process.env.GASTOWN_TEST_LOGS ? ["--log-level=debug"] : []),
      ...extra,
    ],
    { stdio: ["ignore", process.env.GASTOWN_TEST_LOGS ? "inherit" : "ignore", "inherit"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    child,
    identity,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** A KubeConfig that authenticates as the agent's own ServiceAccount (a TokenRequest token). */
export function agentKubeConfig(http: KubeHttp, namespace: string, agent: string): Promise<KubeConfig> {
  return agentKubeConfigOf(kubeConfigFromFile(), http, namespace, agent);
}

export async function getBead(http: KubeHttp, namespace: string, name: string): Promise<Bead> {
  return http.json<Bead>({ method: "GET", path: apiPath(BEADS, namespace, name) });
}

export async function waitForBead(
  namespace: string,
  name: string,
  check: (b: Bead | undefined) => boolean,
  description: string,
  timeoutMs = 60_000,
): Promise<Bead | undefined> {
  const found = await waitFor(
    kubeConfigFromFile(),
    { apiVersion: API_VERSION, kind: "Bead", namespace, name },
    (b) => check(b as unknown as Bead | undefined),
    { description: `bead ${name} ${description}`, timeoutMs },
  );
  return found as unknown as Bead | undefined;
}

export function kubeConfigFromFile(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath());
  return kc;
}

/** A free TCP port on loopback (for an operator's metrics endpoint). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Sums a counter (all label sets) from a Prometheus text exposition. */
export function counterTotal(metrics: string, name: string): number {
  let total = 0;
  for (const line of metrics.split("\n")) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `))
      total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}
