// Driving `kubectl gt` the way a person does: the real kubectl, with the plugin's bin directory on
// PATH (so kubectl's plugin discovery finds kubectl-gt), against the test cluster; and a demo town
// (the process runtime, the scripted demo agents, a local bare repository) in its own namespace.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DemoOperator, startDemoOperator } from "../../hack/demo/operator.ts";
import { ensureDemoRepo } from "../../hack/demo/repo.ts";
import { DEMO_TOWN, demoTown } from "../../hack/demo/town.ts";
import { KUBECTL } from "../../hack/local-cluster.ts";
import { createNamespace, kubeconfigPath, runKubectl } from "./kube.ts";

const ROOT = join(import.meta.dirname, "..", "..");
export const PLUGIN_BIN = join(ROOT, "src", "cli", "bin");
const HACK_BIN = join(ROOT, "hack", "bin");

/** PATH as a user sets it up: the plugin, then kubectl; the system's Node 20 stays where it was. */
export function pluginPath(): string {
  return [PLUGIN_BIN, HACK_BIN, process.env.PATH ?? "/usr/bin:/bin"].join(":");
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `kubectl gt ARGS` (or `kubectl ARGS` with raw), never rejecting: tests assert on the exit code. */
export function kubectlGt(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; raw?: boolean; timeoutMs?: number } = {},
): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      KUBECTL,
      opts.raw ? args : ["gt", ...args],
      {
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 16 * 1024 * 1024,
        env: { ...process.env, KUBECONFIG: kubeconfigPath(), PATH: pluginPath(), NO_COLOR: "1", ...opts.env },
      },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === "number"
            ? (err as { code: number }).code
            : 1
          : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Fails with the command's stderr unless it exited 0. */
export async function ok(args: string[], opts?: Parameters<typeof kubectlGt>[1]): Promise<string> {
  const r = await kubectlGt(args, opts);
  if (r.code !== 0) throw new Error(`kubectl gt ${args.join(" ")} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

export interface DemoTown {
  namespace: string;
  town: string;
  stateDir: string;
  sessionsDir: string;
  repo: string;
  operator: DemoOperator | undefined;
  /** Starts the operator (again, after stopOperator). */
  startOperator(): Promise<void>;
  stopOperator(): Promise<void>;
}

const ADMISSION_POLICY = join(ROOT, "manifests", "base", "admission-policy.yaml");

export type TownManifest = ReturnType<typeof demoTown>;

/**
 * What make run sets up, in a fresh namespace: the admission policy, the demo rig and town, the
 * operator. `edit` changes the town before it is applied (more rigs, limits, an agent command).
 */
export async function startDemoTown(
  prefix: string,
  o: { maxPolecatsPerRig?: number; edit?: (town: TownManifest, stateDir: string) => void } = {},
): Promise<DemoTown> {
  const namespace = await createNamespace(prefix);
  const stateDir = mkdtempSync(join(tmpdir(), `gastown-${prefix}-`));
  const repo = join(stateDir, "app.git");
  ensureDemoRepo(repo);
  const apply = (input: string) =>
    runKubectl(["apply", "--server-side", "--force-conflicts", "--field-manager=gastown-test", "-f", "-"], input);
  await apply(readFileSync(ADMISSION_POLICY, "utf8"));
  const town = demoTown(namespace, repo);
  if (o.maxPolecatsPerRig) town.spec.limits.maxPolecatsPerRig = o.maxPolecatsPerRig;
  o.edit?.(town, stateDir);
  await apply(JSON.stringify(town));
  const sessionsDir = join(stateDir, "sessions");
  const t: DemoTown = {
    namespace,
    town: DEMO_TOWN,
    stateDir,
    sessionsDir,
    repo,
    operator: undefined,
    async startOperator() {
      t.operator = await startDemoOperator({
        kubeconfigPath: kubeconfigPath(),
        namespace,
        sessionsDir,
        logPath: join(stateDir, "operator.log"),
        onLine: () => {},
      });
      await runKubectl([
        "wait",
        `--namespace=${namespace}`,
        "--for=condition=Ready",
        "--timeout=60s",
        `town/${DEMO_TOWN}`,
      ]);
    },
    async stopOperator() {
      await t.operator?.stop();
      t.operator = undefined;
    },
  };
  await t.startOperator();
  return t;
}

/**
 * Output with what changes from run to run replaced: ages, times, commit hashes, and which polecat
 * of the crew took which bead (who is idle first is a race; how many there are is not).
 */
export function normalize(text: string): string {
  return text
    .replace(/\bdemo-([a-z]+)-(toast|maple)\b/g, "demo-$1-<polecat>")
    .replace(/\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\b/g, "<time>")
    .replace(/\b\d+(d|h|m|s)(\d+(h|m|s))?( ago)?\b/g, "<age>")
    .replace(/\b[0-9a-f]{40}\b/g, "<commit>");
}

/**
 * Text tables compared without their column widths, which follow the ages (the layout itself is
 * unit-tested): runs of spaces between cells become two; indentation and tree prefixes stay.
 */
export function columns(text: string): string {
  return normalize(text)
    .split("\n")
    .map((l) => l.replace(/(?<=[^\s│]) {2,}/g, "  ").trimEnd())
    .join("\n");
}
