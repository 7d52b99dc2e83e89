// What the cluster benchmarks share: a local control plane of their own, the operator run as it is
// deployed (the image's compiled modules, the Dockerfile's node flags, the Deployment's arguments,
// as a child process whose RSS is read from /proc), watches timed on this process's clock, and
// small helpers.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { parse } from "yaml";
import { buildDist } from "../hack/dist.ts";
import { freePort } from "../hack/local-cluster/processes.ts";
import { DEFAULT_CONTROLLERS, startLocalCluster } from "../hack/local-cluster.ts";
import { isAlreadyExists, KubeApiError } from "../src/kube/errors.ts";
import { createKubeHttp, type KubeHttp, type KubeRequest } from "../src/kube/http.ts";
import { createInformer, type Informer } from "../src/kube/informer.ts";
import { createKubeListWatch } from "../src/kube/list-watch.ts";
import { httpsGet } from "../test/support/https-get.ts";

export const ROOT = join(import.meta.dirname, "..");

export interface BenchCluster {
  kubeconfigPath: string;
  admin: KubeConfig;
  http: KubeHttp;
  stop(): Promise<void>;
}

export async function benchCluster(
  opts: { jobController?: boolean; log?: (l: string) => void } = {},
): Promise<BenchCluster> {
  const controllers = opts.jobController ? [...DEFAULT_CONTROLLERS, "job-controller"] : DEFAULT_CONTROLLERS;
  const cluster = await startLocalCluster({ controllers, ...(opts.log ? { log: opts.log } : {}) });
  const admin = new KubeConfig();
  admin.loadFromFile(cluster.kubeconfigPath);
  return { kubeconfigPath: cluster.kubeconfigPath, admin, http: createKubeHttp(admin), stop: () => cluster.stop() };
}

export async function createNamespace(http: KubeHttp, name: string): Promise<void> {
  await http.json({
    method: "POST",
    path: "/api/v1/namespaces",
    body: { apiVersion: "v1", kind: "Namespace", metadata: { name } },
  });
}

/** Where the image keeps the operator (the Dockerfile's WORKDIR), and where the bench builds its copy. */
const IMAGE_ROOT = "/opt/gastown/";
const BENCH_DIST = join(ROOT, ".run", "bench", "dist");
let distBuilt = false;

/**
 * The operator's command line as shipped: node flags and script from the Dockerfile's ENTRYPOINT,
 * arguments from the Deployment. A script the image compiles (dist/, hack/dist.ts) is compiled
 * here the same way, so the bench measures the process the image runs.
 */
export function deployedCommand(
  namespace: string,
  port: number,
): { nodeArgs: string[]; script: string; args: string[]; env: Record<string, string> } {
  const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
  const entry = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile)?.[1];
  if (!entry) throw new Error("no ENTRYPOINT [...] in the Dockerfile");
  const argv = JSON.parse(entry) as string[];
  const at = argv.findIndex((a) => a.startsWith(IMAGE_ROOT));
  const shipped = argv[at];
  if (!shipped) throw new Error(`the Dockerfile's ENTRYPOINT runs no script under ${IMAGE_ROOT}`);
  const inImage = shipped.slice(IMAGE_ROOT.length);
  let script = join(ROOT, inImage);
  if (inImage.startsWith("dist/")) {
    // Once per bench process: an operator started earlier may still be loading its modules.
    if (!distBuilt) buildDist(join(ROOT, "src"), BENCH_DIST);
    distBuilt = true;
    script = join(BENCH_DIST, inImage.slice("dist/".length));
  }
  const nodeArgs = argv.slice(1, at);
  const deployment = parse(readFileSync(join(ROOT, "manifests", "base", "deployment.yaml"), "utf8")) as {
    spec: { template: { spec: { containers: { args?: string[]; env?: { name: string; value?: string }[] }[] } } };
  };
  const container = deployment.spec.template.spec.containers[0];
  const env: Record<string, string> = { POD_NAMESPACE: namespace };
  for (const e of container?.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  const args = (container?.args ?? []).map((a) =>
    a.replace("$(POD_NAMESPACE)", namespace).replace(/^--metrics-port=\d+$/, `--metrics-port=${port}`),
  );
  return { nodeArgs, script, args, env };
}

export interface OperatorChild {
  readonly pid: number;
  readonly port: number;
  readonly command: string;
  metrics(): Promise<string>;
  /** Resident set size now, and its high-water mark, in MiB (from /proc). */
  rssMiB(): number;
  peakMiB(): number;
  stop(): Promise<void>;
}

function procStatusMiB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

/** Starts the operator as deployed, watching one namespace, logging to .run/bench/<name>.log. */
export async function spawnOperator(o: {
  kubeconfigPath: string;
  namespace: string;
  name: string;
  extraArgs?: string[];
}): Promise<OperatorChild> {
  const port = await freePort();
  const deployed = deployedCommand(o.namespace, port);
  const dir = join(ROOT, ".run", "bench");
  mkdirSync(dir, { recursive: true });
  const log = openSync(join(dir, `${o.name}.log`), "w");
  const args = [
    ...deployed.nodeArgs,
    deployed.script,
    ...deployed.args,
    `--kubeconfig=${o.kubeconfigPath}`,
    `--namespace=${o.namespace}`,
    `--identity=${o.name}`,
    ...(o.extraArgs ?? []),
  ];
  const child: ChildProcess = spawn(process.execPath, args, {
    stdio: ["ignore", log, log],
    env: { ...process.env, ...deployed.env },
  });
  closeSync(log);
  const pid = child.pid as number;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  // As deployed, the operator serves HTTPS (self-signed) and /metrics only to a token allowed to
  // get it (--metrics-secure): the bench reads it as a Prometheus would, with a ServiceAccount's.
  const secure = deployed.args.includes("--metrics-secure");
  const token = secure ? await metricsReaderToken(o.kubeconfigPath, o.namespace) : undefined;
  const get = (path: string) => (secure ? httpsGet(port, path, token ? { token } : {}) : plainGet(port, path));
  const metrics = async () => {
    const res = await get("/metrics");
    if (res.status !== 200) throw new Error(`GET /metrics: ${res.status} ${res.body.slice(0, 200)}`);
    return res.body;
  };
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`the operator exited (${child.exitCode}); see .run/bench/${o.name}.log`);
    try {
      if ((await get("/readyz")).status === 200) break;
    } catch {}
    if (Date.now() > deadline) throw new Error(`the operator was not ready in 120 s; see .run/bench/${o.name}.log`);
    await delay(100);
  }
  return {
    pid,
    port,
    command: `node ${args.map((a) => a.replace(ROOT, ".")).join(" ")}`,
    metrics,
    rssMiB: () => procStatusMiB(pid, "VmRSS"),
    peakMiB: () => procStatusMiB(pid, "VmHWM"),
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function plainGet(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

/** A token of a ServiceAccount bound to `get /metrics` (what a Prometheus scraping the operator holds). */
async function metricsReaderToken(kubeconfigPath: string, namespace: string): Promise<string> {
  const admin = new KubeConfig();
  admin.loadFromFile(kubeconfigPath);
  const http = createKubeHttp(admin);
  const name = "gastown-bench-metrics";
  const create = async (path: string, body: object) => {
    try {
      await http.json({ method: "POST", path, body });
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
    }
  };
  await create(`/api/v1/namespaces/${namespace}/serviceaccounts`, {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name },
  });
  await create("/apis/rbac.authorization.k8s.io/v1/clusterroles", {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name },
    rules: [{ nonResourceURLs: ["/metrics"], verbs: ["get"] }],
  });
  await create("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: `${name}-${namespace}` },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
    subjects: [{ kind: "ServiceAccount", name, namespace }],
  });
  const res = await http.json<{ status: { token: string } }>({
    method: "POST",
    path: `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
    body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { expirationSeconds: 7200 } },
  });
  return res.status.token;
}

export function watch(
  http: KubeHttp,
  r: { group: string; version: string; plural: string; namespace: string; labelSelector?: string },
): Informer {
  return createInformer({ name: `bench-${r.plural}`, listWatch: createKubeListWatch(http, r) });
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Thrown from an until() check to stop waiting at once (the awaited state cannot come). */
export class Fatal extends Error {}

export async function until<T>(
  description: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 20,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    // A check that fails (a request timing out on a loaded machine) is "not yet", not the end.
    const v = await Promise.resolve()
      .then(check)
      .catch((e: unknown) => {
        if (e instanceof Fatal) throw e;
        return undefined;
      });
    if (v !== undefined) return v;
    if (performance.now() > deadline)
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${description}`);
    await delay(intervalMs);
  }
}

/** Runs fn over items with at most `concurrency` in flight. */
export async function inParallel<T>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, i: number) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) await fn(items[i] as T, i);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/**
 * The bench's own writes, on a machine that may be very busy: a request that timed out or met a
 * 5xx is sent again (a create that had gone through answers AlreadyExists, which is success).
 */
export async function persist(http: KubeHttp, request: KubeRequest, attempts = 5): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await http.json({ timeoutMs: 60_000, ...request });
      return;
    } catch (e) {
      if (isAlreadyExists(e) && i > 1) return;
      const retryable = !(e instanceof KubeApiError) || e.statusCode >= 500 || e.statusCode === 429;
      if (!retryable || i >= attempts) throw e;
      await delay(500 * i);
    }
  }
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Sums a Prometheus counter/histogram series over label sets carrying every given label. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).some(([k, v]) => !line.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

export const f1 = (n: number) => n.toFixed(1);
export const f2 = (n: number) => n.toFixed(2);
