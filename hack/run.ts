// `make run`: a cluster to play with, in the foreground, until Ctrl-C.
//
// 1. the cluster: the one $KUBECONFIG points at when it answers (the CRDs are applied there),
//    otherwise a local control plane whose state lives in .run/run/;
// 2. (to come) the operator, with the process runtime for agent sessions;
// 3. (to come) the demo town and its local bare repository;
// then it prints how to look at it and waits for SIGINT/SIGTERM to stop what it started.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applyCrds, reachable, startLocalCluster } from "./local-cluster.ts";

const ROOT = join(import.meta.dirname, "..");
const STATE = join(ROOT, ".run", "run");
const LOCK = join(ROOT, ".run", "run.pid");

interface Target {
  /** Undefined: kubectl and clients follow $KUBECONFIG. */
  kubeconfigPath: string | undefined;
  description: string;
  stop(): Promise<void>;
}

const log = (line: string) => console.log(`run: ${line}`);

async function clusterTarget(): Promise<Target> {
  if (process.env.KUBECONFIG) {
    if (await reachable(undefined)) {
      log(`using the cluster of KUBECONFIG=${process.env.KUBECONFIG}; applying the CRDs there`);
      const crds = await applyCrds(undefined);
      log(`${crds.length} CRDs applied and Established`);
      return { kubeconfigPath: undefined, description: "your cluster", stop: async () => {} };
    }
    log(`KUBECONFIG=${process.env.KUBECONFIG} does not answer; starting a local control plane instead`);
  }
  takeLock();
  const started = performance.now();
  const cluster = await startLocalCluster({ dataDir: STATE, log: (line) => log(line) });
  log(`local control plane ready in ${((performance.now() - started) / 1000).toFixed(1)}s`);
  return {
    kubeconfigPath: cluster.kubeconfigPath,
    description: "the local control plane",
    stop: async () => {
      await cluster.stop();
      rmSync(LOCK, { force: true });
    },
  };
}

/** One `make run` at a time owns .run/run/. */
function takeLock(): void {
  mkdirSync(join(ROOT, ".run"), { recursive: true });
  if (existsSync(LOCK)) {
    const pid = Number(readFileSync(LOCK, "utf8"));
    if (pid && pid !== process.pid && alive(pid)) {
      throw new Error(`make run is already running (pid ${pid}); stop it with Ctrl-C first`);
    }
  }
  rmSync(STATE, { recursive: true, force: true });
  writeFileSync(LOCK, `${process.pid}\n`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function printUsage(target: Target): void {
  const exportLine = target.kubeconfigPath
    ? `  export KUBECONFIG=${target.kubeconfigPath}\n`
    : `  # KUBECONFIG=${process.env.KUBECONFIG} is already set\n`;
  console.log(`
Gas Town is running on ${target.description}. In another terminal:
${exportLine}  export PATH=${join(ROOT, "hack", "bin")}:$PATH
  kubectl apply -f examples/
  kubectl get gastown

Press Ctrl-C to stop.`);
}

function untilSignal(): Promise<NodeJS.Signals> {
  // Signal handlers do not keep Node alive; on a cluster we did not start nothing else does.
  const keepAlive = setInterval(() => {}, 2 ** 30);
  return new Promise((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
      process.on(signal, () => {
        clearInterval(keepAlive);
        // A second Ctrl-C does not wait for a graceful stop: exiting closes every lifeline pipe,
        // and the components die anyway.
        process.once(signal, () => process.exit(130));
        resolve(signal);
      });
    }
  });
}

async function main(): Promise<void> {
  const signal = untilSignal();
  const target = await clusterTarget();
  printUsage(target);
  log(`${await signal}: stopping`);
  await target.stop();
  log("stopped");
}

try {
  await main();
} catch (err) {
  console.error(`run: ${(err as Error).message}`);
  process.exitCode = 1;
}
