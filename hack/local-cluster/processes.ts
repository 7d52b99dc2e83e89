// Child processes of the local cluster: each runs under lifeline.ts (so it dies with us, even on
// SIGKILL), in its own process group (so a terminal's Ctrl-C reaches only us and we stop the
// components in order, and so SIGKILL to the group takes the wrapper and the component at once),
// with stdout and stderr appended to a log file whose tail goes into startup errors.
import { type ChildProcess, spawn } from "node:child_process";
import { randomInt } from "node:crypto";
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
  /** SIGKILL to the whole process group at once (a crash); resolves once it has exited. */
  kill(): Promise<void>;
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
    async kill() {
      signalGroup(pid, "SIGKILL", true);
      await exited;
    },
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

/** The ports the kernel hands out for port-0 binds and for outgoing connections. */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return [low as number, high as number];
  } catch {}
  return [32768, 60999]; // Linux's default
}

/** Whether a listen on 127.0.0.1:port succeeds right now (port 0: which port the kernel chose). */
function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EADDRINUSE" || err.code === "EACCES") resolve(undefined);
      else reject(err);
    });
    server.listen(port, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(address && typeof address === "object" ? address.port : undefined));
    });
  });
}

/**
 * A TCP port free on 127.0.0.1 a moment ago, for a process that binds it later (etcd, the
 * apiserver, and the same again when one is restarted). It is picked below the ephemeral range,
 * because any process's outgoing connection or port-0 bind may take an ephemeral port in between.
 */
export async function freePort(): Promise<number> {
  const [ephemeralLow] = ephemeralRange();
  const low = 20000;
  const high = Math.min(ephemeralLow - 1, 32767);
  if (high - low >= 1000) {
    for (let attempt = 0; attempt < 100; attempt++) {
      const port = await tryListen(randomInt(low, high + 1));
      if (port !== undefined) return port;
    }
  }
  // An ephemeral range that covers (nearly) everything: let the kernel choose.
  const port = await tryListen(0);
  if (port === undefined) throw new Error("no free port on 127.0.0.1");
  return port;
}

/** Distinct free ports. */
export async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}
