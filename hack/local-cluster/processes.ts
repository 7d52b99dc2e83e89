// Child processes of the local cluster: each runs under lifeline.ts (so it dies with us, even on
// SIGKILL), in its own process group (so a terminal's Ctrl-C reaches only us and we stop the
// components in order, and so SIGKILL to the group takes the wrapper and the component at once),
// with stdout and stderr appended to a log file whose tail goes into startup errors.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";

const LIFELINE = join(import.meta.dirname, "lifeline.ts");

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Resolves when the process (the lifeline wrapper, which outlives its child) has exited. */
  readonly exited: Promise<Exit>;
  readonly running: boolean;
  /** SIGTERM, then SIGKILL to the whole process group after `timeoutMs`. Idempotent. */
  stop(timeoutMs: number): Promise<void>;
  /** The last lines of the log, for error messages. */
  tail(lines?: number): string;
}

export interface StartOptions {
  name: string;
  command: string;
  args: string[];
  logPath: string;
  env?: NodeJS.ProcessEnv;
  /** How long the lifeline waits after SIGTERM before SIGKILL when we die without stopping it. */
  graceMs?: number;
  /** Removed by the lifeline after the process exits, if we died first. */
  cleanupDir?: string;
}

export function startProcess(opts: StartOptions): ManagedProcess {
  const log = openSync(opts.logPath, "a");
  let child: ChildProcess;
  try {
    child = spawn(
      process.execPath,
      [LIFELINE, String(opts.graceMs ?? 5000), opts.cleanupDir ?? "-", opts.command, ...opts.args],
      {
        detached: true,
        stdio: ["pipe", log, log],
        env: opts.env ?? process.env,
      },
    );
  } finally {
    closeSync(log);
  }
  if (child.pid === undefined) throw new Error(`cannot start ${opts.name} (${opts.command})`);
  const pid = child.pid;
  let running = true;
  const exited = new Promise<Exit>((resolve) => {
    child.once("exit", (code, signal) => {
      running = false;
      resolve({ code, signal });
    });
  });
  // The pipe must stay open for as long as we live; it is never written. An EPIPE after the
  // wrapper exits is expected and harmless.
  child.stdin?.on("error", () => {});

  const tail = (lines = 40) => tailFile(opts.logPath, lines);
  let stopping: Promise<void> | undefined;
  const stop = (timeoutMs: number) => {
    stopping ??= (async () => {
      if (!running) return;
      signalGroup(pid, "SIGTERM", false);
      // A pending timer would keep the caller's event loop alive for the whole timeout.
      let timer: NodeJS.Timeout | undefined;
      const timedOut = await Promise.race([
        exited.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), timeoutMs);
        }),
      ]);
      clearTimeout(timer);
      if (timedOut) signalGroup(pid, "SIGKILL", true);
      await exited;
      // The wrapper may have exited on SIGTERM before a stubborn child: make sure of the group.
      signalGroup(pid, "SIGKILL", true);
    })();
    return stopping;
  };

  return {
    name: opts.name,
    pid,
    logPath: opts.logPath,
    exited,
    get running() {
      return running;
    },
    stop,
    tail,
  };
}

function signalGroup(pid: number, signal: NodeJS.Signals, group: boolean): void {
  try {
    process.kill(group ? -pid : pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

export function tailFile(path: string, lines: number): string {
  try {
    const text = readFileSync(path, "utf8");
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === "object") resolve(address.port);
        else reject(new Error("no port"));
      });
    });
  });
}

/** Distinct free ports (the kernel may hand out the same ephemeral port twice in a row otherwise). */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}
