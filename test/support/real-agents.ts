// Real coding-agent CLIs in a town on the local control plane: the operator with the process
// runtime (every session under the egress trap), the scripted model server, a bare origin, and
// scripts that make each CLI do what a good agent does — a polecat edits, commits, pushes and calls
// `gt done`; a refinery merges with --no-ff, runs the gates, pushes and calls `gt done` — all
// through the CLI's own shell tool.
import { createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { AgentCli } from "../../src/api/town.ts";
import type { KubeHttp } from "../../src/controller/kube-http.ts";
import { createLogger, silentLogger } from "../../src/controller/logger.ts";
import { type Operator, startOperator } from "../../src/controller/operator.ts";
import { createProcessRuntime } from "../../src/runtime/process-runtime.ts";
import { createEgressTrap, type EgressTrap } from "./egress.ts";
import { FAST_TIMEOUTS } from "./manifests.ts";
import type { ModelServer, ScriptUsage, Step } from "./model-server.ts";

export const GT_MAIN = join(import.meta.dirname, "..", "..", "src", "agent", "main.ts");
export const MODEL = "scripted-model";
export const KEY_SECRET = "model-key";
export const API_KEY = "sk-gastown-test-0123456789abcdefghijklmnop";

/** A polecat's work: one file of its own, committed and pushed, then `gt done`. */
export function polecatScript(bead: string, usage?: ScriptUsage): Step[] {
  const file = `notes/${bead}.md`;
  return [
    {
      shell: `mkdir -p notes && printf '%s\\n' "# ${bead}" "written by $GT_AGENT" > ${file} && git add ${file} && git commit -qm "${bead}: add ${file}" && git push -q --force origin "HEAD:$GT_BRANCH" && gt done --branch "$GT_BRANCH" --summary "added ${file}"`,
      ...(usage ? { usage } : {}),
    },
    { say: `Bead ${bead} is done.`, ...(usage ? { usage } : {}) },
  ];
}

/** A refinery's review: merge --no-ff, every gate, push, `gt done --commit`; a gate failure asks for changes. */
export function refineryScript(bead: string, gates: string[], usage?: ScriptUsage): Step[] {
  const runGates = gates.length > 0 ? gates.join(" && ") : "true";
  return [
    {
      shell: `git fetch -q origin && git merge -q --no-ff --no-edit -m "Merge $GT_BRANCH into $GT_TARGET_BRANCH ($GT_BEAD)" "origin/$GT_BRANCH" && (${runGates}) && git push -q origin "HEAD:$GT_TARGET_BRANCH" && gt done --commit "$(git rev-parse HEAD)" --summary "merged $GT_BRANCH"`,
      ...(usage ? { usage } : {}),
    },
    { say: `Merged ${bead}.`, ...(usage ? { usage } : {}) },
  ];
}

/** Scripts by bead name: merge requests (…-mr-N, …-landing-N) get the refinery's, issues the polecat's. */
export function townScripts(gates: string[], usage?: ScriptUsage) {
  return (bead: string): Step[] =>
    /-(mr|landing)-\d+$/.test(bead) ? refineryScript(bead, gates, usage) : polecatScript(bead, usage);
}

export function cliTown(
  name: string,
  o: {
    cli: AgentCli;
    repo: string;
    model: ModelServer;
    gates?: string[];
    timeouts?: Record<string, unknown>;
    limits?: Record<string, unknown>;
    agents?: Record<string, unknown>;
  },
) {
  const api = o.cli === "pi" ? { api: "openai-completions" } : {};
  const baseURL = o.cli === "claude-code" ? o.model.url : `${o.model.url}/v1`;
  return {
    apiVersion: "gastown.dev/v1alpha1",
    kind: "Town",
    metadata: { name },
    spec: {
      rigs: [{ name: "app", repo: o.repo, gates: o.gates ?? ["test -f README.md"] }],
      agents: {
        cli: o.cli,
        model: MODEL,
        maxRetries: 2,
        provider: { baseURL, apiKeySecret: { name: KEY_SECRET, key: "api-key" }, ...api },
        ...(o.agents ?? {}),
      },
      limits: { maxPolecatsPerRig: 2, ...(o.limits ?? {}) },
      timeouts: { ...FAST_TIMEOUTS, heartbeatTimeout: "30s", startupGrace: "30s", ...(o.timeouts ?? {}) },
    },
  };
}

export async function createKeySecret(http: KubeHttp, namespace: string, key = API_KEY): Promise<void> {
  await http.json({
    method: "POST",
    path: `/api/v1/namespaces/${namespace}/secrets`,
    body: {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: KEY_SECRET },
      stringData: { "api-key": key },
    },
  });
}

export interface CliOperator {
  operator: Operator;
  trap: EgressTrap;
  sessionsDir: string;
  stop(): Promise<void>;
}

/** The operator in this process with the process runtime; each session runs `gt run` under the trap. */
export async function startCliOperator(
  namespace: string,
  dir: string,
  kubeConfig: import("@kubernetes/client-node").KubeConfig,
): Promise<CliOperator> {
  const sessionsDir = join(dir, "sessions");
  const traces = join(dir, "egress");
  mkdirSync(traces, { recursive: true });
  const trap = createEgressTrap(traces);
  const logger = process.env.GASTOWN_TEST_LOGS
    ? createLogger({ level: "debug", destination: createWriteStream(join(dir, "operator.log"), { flags: "a" }) })
    : silentLogger();
  let runtime: ReturnType<typeof createProcessRuntime> | undefined;
  const operator = await startOperator({
    kubeConfig,
    namespace,
    runtime: (http) => {
      runtime = createProcessRuntime({
        http,
        kubeConfig,
        dir: sessionsDir,
        logger,
        stopGraceMs: 3000,
        gtCommand: trap.wrap([process.execPath, GT_MAIN, "run"]),
      });
      return runtime;
    },
    identity: `test-${namespace}`,
    logger,
    port: 0,
  });
  await operator.waitUntilLeading();
  return {
    operator,
    trap,
    sessionsDir,
    async stop() {
      await operator.stop();
    },
  };
}

/** The last lines of every session log of a namespace, for a failure message. */
export function sessionLogTails(sessionsDir: string, namespace: string, lines = 15): string {
  const root = join(sessionsDir, namespace);
  if (!existsSync(root)) return "(no sessions)";
  return readdirSync(root)
    .sort()
    .map((pod) => {
      const path = join(root, pod, "session.log");
      const text = existsSync(path) ? readFileSync(path, "utf8") : "(no log)";
      const tail = text
        .split("\n")
        .filter((l) => !l.startsWith('{"type":"system","subtype":"init"'))
        .slice(-lines)
        .map((l) => l.slice(0, 400));
      return `--- ${pod}\n${tail.join("\n")}`;
    })
    .join("\n");
}
