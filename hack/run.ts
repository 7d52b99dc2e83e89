// `make run`: Gas Town on one machine, in the foreground, until Ctrl-C.
//
// 1. the cluster: the one $KUBECONFIG points at when it answers (the CRDs are applied there),
//    otherwise a local control plane whose state lives in .run/run/;
// 2. the admission policy, the namespace, and the demo rig: a local bare git repository, created
//    on first run in .run/demo/app.git and kept afterwards;
// 3. the demo town, and the operator with the process runtime running the scripted demo agent;
// then it prints how to apply a convoy and watch it, echoes the operator's one line per transition,
// and on SIGINT/SIGTERM stops what it started (sessions, operator, control plane).
//
// Flags, or the environment when it runs through `make run` (tests run several demos on one cluster):
//   --namespace NS   $GASTOWN_DEMO_NAMESPACE   where the demo town lives (default "default")
//   --state-dir DIR  $GASTOWN_DEMO_STATE_DIR   the bare repository, session workspaces and logs
//                                              (default .run/demo)
//   --agent CLI      $AGENT                    claude-code | codex | pi: every session is that real
//                                              CLI, driven by a scripted model on loopback (the
//                                              test server), instead of the demo agent
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { type ModelServer, startModelServer } from "../test/support/model-server.ts";
import { townScripts } from "../test/support/real-agents.ts";
import { startDemoOperator } from "./demo/operator.ts";
import { DEMO_GATES, ensureDemoRepo } from "./demo/repo.ts";
import { DEMO_TOWN, type DemoAgent, demoTown } from "./demo/town.ts";
import { applyCrds, kubectl, reachable, startLocalCluster } from "./local-cluster.ts";

const ROOT = join(import.meta.dirname, "..");
const CLUSTER_STATE = join(ROOT, ".run", "run");
const LOCK = join(ROOT, ".run", "run.pid");
const ADMISSION_POLICY = join(ROOT, "manifests", "base", "admission-policy.yaml");

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
  const cluster = await startLocalCluster({ dataDir: CLUSTER_STATE, log: (line) => log(line) });
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
  rmSync(CLUSTER_STATE, { recursive: true, force: true });
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

/** The namespace, the admission policy that binds reports to their agent, and the demo town. */
async function installDemo(
  kubeconfigPath: string | undefined,
  namespace: string,
  repo: string,
  agent?: DemoAgent,
): Promise<void> {
  const apply = (input: string) =>
    kubectl(
      kubeconfigPath,
      ["apply", "--server-side", "--force-conflicts", "--field-manager=gastown-demo", "-f", "-"],
      { input },
    );
  await apply(JSON.stringify({ apiVersion: "v1", kind: "Namespace", metadata: { name: namespace } }));
  await apply(readFileSync(ADMISSION_POLICY, "utf8"));
  if (agent)
    await apply(
      JSON.stringify({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: agent.keySecret, namespace },
        stringData: { "api-key": "sk-scripted-model-0123456789abcdef" },
      }),
    );
  await apply(JSON.stringify(demoTown(namespace, repo, agent)));
}

function printUsage(target: Target, namespace: string, repo: string, sessionsDir: string): void {
  const ns = namespace === "default" ? "" : ` -n ${namespace}`;
  const rel = (p: string) => relative(process.cwd(), p) || ".";
  const exportLine = target.kubeconfigPath
    ? `  export KUBECONFIG=${target.kubeconfigPath}\n`
    : `  # KUBECONFIG=${process.env.KUBECONFIG} is already set\n`;
  // kubectl gt logs looks in make run's default place by itself; elsewhere it needs telling.
  const sessionsLine =
    sessionsDir === join(ROOT, ".run", "demo", "sessions") ? "" : `  export GASTOWN_SESSIONS_DIR=${sessionsDir}\n`;
  console.log(`
Gas Town is running on ${target.description}: town "${DEMO_TOWN}", rig "app" on ${rel(repo)}.
In another terminal:
${exportLine}  export PATH=${join(ROOT, "src", "cli", "bin")}:${join(ROOT, "hack", "bin")}:$PATH
${sessionsLine}  kubectl apply${ns} -f examples/convoy.yaml
  kubectl gt${ns} status --watch                # the town at a glance (kubectl gt --help)
  kubectl get${ns} beads --watch                # one kind at a time; all of them: kubectl get${ns} gastown
  git --git-dir=${rel(repo)} log --graph --oneline main

Session logs: ${rel(sessionsDir)}/${namespace}/<pod>/session.log (kubectl gt${ns} logs BEAD)
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

function flags() {
  const { values } = parseArgs({
    options: {
      namespace: { type: "string", default: process.env.GASTOWN_DEMO_NAMESPACE || "default" },
      "state-dir": { type: "string", default: process.env.GASTOWN_DEMO_STATE_DIR || join(ROOT, ".run", "demo") },
      agent: { type: "string", default: process.env.AGENT || "" },
    },
    strict: true,
  });
  const agent = values.agent;
  if (agent && agent !== "claude-code" && agent !== "codex" && agent !== "pi")
    throw new Error(`--agent (AGENT) must be claude-code, codex or pi, got ${JSON.stringify(agent)}`);
  return {
    namespace: values.namespace,
    stateDir: resolve(values["state-dir"]),
    agent: (agent || undefined) as DemoAgent["cli"] | undefined,
  };
}

async function main(): Promise<void> {
  const { namespace, stateDir, agent } = flags();
  const signal = untilSignal();
  const stops: (() => Promise<void>)[] = [];
  try {
    const target = await clusterTarget();
    stops.unshift(() => target.stop());
    const repo = join(stateDir, "app.git");
    log(ensureDemoRepo(repo) ? `created the demo rig ${repo}` : `using the demo rig ${repo}`);
    let model: ModelServer | undefined;
    if (agent) {
      // The real CLI does real work; only its model is scripted: per bead, edit+commit+push+gt done,
      // and for a merge request merge --no-ff, the gates, push, gt done. Requests are logged.
      model = await startModelServer({ scriptFor: townScripts(DEMO_GATES) });
      const m = model;
      stops.push(() => m.close());
      log(`${agent} sessions talk to the scripted model at ${model.url}`);
    }
    await installDemo(
      target.kubeconfigPath,
      namespace,
      repo,
      agent && model ? { cli: agent, modelURL: model.url, keySecret: "scripted-model-key" } : undefined,
    );
    // Sessions of an earlier run died with it; their workspaces are of no further use.
    const sessionsDir = join(stateDir, "sessions");
    rmSync(sessionsDir, { recursive: true, force: true });
    const logPath = join(stateDir, "operator.log");
    rmSync(logPath, { force: true });
    const operator = await startDemoOperator({
      kubeconfigPath: target.kubeconfigPath,
      namespace,
      sessionsDir,
      logPath,
      onLine: (line) => console.log(line),
    });
    stops.unshift(() => operator.stop());
    await kubectl(target.kubeconfigPath, [
      "wait",
      `--namespace=${namespace}`,
      "--for=condition=Ready",
      "--timeout=60s",
      `town/${DEMO_TOWN}`,
    ]).catch((e: Error) => {
      throw new Error(`the demo town did not become Ready: ${e.message}\n${operator.process.tail(20)}`);
    });
    printUsage(target, namespace, repo, sessionsDir);
    const why = await Promise.race([signal, operator.process.exited.then(() => undefined)]);
    if (why) log(`${why}: stopping`);
    else {
      console.error(`run: the operator exited on its own; its last lines:\n${operator.process.tail(20)}`);
      process.exitCode = 1;
    }
  } finally {
    for (const stop of stops) await stop();
    log("stopped");
  }
}

try {
  await main();
} catch (err) {
  console.error(`run: ${(err as Error).message}`);
  process.exitCode = 1;
}
