// Gas Town helpers for integration tests: towns with short timeouts, an operator in this process
// or as a child process, and pod exits faked the way a kubelet would report them.
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { KubeConfig } from "@kubernetes/client-node";
import type { Bead } from "../../src/api/bead.ts";
import { API_VERSION } from "../../src/api/meta.ts";
import { createLogger, silentLogger } from "../../src/controller/logger.ts";
import { type Operator, type OperatorOptions, startOperator } from "../../src/controller/operator.ts";
import { apiPath, BEADS } from "../../src/controller/resources.ts";
import { KubeApiError } from "../../src/kube/errors.ts";
import { createKubeHttp, type KubeHttp } from "../../src/kube/http.ts";
import { createPodRuntime } from "../../src/runtime/pod-runtime.ts";
import { agentKubeConfigOf } from "./agents.ts";
import { kubeconfigPath, waitFor } from "./kube.ts";

// A port picked here and bound later by another process can be taken in between; prefer a child
// that binds port 0 and says which port it got (see spawnOperator).
export { freePort } from "../../hack/local-cluster/processes.ts";
export { exitPod } from "./agents.ts";
export { convoyManifest, counterTotal, FAST_TIMEOUTS, nonZeroSeries, townManifest } from "./manifests.ts";

const ROOT = join(import.meta.dirname, "..", "..");

/** Admin access to the run's cluster, or to the cluster of another kubeconfig (a test's own). */
export function adminHttp(path = kubeconfigPath()): KubeHttp {
  return createKubeHttp(kubeConfigFromFile(path));
}

/** The apiserver's refusal of a KubeHttp call; fails when the call is allowed or fails otherwise. */
export async function refused(call: Promise<unknown>): Promise<KubeApiError> {
  try {
    await call;
  } catch (e) {
    if (e instanceof KubeApiError) return e;
    throw e;
  }
  throw new Error("expected the apiserver to refuse, but the call was allowed");
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
  opts: {
    forgeAllowedHosts?: string[];
    identity?: string;
    leaderElection?: boolean;
    /** Leader Lease name, and the shard's name when townSelector is set. */
    leaderElectionName?: string;
    townSelector?: string;
    onRequest?: OperatorOptions["onRequest"];
  } = {},
): Promise<Operator> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath());
  const logger = testLogger(namespace);
  const operator = await startOperator({
    kubeConfig: kc,
    namespace,
    runtime: (http) => createPodRuntime({ http, namespace, logger }),
    identity: opts.identity ?? `test-${namespace}`,
    ...(opts.leaderElection
      ? { leaderElection: { namespace, ...(opts.leaderElectionName ? { name: opts.leaderElectionName } : {}) } }
      : {}),
    ...(opts.townSelector ? { townSelector: opts.townSelector } : {}),
    ...(opts.onRequest ? { onRequest: opts.onRequest } : {}),
    logger,
    ...(opts.forgeAllowedHosts ? { forgeAllowedHosts: opts.forgeAllowedHosts } : {}),
    port: 0,
  });
  await operator.waitUntilLeading();
  return operator;
}

/** One line of the operator's JSON log (pino): `msg` plus the fields logged with it. */
export interface LogEntry {
  msg: string;
  level: string | number;
  [field: string]: unknown;
}

export interface OperatorProcess {
  child: ChildProcess;
  identity: string;
  /**
   * Resolves once the operator serves /metrics, /healthz and /readyz, with the port it bound: its
   * "operator started" line is logged only after the listen succeeded. Rejects if it exits first.
   */
  ready: Promise<{ port: number }>;
  /**
   * Resolves with the first log entry `match` accepts, lines logged before the call included;
   * rejects when the process exits first, with the tail of its stderr.
   */
  logged(match: (entry: LogEntry) => boolean, description: string): Promise<LogEntry>;
  /** Every log entry so far, for a failed test to show what the operator said. */
  log(): readonly LogEntry[];
  kill(signal: NodeJS.Signals): Promise<void>;
}

/**
 * The operator as a child process (node src/main.ts), for crash and leader-election tests. It
 * binds a port of its own choosing (--metrics-port=0, never a port picked here and bound later)
 * and says which one in its log, so a test reads the port only once the operator listens on it.
 */
export function spawnOperator(
  namespace: string,
  identity: string,
  extra: string[] = [],
  opts: { kubeconfig?: string } = {},
): OperatorProcess {
  const child = spawn(
    process.execPath,
    [
      join(ROOT, "src", "main.ts"),
      `--kubeconfig=${opts.kubeconfig ?? kubeconfigPath()}`,
      `--namespace=${namespace}`,
      "--runtime=pod",
      "--metrics-port=0",
      `--identity=${identity}`,
      ...(process.env.GASTOWN_TEST_LOGS ? ["--log-level=debug"] : []),
      ...extra,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const entries: LogEntry[] = [];
  const waiters = new Set<() => void>();
  let stderrTail: string[] = [];
  let exit: string | undefined;
  createInterface({ input: child.stdout! }).on("line", (line) => {
    if (process.env.GASTOWN_TEST_LOGS) process.stdout.write(`${line}\n`);
    try {
      entries.push(JSON.parse(line) as LogEntry);
    } catch {
      return; // not a log entry (e.g. a stray write): nothing to match
    }
    for (const wake of [...waiters]) wake();
  });
  createInterface({ input: child.stderr! }).on("line", (line) => {
    process.stderr.write(`[${identity}] ${line}\n`);
    stderrTail = [...stderrTail.slice(-19), line];
  });
  const exited = new Promise<void>((resolve) =>
    // "close", not "exit": the log lines written just before the end have been read by then.
    child.once("close", (code, signal) => {
      exit = signal ?? `code ${code}`;
      for (const wake of [...waiters]) wake();
      resolve();
    }),
  );
  const logged = (match: (entry: LogEntry) => boolean, description: string) =>
    new Promise<LogEntry>((resolve, reject) => {
      const wake = () => {
        const found = entries.find(match);
        if (found === undefined && exit === undefined) return;
        waiters.delete(wake);
        if (found !== undefined) resolve(found);
        else
          reject(
            new Error(`operator ${identity} exited (${exit}) before ${description}; stderr:\n${stderrTail.join("\n")}`),
          );
      };
      waiters.add(wake);
      wake();
    });
  const ready = logged((e) => e.msg === "operator started" && typeof e.port === "number", "serving /metrics").then(
    (e) => ({ port: e.port as number }),
  );
  // A test that kills the operator before it is ready does not ask; that rejection is not news.
  ready.catch(() => {});
  return {
    child,
    identity,
    ready,
    logged,
    log: () => entries,
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

export function kubeConfigFromFile(path = kubeconfigPath()): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}
