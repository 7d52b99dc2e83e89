// The local control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok
// from hack/bin, on 127.0.0.1 with free ports and a private data dir. Used by the integration and
// e2e tests (one per run), `make run`, `make cluster` and the benchmarks.
//
// Security is real, not switched off, so that the operator's RBAC and the agents' service-account
// credentials are exercised as on a cluster: admin access is a static token in group
// system:masters, authorization is Node,RBAC, admission runs its defaults (ValidatingAdmissionPolicy
// included), service-account tokens are signed with a key generated here, and the apiserver's
// self-generated serving certificate is the kubeconfig's CA, so clients verify TLS.
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ApiClient, renderKubeconfig, until } from "./local-cluster/api.ts";
import { createNodes, installCrds, waitDefaultServiceAccount, waitNodesReady } from "./local-cluster/objects.ts";
import { freePorts, type ManagedProcess, startProcess } from "./local-cluster/processes.ts";

export interface LocalCluster {
  /** Admin kubeconfig file written by the launcher. */
  kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  server: string;
  dataDir: string;
  /** Idempotent; stops every process it started, removes the data dir unless keepData. */
  stop(): Promise<void>;
  /**
   * Stops one component and leaves it down, for chaos tests: SIGTERM (a graceful shutdown, then
   * SIGKILL after stopTimeoutMs), or with `crash`, SIGKILL at once. Its ports and data stay.
   */
  stopComponent(name: Component, opts?: { crash?: boolean }): Promise<void>;
  /**
   * Starts a stopped component again with the same flags, ports and data (etcd's data dir, the
   * apiserver's serving certificate, so kubeconfigs stay valid), and resolves once it serves:
   * etcd answers /health (and the apiserver, if running, /readyz), the apiserver /readyz.
   */
  startComponent(name: Component): Promise<void>;
}

export type Component = "etcd" | "kube-apiserver" | "kube-controller-manager" | "kube-scheduler" | "kwok";

export interface LocalClusterOptions {
  /** Where etcd data, certificates, keys, logs and the kubeconfig go; default a new temp dir. */
  dataDir?: string;
  /** Keep dataDir after stop(). Without it, stop() deletes dataDir, even a caller-given one. */
  keepData?: boolean;
  /** Fake kwok nodes; default 2. */
  nodes?: number;
  /** Install every CRD in crdDir and wait until Established; default true. */
  installCrds?: boolean;
  crdDir?: string;
  /** kube-controller-manager --controllers; default DEFAULT_CONTROLLERS. */
  controllers?: string[];
  /** Startup budget before giving up; default 90 s (first start on a busy 2-core box is slow). */
  startTimeoutMs?: number;
  /** How long stop() waits after SIGTERM before SIGKILL, per component; default 5 s. */
  stopTimeoutMs?: number;
  log?: (line: string) => void;
}

const ROOT = join(import.meta.dirname, "..");
const BIN = join(ROOT, "hack", "bin");
const KWOK_STAGES = join(import.meta.dirname, "local-cluster", "kwok-stages.yaml");
const KWOK_FAILURE_STAGES = join(import.meta.dirname, "local-cluster", "kwok-failure-stages.yaml");

/**
 * What the operator relies on and nothing more (two cores): ownerReference cascades, namespace
 * deletion, per-namespace default ServiceAccounts, legacy SA tokens, the kube-root-ca.crt
 * ConfigMap pods mount, the aggregated admin/edit/view ClusterRoles, cleanup of pods left on
 * deleted nodes, ValidatingAdmissionPolicy type-checking status, ResourceQuota usage, and binding
 * and releasing PersistentVolumeClaims (agents' home claims). Deliberately absent:
 * node-lifecycle (see objects.ts), workload controllers, endpoints.
 */
export const DEFAULT_CONTROLLERS = [
  "garbage-collector-controller",
  "namespace-controller",
  "serviceaccount-controller",
  "serviceaccount-token-controller",
  "root-ca-certificate-publisher-controller",
  "clusterrole-aggregation-controller",
  "pod-garbage-collector-controller",
  "validatingadmissionpolicy-status-controller",
  // Quota admission refuses pods against a ResourceQuota's computed usage: without the controller
  // that computes it, a quota never refuses anything (the session-failure tests need one to).
  "resourcequota-controller",
  // Agents' home claims (Town.spec.agents.home): the binder binds a claim to a PV the test made
  // (there is no provisioner), and claim protection lets a claim the garbage collector deletes go
  // once no pod uses it.
  "persistentvolume-binder-controller",
  "persistentvolumeclaim-protection-controller",
];

const BINARIES = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"];

export async function startLocalCluster(opts: LocalClusterOptions = {}): Promise<LocalCluster> {
  const missing = BINARIES.filter((b) => !existsSync(join(BIN, b)));
  if (missing.length > 0) throw new Error(`${missing.join(", ")} missing in ${BIN}: run make controlplane`);
  const t0 = performance.now();
  const log = opts.log ?? (() => {});
  const step = (msg: string) => log(`[${((performance.now() - t0) / 1000).toFixed(2)}s] ${msg}`);
  const startTimeoutMs = opts.startTimeoutMs ?? 90_000;
  const stopTimeoutMs = opts.stopTimeoutMs ?? 5_000;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), "gastown-cluster-"));
  const paths = {
    etcd: join(dataDir, "etcd"),
    pki: join(dataDir, "pki"),
    logs: join(dataDir, "logs"),
    home: join(dataDir, "home"),
    servingCert: join(dataDir, "pki", "apiserver.crt"),
    saKey: join(dataDir, "pki", "sa.key"),
    saPub: join(dataDir, "pki", "sa.pub"),
    tokens: join(dataDir, "pki", "tokens.csv"),
    kubeconfig: join(dataDir, "kubeconfig"),
  };
  for (const dir of [paths.pki, paths.logs, paths.home]) mkdirSync(dir, { recursive: true });

  const processes: ManagedProcess[] = [];
  /** How each component was started, so that it can be started again the same way. */
  const specs = new Map<Component, { command: string; args: string[]; env: NodeJS.ProcessEnv }>();
  /** Components stopped on purpose (stopComponent): their exit is neither news nor a startup failure. */
  const down = new Set<string>();
  let api: ApiClient | undefined;
  let stopped: Promise<void> | undefined;
  let onExit: (() => void) | undefined;
  let keepLogs = false;
  const stop = () => {
    stopped ??= (async () => {
      if (onExit) process.off("exit", onExit);
      api?.close();
      // Clients first, storage last: an apiserver whose etcd is gone hangs in shutdown for ~30 s.
      const order = [["kwok", "kube-scheduler", "kube-controller-manager"], ["kube-apiserver"], ["etcd"]];
      for (const names of order) {
        await Promise.all(processes.filter((p) => names.includes(p.name)).map((p) => p.stop(stopTimeoutMs)));
      }
      if (opts.keepData) return;
      const doomed = keepLogs ? [paths.etcd, paths.pki, paths.home, paths.kubeconfig] : [dataDir];
      for (const path of doomed) rmSync(path, { recursive: true, force: true });
    })();
    return stopped;
  };
  // process.exit() skips every async path; kill synchronously what would otherwise wait for the
  // lifelines to notice, and do not leave a temp dir behind.
  onExit = () => {
    for (const p of processes) {
      try {
        if (p.running) process.kill(-p.pid, opts.keepData ? "SIGTERM" : "SIGKILL");
      } catch {}
    }
    if (!opts.keepData) rmSync(dataDir, { recursive: true, force: true });
  };
  process.on("exit", onExit);

  const died = (): Error | undefined => {
    const dead = processes.find((p) => !p.running && !down.has(p.name));
    return dead && new Error(`${dead.name} exited during startup; last lines of ${dead.logPath}:\n${dead.tail()}`);
  };
  const run = (name: Component, command: string, args: string[], env: NodeJS.ProcessEnv = process.env) => {
    specs.set(name, { command, args, env });
    const p = startProcess({
      name,
      command: join(BIN, command),
      args,
      env,
      logPath: join(paths.logs, `${name}.log`),
      // Only matters when we die without stop(): then etcd and the apiserver get SIGTERM together
      // and each waits for the other, so do not wait long; the data is thrown away anyway.
      graceMs: Math.min(stopTimeoutMs, 3000),
      // etcd stops last, so its lifeline removes the data if we die without stop().
      cleanupDir: name === "etcd" && !opts.keepData ? dataDir : undefined,
    });
    processes.push(p);
    void p.exited.then((exit) => {
      if (!stopped && !down.has(name))
        log(`${name} exited unexpectedly (${exit.signal ?? exit.code}); see ${p.logPath}`);
    });
    return p;
  };
  /** Runs a startup wait; on failure, the error carries the tail of the component it was about. */
  const explain = async <T>(component: ManagedProcess | undefined, wait: Promise<T>): Promise<T> => {
    try {
      return await wait;
    } catch (err) {
      const message = (err as Error).message;
      if (!component || message.includes(component.logPath)) throw err;
      throw new Error(`${message}\nlast lines of ${component.logPath}:\n${component.tail()}`);
    }
  };
  const wait = { timeoutMs: startTimeoutMs, abort: died };

  try {
    const [etcdPort, etcdPeerPort, apiPort] = (await freePorts(3)) as [number, number, number];
    const server = `https://127.0.0.1:${apiPort}`;
    const token = writeCredentials(paths);
    step(`data dir ${dataDir}`);

    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const etcdPeerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    run("etcd", "etcd", [
      `--data-dir=${paths.etcd}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=${etcdPeerUrl}`,
      `--initial-advertise-peer-urls=${etcdPeerUrl}`,
      `--initial-cluster=default=${etcdPeerUrl}`,
      // Throwaway data: durability buys nothing here and fsync dominates write latency.
      "--unsafe-no-fsync",
      "--log-level=warn",
    ]);
    // Started together with etcd: the apiserver retries its storage connection while it
    // generates its certificate and builds its handlers, which is most of its startup.
    const apiserver = run("kube-apiserver", "kube-apiserver", [
      `--etcd-servers=${etcdUrl}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${apiPort}`,
      `--cert-dir=${paths.pki}`,
      `--token-auth-file=${paths.tokens}`,
      "--authorization-mode=Node,RBAC",
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${paths.saPub}`,
      `--service-account-signing-key-file=${paths.saKey}`,
      "--service-cluster-ip-range=10.96.0.0/16",
      "--profiling=false",
    ]);
    step("etcd and kube-apiserver started");

    // The self-signed serving certificate (plus its CA) lands in --cert-dir before the apiserver
    // serves; it is the CA the kubeconfig carries.
    const caPem = await explain(
      apiserver,
      until(`the apiserver's serving certificate ${paths.servingCert}`, async () => readIfExists(paths.servingCert), {
        ...wait,
        intervalMs: 20,
      }),
    );
    writeFileSync(paths.kubeconfig, renderKubeconfig({ name: "gastown-local", server, caPem, token }), { mode: 0o600 });
    api = new ApiClient(apiPort, caPem, token);
    const client = api;
    const apiserverReady = (who: ManagedProcess) =>
      explain(
        who,
        until(
          `${server}/readyz`,
          async () => ((await client.request("GET", "/readyz")).status === 200 ? true : undefined),
          wait,
        ),
      );

    const common = [`--kubeconfig=${paths.kubeconfig}`, "--leader-elect=false", "--secure-port=0"];
    run("kube-scheduler", "kube-scheduler", common);
    // Standalone kwok v0.8.0 has no default stages (only kwokctl injects them) and refuses to start
    // without any, so it gets node and pod stages from kwok-stages.yaml (see that file). It manages
    // only the Nodes we label type=kwok; objects.ts creates them.
    const kwok = run(
      "kwok",
      "kwok",
      [
        `--kubeconfig=${paths.kubeconfig}`,
        `--config=${KWOK_STAGES}`,
        `--config=${KWOK_FAILURE_STAGES}`,
        "--manage-nodes-with-label-selector=type=kwok",
        "--cidr=10.244.0.0/16",
      ],
      // kwok also loads ~/.kwok/kwok.yaml when it exists; a private HOME keeps it out.
      { ...process.env, HOME: paths.home },
    );
    const startControllerManager = () =>
      run("kube-controller-manager", "kube-controller-manager", [
        ...common,
        `--controllers=${(opts.controllers ?? DEFAULT_CONTROLLERS).join(",")}`,
        `--service-account-private-key-file=${paths.saKey}`,
        `--root-ca-file=${paths.servingCert}`,
      ]);

    await apiserverReady(apiserver);
    step("kube-apiserver ready");

    const nodesReady = (async () => {
      const names = await createNodes(client, opts.nodes ?? 2);
      await explain(kwok, waitNodesReady(client, names, wait));
      step(`${names.length} kwok nodes Ready`);
    })();
    const controllersReady = (async () => {
      if (opts.installCrds ?? true) {
        const names = await installCrds(client, opts.crdDir ?? join(ROOT, "crds"), wait);
        step(`${names.length} CRDs Established`);
      }
      // After the CRDs: the garbage collector rediscovers resources only every 30 s, and
      // ownerReferences to Towns must cascade from the first second.
      const kcm = startControllerManager();
      await explain(kcm, waitDefaultServiceAccount(client, wait));
      step("default ServiceAccount present");
    })();
    await Promise.all([nodesReady, controllersReady]);
    step(`cluster ready at ${server}`);

    const component = (name: Component) => {
      const p = processes.find((x) => x.name === name);
      if (!p) throw new Error(`the local cluster has no ${name}`);
      return p;
    };
    const stopComponent = async (name: Component, o: { crash?: boolean } = {}) => {
      const p = component(name);
      down.add(name);
      if (o.crash) await p.kill();
      else await p.stop(stopTimeoutMs);
      step(`${name} stopped${o.crash ? " (SIGKILL)" : ""}`);
    };
    const startComponent = async (name: Component) => {
      const old = component(name);
      const spec = specs.get(name);
      if (old.running || !down.has(name) || !spec) throw new Error(`${name} is running: stop it first`);
      processes.splice(processes.indexOf(old), 1);
      down.delete(name);
      const p = run(name, spec.command, spec.args, spec.env);
      if (name === "etcd") {
        await explain(
          p,
          until(`${etcdUrl}/health`, async () => ((await fetch(`${etcdUrl}/health`)).ok ? true : undefined), wait),
        );
        const apiserverNow = component("kube-apiserver");
        if (apiserverNow.running) await apiserverReady(apiserverNow);
      } else if (name === "kube-apiserver") {
        await apiserverReady(p);
      }
      step(`${name} started again`);
    };
    return { kubeconfigPath: paths.kubeconfig, server, dataDir, stop, stopComponent, startComponent };
  } catch (err) {
    // The logs outlive a failed start (etcd's data, the bulk of the dir, does not): the error
    // quotes a tail, the files have the rest.
    keepLogs = true;
    await stop();
    if (!opts.keepData) (err as Error).message += `\n(logs kept in ${paths.logs})`;
    throw err;
  }
}

/** Reuses keys and the token from an earlier run in the same data dir, so old kubeconfigs and SA tokens stay valid. */
function writeCredentials(paths: { saKey: string; saPub: string; tokens: string }): string {
  if (!existsSync(paths.saKey) || !existsSync(paths.saPub)) {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
    writeFileSync(paths.saKey, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
    writeFileSync(paths.saPub, publicKey.export({ type: "spki", format: "pem" }));
  }
  if (existsSync(paths.tokens)) {
    const existing = readFileSync(paths.tokens, "utf8").split(",")[0];
    if (existing) return existing;
  }
  const token = randomBytes(24).toString("hex");
  writeFileSync(paths.tokens, `${token},gastown-admin,gastown-admin,system:masters\n`, { mode: 0o600 });
  return token;
}

async function readIfExists(path: string): Promise<string | undefined> {
  if (!existsSync(path)) return undefined;
  const text = readFileSync(path, "utf8");
  // Written in one go by the apiserver, but do not hand out a half-written file.
  return text.includes("-----END CERTIFICATE-----") ? text : undefined;
}

export { applyCrds, KUBECTL, kubectl, reachable } from "./local-cluster/kubectl.ts";
