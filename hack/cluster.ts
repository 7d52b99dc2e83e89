// `make cluster` / `make cluster-down`: a local control plane that outlives the command, with its
// state in .run/cluster/ (kubeconfig, daemon.pid, daemon.log, data/).
//
//   node hack/cluster.ts up      start it in the background (or say it is already running)
//   node hack/cluster.ts down    stop it and everything it started
//   node hack/cluster.ts status  exit 0 when it is running and answering
//
// A detached daemon (`serve`) owns the cluster, so the components' lifelines are tied to the
// daemon, not to the short-lived `up` command. Killing the daemon, even with SIGKILL, still
// takes every component down with it.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { delay, tailFile } from "./local-cluster/processes.ts";
import { reachable, startLocalCluster } from "./local-cluster.ts";

const ROOT = join(import.meta.dirname, "..");
const STATE = join(ROOT, ".run", "cluster");
const PID_FILE = join(STATE, "daemon.pid");
const LOG_FILE = join(STATE, "daemon.log");
const KUBECONFIG = join(STATE, "kubeconfig");
const DATA = join(STATE, "data");

type Message = { ready: true; seconds: number } | { ready: false; error: string };

/** The daemon's pid if it is alive (and really our daemon, not a recycled pid). */
function runningDaemon(): number | undefined {
  if (!existsSync(PID_FILE)) return undefined;
  const pid = Number(readFileSync(PID_FILE, "utf8").trim());
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.includes("cluster.ts") && cmdline.includes("serve") ? pid : undefined;
  } catch {
    return undefined;
  }
}

function printUsage(): void {
  console.log(`
  export KUBECONFIG=${KUBECONFIG}
  export PATH=${join(ROOT, "hack", "bin")}:$PATH   # kubectl matching the cluster
  kubectl get nodes
  kubectl get gastown -A

Tests against it:  GASTOWN_TEST_KUBECONFIG=${KUBECONFIG} make test-integration
Stop it:           make cluster-down    (logs: ${join(DATA, "logs")})`);
}

async function up(): Promise<number> {
  const pid = runningDaemon();
  if (pid) {
    const answering = await reachable(KUBECONFIG);
    console.log(
      `The local cluster is already running (pid ${pid})${answering ? "." : ", but it does not answer: run make cluster-down, then make cluster."}`,
    );
    if (answering) printUsage();
    return answering ? 0 : 1;
  }
  for (const stale of [PID_FILE, KUBECONFIG, DATA]) rmSync(stale, { recursive: true, force: true });
  mkdirSync(STATE, { recursive: true });
  const log = openSync(LOG_FILE, "w");
  const daemon = spawn(process.execPath, [import.meta.filename, "serve"], {
    detached: true,
    stdio: ["ignore", log, log, "ipc"],
    cwd: ROOT,
  });
  closeSync(log);
  console.log(`Starting the local cluster (pid ${daemon.pid}, log ${LOG_FILE}) ...`);
  const message = await firstMessage(daemon);
  if (daemon.connected) daemon.disconnect();
  daemon.unref();
  if (!message.ready) {
    console.error(`The local cluster did not start: ${message.error}`);
    return 1;
  }
  console.log(`Local cluster ready in ${message.seconds.toFixed(1)}s.`);
  printUsage();
  return 0;
}

function firstMessage(daemon: ChildProcess): Promise<Message> {
  return new Promise((resolve) => {
    daemon.once("message", (m) => resolve(m as Message));
    daemon.once("exit", (code, signal) =>
      resolve({ ready: false, error: `the daemon exited (${signal ?? code}):\n${tailFile(LOG_FILE, 30)}` }),
    );
  });
}

async function serve(): Promise<void> {
  writeFileSync(PID_FILE, `${process.pid}\n`);
  const started = performance.now();
  const say = (m: Message) => {
    if (process.connected) process.send?.(m);
  };
  let stopping = false;
  let cluster: Awaited<ReturnType<typeof startLocalCluster>> | undefined;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping the local cluster`);
    await cluster?.stop();
    rmSync(KUBECONFIG, { force: true });
    rmSync(PID_FILE, { force: true });
    process.exit(0);
  };
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(signal, () => void shutdown(signal));
  try {
    cluster = await startLocalCluster({ dataDir: DATA, log: (line) => console.log(line) });
  } catch (err) {
    console.error((err as Error).message);
    say({ ready: false, error: (err as Error).message });
    rmSync(PID_FILE, { force: true });
    process.exit(1);
  }
  if (stopping) return;
  copyFileSync(cluster.kubeconfigPath, KUBECONFIG);
  say({ ready: true, seconds: (performance.now() - started) / 1000 });
  // Stay alive until a signal: the cluster's processes are what keeps the event loop busy.
}

async function down(): Promise<number> {
  const pid = runningDaemon();
  if (!pid) {
    for (const stale of [PID_FILE, KUBECONFIG, DATA]) rmSync(stale, { recursive: true, force: true });
    console.log("No local cluster is running.");
    return 0;
  }
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + 30_000;
  while (runningDaemon() && Date.now() < deadline) await delay(100);
  if (runningDaemon()) {
    // Its components' lifelines see the daemon die and stop them within their grace period.
    process.kill(pid, "SIGKILL");
    console.log(`The daemon (pid ${pid}) did not stop in 30s and was killed.`);
  }
  for (const stale of [PID_FILE, KUBECONFIG, DATA]) rmSync(stale, { recursive: true, force: true });
  console.log("Local cluster stopped.");
  return 0;
}

async function status(): Promise<number> {
  const pid = runningDaemon();
  const answering = pid !== undefined && (await reachable(KUBECONFIG));
  console.log(pid ? `running (pid ${pid})${answering ? "" : ", not answering"}` : "not running");
  return answering ? 0 : 1;
}

const command = process.argv[2];
switch (command) {
  case "up":
    process.exitCode = await up();
    break;
  case "down":
    process.exitCode = await down();
    break;
  case "status":
    process.exitCode = await status();
    break;
  case "serve":
    await serve();
    break;
  default:
    console.error("usage: node hack/cluster.ts up|down|status");
    process.exitCode = 2;
}
