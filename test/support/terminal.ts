// A real terminal for tests of full-screen output: a tmux session on a private server socket, read
// with capture-pane. The command runs under a shell that survives Ctrl-C (a trap, which its
// children do not inherit) and records how the command exited.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "..", "..");

/** tmux from Debian when it is missing (CI starts from a fresh machine). */
export function ensureTmux(): string {
  const find = () => execFileSync("sh", ["-c", "command -v tmux"], { encoding: "utf8" }).trim();
  try {
    return find();
  } catch {
    execFileSync(join(ROOT, "hack", "ensure-tmux.sh"), { stdio: "inherit" });
    return find();
  }
}

export interface Terminal {
  /** What the screen shows now. */
  screen(): string;
  sendKeys(...keys: string[]): void;
  /** The command's exit status once it ended, as the shell saw it ($?), else undefined. */
  exitStatus(): number | undefined;
  close(): void;
}

export function openTerminal(command: string, o: { columns?: number; rows?: number } = {}): Terminal {
  const tmux = ensureTmux();
  const socket = `gastown-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const marker = join(mkdtempSync(join(tmpdir(), "gastown-terminal-")), "exit");
  const run = (...args: string[]) => execFileSync(tmux, ["-L", socket, ...args], { encoding: "utf8" });
  const wrapped = `trap true INT; ${command}; echo $? > ${marker}; sleep 600`;
  run("new-session", "-d", "-s", "t", "-x", String(o.columns ?? 150), "-y", String(o.rows ?? 45), wrapped);
  return {
    screen: () => run("capture-pane", "-p", "-t", "t"),
    sendKeys: (...keys) => {
      run("send-keys", "-t", "t", ...keys);
    },
    exitStatus: () => (existsSync(marker) ? Number(readFileSync(marker, "utf8").trim()) : undefined),
    close: () => {
      try {
        run("kill-server");
      } catch {
        // already gone
      }
    },
  };
}

/** Samples the screen every 250 ms until `done(screen)`; `done` may also assert on every sample. */
export async function watchScreen(
  t: Terminal,
  done: (screen: string) => boolean,
  o: { timeoutMs: number; what: string },
): Promise<string> {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    const s = t.screen();
    if (done(s)) return s;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${o.timeoutMs}ms waiting for ${o.what}; the screen:\n${s}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
