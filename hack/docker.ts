// A Docker engine for a command, or one that outlives commands (hack/docker/engine.ts says which
// engine and how):
//
//   node hack/docker.ts run -- CMD [ARGS...]   run CMD with DOCKER_HOST set; a private engine
//                                              started for it stops when CMD ends
//   node hack/docker.ts up                     start the private engine in the background
//   node hack/docker.ts down                   stop it (and everything it runs)
//   node hack/docker.ts env                    print `export DOCKER_HOST=...` for a running engine
//
// `make images` and `make kind-node-image` use `run`; `up`/`down` are for looking around (a kept
// kind cluster, `docker images`). The private engine's state is in .run/docker (data/ is the image
// cache and survives `down`; `make clean` removes it).
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_STATE_DIR, type DockerEngine, findDockerEngine, startDockerEngine } from "./docker/engine.ts";
import { delay, tailFile } from "./local-cluster/processes.ts";

const PID_FILE = join(DEFAULT_STATE_DIR, "daemon.pid");
const LOG_FILE = join(DEFAULT_STATE_DIR, "daemon.log");
const log = (line: string) => process.stderr.write(`docker: ${line}\n`);

function runningDaemon(): number | undefined {
  if (!existsSync(PID_FILE)) return undefined;
  const pid = Number(readFileSync(PID_FILE, "utf8").trim());
  try {
    process.kill(pid, 0);
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    return cmdline.includes("docker.ts") && cmdline.includes("serve") ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function runCommand(argv: string[]): Promise<number> {
  const [cmd, ...args] = argv;
  if (!cmd) return usage();
  const engine = await startDockerEngine({ log });
  const child = spawn(cmd, args, {
    stdio: "inherit",
    env: { ...process.env, ...engine.env, ...buildFlagsEnv(engine) },
  });
  // The child gets the terminal's signals itself; we only wait for it, then stop our engine.
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => child.kill(signal));
  const code = await new Promise<number>((resolve) => {
    child.on("error", (e) => {
      log(`cannot run ${cmd}: ${e.message}`);
      resolve(127);
    });
    child.on("exit", (c, s) => resolve(c ?? 128 + (s ? 15 : 0)));
  });
  if (engine.owned) log("stopping the private engine");
  await engine.stop();
  return code;
}

/** DOCKER_BUILD_FLAGS for scripts that build (hack/images.sh, hack/kind/node-image.sh). */
function buildFlagsEnv(engine: DockerEngine): Record<string, string> {
  return { DOCKER_BUILD_FLAGS: engine.buildFlags.join(" ") };
}

async function up(): Promise<number> {
  const pid = runningDaemon();
  if (pid) {
    log(`the private engine is already running (pid ${pid})`);
    return env();
  }
  mkdirSync(DEFAULT_STATE_DIR, { recursive: true });
  const out = openSync(LOG_FILE, "w");
  const daemon = spawn(process.execPath, [import.meta.filename, "serve"], {
    detached: true,
    stdio: ["ignore", out, out, "ipc"],
  });
  closeSync(out);
  const ok = await new Promise<boolean>((resolve) => {
    daemon.once("message", () => resolve(true));
    daemon.once("exit", () => resolve(false));
  });
  disconnect(daemon);
  if (!ok) {
    log(`the private engine did not start:\n${tailFile(LOG_FILE, 30)}`);
    return 1;
  }
  return env();
}

function disconnect(daemon: ChildProcess): void {
  if (daemon.connected) daemon.disconnect();
  daemon.unref();
}

async function serve(): Promise<void> {
  writeFileSync(PID_FILE, `${process.pid}\n`);
  let engine: DockerEngine | undefined;
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    await engine?.stop();
    rmSync(PID_FILE, { force: true });
    process.exit(0);
  };
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(signal, () => void shutdown());
  try {
    engine = await startDockerEngine({ private: true, log: (line) => console.log(line) });
  } catch (e) {
    console.error((e as Error).message);
    rmSync(PID_FILE, { force: true });
    process.exit(1);
  }
  process.send?.({ ready: true });
}

async function down(): Promise<number> {
  const pid = runningDaemon();
  if (!pid) {
    log("no private engine is running");
    return 0;
  }
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + 60_000;
  while (runningDaemon() && Date.now() < deadline) await delay(200);
  if (runningDaemon()) {
    log(`the engine's daemon (pid ${pid}) did not stop within 60s`);
    return 1;
  }
  log("private engine stopped");
  return 0;
}

async function env(): Promise<number> {
  // `env` never starts an engine: one answering is printed, none is an error.
  const engine = await findDockerEngine({ private: runningDaemon() !== undefined });
  if (!engine) {
    log("no engine answers; start the private one with `node hack/docker.ts up`");
    return 1;
  }
  console.log(`export DOCKER_HOST=${engine.host}`);
  for (const [k, v] of Object.entries(engine.env)) if (k !== "DOCKER_HOST") console.log(`export ${k}=${v}`);
  return 0;
}

function usage(): number {
  process.stderr.write("usage: node hack/docker.ts run -- CMD [ARGS...] | up | down | env\n");
  return 2;
}

const [command, ...rest] = process.argv.slice(2);
const commands: Record<string, () => Promise<number> | Promise<void>> = {
  run: () => runCommand(rest[0] === "--" ? rest.slice(1) : rest),
  up,
  down,
  env,
  serve,
};
const chosen = command ? commands[command] : undefined;
if (!chosen) process.exit(usage());
else {
  const code = await chosen();
  if (typeof code === "number") process.exit(code);
}
