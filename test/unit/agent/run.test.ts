// `gt run` as a process, with an apiserver that never answers: the session still clones, checks
// out, writes the prompt and runs the agent command (heartbeat failures are logged, never fatal),
// forwards SIGTERM to it and exits with its status.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { sessionEnvVars } from "../../../src/api/session.ts";
import { createOrigin, GIT_ENV, type Origin, session } from "./fixtures.ts";

const MAIN = join(import.meta.dirname, "..", "..", "..", "src", "agent", "main.ts");

/** A kubeconfig whose apiserver refuses connections: every heartbeat fails. */
function deadApiserver(o: Origin): string {
  const path = join(o.root, "kubeconfig");
  writeFileSync(
    path,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:1", "insecure-skip-tls-verify": true } }],
      users: [{ name: "u", user: { token: "t" } }],
      contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
      "current-context": "x",
    }),
  );
  return path;
}

function gtRun(o: Origin, agentCommand: string[]) {
  const s = session(o, { bead: "r1", agentCommand, heartbeatPeriodSeconds: "0.2" });
  const env = {
    ...GIT_ENV,
    ...sessionEnvVars(s as unknown as Parameters<typeof sessionEnvVars>[0]),
    KUBECONFIG: deadApiserver(o),
    // As in a pod: HOME inside the workspace, which does not exist yet.
    HOME: join(s.workspace, "home"),
  };
  const child: ChildProcess = spawn(process.execPath, [MAIN, "run"], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  const waiters: [string, () => void][] = [];
  child.stdout!.on("data", (c: Buffer) => {
    stdout += c.toString();
    for (const [text, resolve] of waiters) if (stdout.includes(text)) resolve();
  });
  child.stderr!.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const exit = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  return {
    child,
    workspace: s.workspace,
    exit,
    out: () => stdout,
    err: () => stderr,
    printed: (text: string) => new Promise<void>((resolve) => waiters.push([text, resolve])),
  };
}

// Each case runs gt run (Node, git, a child agent): seconds on a loaded machine.
describe("gt run", { timeout: 60_000 }, () => {
  it("prepares the repository and the prompt, puts gt on PATH, and exits with the agent's status", async () => {
    const o = createOrigin();
    const script = [
      'echo "cwd=$(pwd)"',
      'echo "branch=$(git rev-parse --abbrev-ref HEAD)"',
      'echo "prompt=$GT_PROMPT_FILE"',
      'echo "gt=$(command -v gt)"',
      'test -d "$HOME" && echo "home=$HOME"',
      'gt done --no-such-flag >/dev/null 2>&1; echo "gt-status=$?"',
      "exit 4",
    ].join("; ");
    const run = gtRun(o, ["sh", "-c", script]);
    const [code] = await run.exit;

    expect(code, run.err()).toBe(4);
    const ws = run.workspace;
    expect(run.out()).toContain(`cwd=${join(ws, "repo")}\nbranch=gt/app/r1\nprompt=${join(ws, "PROMPT.md")}\n`);
    expect(run.out()).toContain(`gt=${join(ws, ".gt", "bin", "gt")}\nhome=${join(ws, "home")}\ngt-status=2\n`);
    expect(readFileSync(join(ws, "PROMPT.md"), "utf8")).toContain("## Bead r1: Title of r1");
    expect(run.err()).toContain("gt run: heartbeat failed (will retry)");
    expect(run.err()).toContain("gt run: agent exited with status 4");
  });

  it("forwards SIGTERM to the agent command and exits with what the agent made of it", async () => {
    const o = createOrigin();
    const run = gtRun(o, ["sh", "-c", "trap 'echo got-term; exit 5' TERM; echo ready; while :; do sleep 0.05; done"]);
    await run.printed("ready");
    run.child.kill("SIGTERM"); // to gt run alone, as a kubelet signals a container's PID 1
    const [code] = await run.exit;
    expect(code).toBe(5);
    expect(run.out()).toContain("got-term");
  });

  it("fails with one line when the agent command cannot be started", async () => {
    const o = createOrigin();
    const run = gtRun(o, ["/nonexistent/agent-cli"]);
    const [code] = await run.exit;
    expect(code).toBe(127);
    expect(run.err()).toMatch(/gt run: cannot start the agent command \["\/nonexistent\/agent-cli"\]: .*ENOENT/);
  });
});
