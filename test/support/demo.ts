// `make run` driven by a test, exactly as the README tells a user to: in its own process group (a
// terminal's foreground job), stopped with SIGINT to the group (Ctrl-C). Each demo gets its own
// namespace and state directory, so several can share the run's cluster.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createNamespace, kubeconfigPath } from "./kube.ts";
import { pollUntil, processes } from "./processes.ts";

const ROOT = join(import.meta.dirname, "..", "..");

export interface Demo {
  namespace: string;
  stateDir: string;
  /** The demo rig: a bare repository. */
  repo: string;
  /** Everything `make run` printed so far. */
  output(): string;
  /** Ctrl-C; resolves to how make exited (make itself re-raises SIGINT once its recipe is done). */
  interrupt(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function startDemo(prefix: string, startTimeoutMs = 180_000): Promise<Demo> {
  const namespace = await createNamespace(prefix);
  const stateDir = mkdtempSync(join(tmpdir(), `gastown-${prefix}-`));
  const child: ChildProcess = spawn("make", ["--no-print-directory", "run"], {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      KUBECONFIG: kubeconfigPath(),
      GASTOWN_DEMO_NAMESPACE: namespace,
      GASTOWN_DEMO_STATE_DIR: stateDir,
    },
  });
  let out = "";
  child.stdout?.on("data", (c: Buffer) => {
    out += c.toString("utf8");
  });
  child.stderr?.on("data", (c: Buffer) => {
    out += c.toString("utf8");
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  await pollUntil(
    () => `make run to print its instructions; it printed:\n${out}`,
    () => {
      if (gone) throw new Error(`make run exited before it was ready:\n${out}`);
      return out.includes("Press Ctrl-C to stop.");
    },
    startTimeoutMs,
  );
  return {
    namespace,
    stateDir,
    repo: join(stateDir, "app.git"),
    output: () => out,
    async interrupt() {
      if (!gone) process.kill(-child.pid!, "SIGINT");
      const timer = setTimeout(() => {
        if (!gone) process.kill(-child.pid!, "SIGKILL");
      }, 60_000);
      const exit = await exited;
      clearTimeout(timer);
      return exit;
    },
  };
}

/** Processes that belong to a demo: its state directory on their command line or as their cwd. */
export function demoProcesses(stateDir: string): string[] {
  return processes()
    .filter((p) => {
      if (p.args.includes(stateDir)) return true;
      try {
        return readlinkSync(`/proc/${p.pid}/cwd`).startsWith(stateDir);
      } catch {
        return false; // gone meanwhile, or not ours to inspect
      }
    })
    .map((p) => `${p.pid} ${p.args}`);
}

/** git against the demo's bare repository; stdout lines, empty ones dropped. */
export function git(repo: string, ...args: string[]): string[] {
  return execFileSync("git", [`--git-dir=${repo}`, ...args], { encoding: "utf8" })
    .split("\n")
    .filter(Boolean);
}
