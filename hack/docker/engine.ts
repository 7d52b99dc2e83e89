// A Docker engine for builds and kind, the way hack/local-cluster.ts is a control plane: use the
// engine the user has when one answers, otherwise start a private one — Debian's dockerd (installed
// with apt-get when missing) with its own data root, exec root and socket under .run/docker, no
// iptables, NAT, ip_forward or default bridge changes on the host, and its life tied to ours by a
// lifeline. Its data root outlives it: that is the image cache of the next run.
//
// Privileged containers (kind's nodes) need every capability the OCI spec asks for. Where the
// host's bounding set lacks some (CAP_SYS_RESOURCE on this kind of machine), runc fails with
// "unable to apply caps". That is detected with a trial `docker run --privileged`, never assumed;
// then a runc wrapper that drops the missing capabilities from each spec becomes the default runtime.
import { execFile } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ManagedProcess, startProcess, tailFile } from "../local-cluster/processes.ts";
import { capabilityNames, missingCapabilities } from "./capabilities.ts";
import { daemonConfig, dockerdArgs, runcWrapperScript } from "./daemon-config.ts";

const ROOT = join(import.meta.dirname, "..", "..");
export const DEFAULT_STATE_DIR = join(ROOT, ".run", "docker");
/** Directories containerd, dockerd and umount (libmount's utab) create at fixed host paths. */
export const FIXED_HOST_DIRS = [
  "/run/containerd/s",
  "/run/containerd",
  "/run/docker/plugins",
  "/run/docker",
  "/run/mount",
];
const PROBE_IMAGE = "gastown-engine-probe:1";
const WRAPPER_RUNTIME = "gastown-runc";

export interface DockerEngine {
  /** The DOCKER_HOST clients must use. */
  host: string;
  /** Environment for docker, kind and builds (DOCKER_HOST, and the builder to use). */
  env: Record<string, string>;
  /** Flags every `docker build` needs on this engine (a private engine has no default bridge). */
  buildFlags: string[];
  /** True when this call started the engine; stop() then stops it. */
  owned: boolean;
  /** The private engine's state dir (data root, logs), or undefined for the user's engine. */
  stateDir?: string;
  /** Capabilities the runc wrapper removes; empty when privileged containers work as they are. */
  droppedCapabilities: string[];
  /** Idempotent. Stops an owned engine and removes what it left at fixed host paths; else no-op. */
  stop(): Promise<void>;
}

export interface EngineOptions {
  stateDir?: string;
  /** Ignore a reachable engine and use the private one (GASTOWN_PRIVATE_DOCKER=1 does the same). */
  private?: boolean;
  log?: (line: string) => void;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 120_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stdout, stderr: stderr || (err && code !== 0 ? err.message : "") });
    });
  });
}

async function must(cmd: string, args: string[], env?: NodeJS.ProcessEnv, timeoutMs?: number): Promise<string> {
  const r = await run(cmd, args, env, timeoutMs);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

const onPath = async (cmd: string) => (await run("sh", ["-c", `command -v ${cmd}`])).code === 0;

/** Whether a docker client reaches an engine at `host` (undefined: the client's own default). */
async function answers(host: string | undefined): Promise<boolean> {
  if (!(await onPath("docker"))) return false;
  const env = { ...process.env };
  if (host === undefined) delete env.DOCKER_HOST;
  else env.DOCKER_HOST = host;
  return (await run("docker", ["version", "--format", "{{.Server.Version}}"], env, 15_000)).code === 0;
}

/** The classic builder needs no buildx plugin; BuildKit is used only where the client has it. */
async function builderEnv(): Promise<Record<string, string>> {
  return (await run("docker", ["buildx", "version"], process.env, 15_000)).code === 0 ? {} : { DOCKER_BUILDKIT: "0" };
}

/**
 * An engine that answers: the user's (DOCKER_HOST or the client's default), or our private one
 * already running for someone else (`node hack/docker.ts up`). Not ours to stop.
 */
export async function findDockerEngine(opts: EngineOptions = {}): Promise<DockerEngine | undefined> {
  const stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
  const privateHost = `unix://${join(stateDir, "docker.sock")}`;
  const wantPrivate = opts.private || process.env.GASTOWN_PRIVATE_DOCKER === "1";
  const candidates = wantPrivate ? [privateHost] : [process.env.DOCKER_HOST, undefined, privateHost];
  for (const host of [...new Set(candidates)]) {
    if (host === "" || !(await answers(host))) continue;
    const resolved =
      host ?? (await must("docker", ["context", "inspect", "--format", "{{.Endpoints.docker.Host}}"])).trim();
    opts.log?.(`using the Docker engine at ${resolved}`);
    const isPrivate = resolved === privateHost;
    return {
      host: resolved,
      env: { DOCKER_HOST: resolved, ...(await builderEnv()) },
      buildFlags: isPrivate ? ["--network=host"] : [],
      owned: false,
      ...(isPrivate ? { stateDir } : {}),
      droppedCapabilities: [],
      stop: async () => {},
    };
  }
  return undefined;
}

/** findDockerEngine(), else a private dockerd (installing Debian's docker.io first if needed). */
export async function startDockerEngine(opts: EngineOptions = {}): Promise<DockerEngine> {
  const found = await findDockerEngine(opts);
  if (found) return found;
  const log = opts.log ?? (() => {});
  await ensureInstalled(log);
  return startPrivate(opts.stateDir ?? DEFAULT_STATE_DIR, log);
}

/** Debian's docker.io (dockerd, containerd, runc, the client) when dockerd is missing. */
async function ensureInstalled(log: (line: string) => void): Promise<void> {
  const missing: string[] = [];
  for (const cmd of ["dockerd", "containerd", "runc", "docker"]) if (!(await onPath(cmd))) missing.push(cmd);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `no Docker engine answers and ${missing.join(", ")} ${missing.length > 1 ? "are" : "is"} not installed; ` +
        "install Docker (on Debian: apt-get install docker.io), or run as root so this script can",
    );
  }
  if (!(await onPath("apt-get")))
    throw new Error(`no Docker engine answers, ${missing.join(", ")} missing, no apt-get`);
  log(`installing Debian's docker.io (missing: ${missing.join(", ")})`);
  // The package would start a system dockerd where a service manager runs; ours is private. A
  // policy-rc.d that refuses service starts is the Debian way to say so; an existing one is kept.
  const policy = "/usr/sbin/policy-rc.d";
  const ownPolicy = !existsSync(policy);
  if (ownPolicy)
    writeFileSync(policy, "#!/bin/sh\n# temporary: gastown-operator hack/docker installs docker.io\nexit 101\n", {
      mode: 0o755,
    });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    await must("apt-get", ["update", "-qq"], env, 600_000);
    await must("apt-get", ["install", "-y", "-qq", "--no-install-recommends", "docker.io"], env, 900_000);
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
}

async function startPrivate(stateDir: string, log: (line: string) => void): Promise<DockerEngine> {
  const paths = {
    data: join(stateDir, "data"),
    exec: join(stateDir, "exec"),
    socket: join(stateDir, "docker.sock"),
    pid: join(stateDir, "docker.pid"),
    log: join(stateDir, "dockerd.log"),
    config: join(stateDir, "daemon.json"),
    wrapper: join(stateDir, "runc-wrapper"),
    key: join(stateDir, "key.json"),
  };
  mkdirSync(stateDir, { recursive: true });
  const fixedBefore = new Set(FIXED_HOST_DIRS.filter((d) => existsSync(d)));
  await clearStaleState(stateDir, paths, log);
  const runc = (await must("sh", ["-c", "command -v runc"])).trim();
  const dropped = missingCapabilities(readFileSync("/proc/self/status", "utf8"), capabilityNames());
  // The wrapper is registered from the start (harmless unused); it becomes the default only when
  // the trial below shows that privileged containers fail without it.
  writeFileSync(paths.wrapper, runcWrapperScript(runc, dropped), { mode: 0o755 });
  const writeConfig = (defaultRuntime?: string) =>
    writeFileSync(
      paths.config,
      `${JSON.stringify(daemonConfig({ key: paths.key, runtime: WRAPPER_RUNTIME, wrapper: paths.wrapper, defaultRuntime }), null, 2)}\n`,
    );
  writeConfig();

  const dockerd = startProcess({
    name: "dockerd",
    command: (await must("sh", ["-c", "command -v dockerd"])).trim(),
    args: dockerdArgs(paths),
    logPath: paths.log,
    // dockerd stops its containers (10 s each, in parallel) before it exits.
    graceMs: 30_000,
  });
  const host = `unix://${paths.socket}`;
  const env = { ...process.env, DOCKER_HOST: host };
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      // dockerd leaves the bridge interfaces of its networks (kind's) on the host when it exits,
      // and recreates them when it starts: remove them, they come back with the engine.
      const bridges = dockerd.running ? await bridgeInterfaces(env) : [];
      await dockerd.stop(45_000);
      for (const bridge of bridges) {
        if (existsSync(`/sys/class/net/${bridge}`)) await must("ip", ["link", "delete", bridge]);
      }
      // libnetwork bind-mounts the host's network namespace (exec root netns/default) for
      // --network=host containers and leaves it mounted when dockerd exits.
      await unmountAll(stateDir);
      removeFixedDirs(fixedBefore);
      rmSync(paths.socket, { force: true });
    })();
    return stopped;
  };

  try {
    await waitAnswering(dockerd, host);
    log(`private dockerd ready (data root ${paths.data})`);
    let defaultRuntime: string | undefined;
    const trial = await probePrivileged(env);
    if (!trial.ok) {
      if (dropped.length === 0) {
        throw new Error(`privileged containers fail on this engine, and no capability is missing: ${trial.error}`);
      }
      const wrapped = await probePrivileged(env, WRAPPER_RUNTIME);
      if (!wrapped.ok)
        throw new Error(`privileged containers fail, even without ${dropped.join(", ")}: ${wrapped.error}`);
      // default-runtime is reloadable: SIGHUP instead of a restart.
      writeConfig(WRAPPER_RUNTIME);
      process.kill(Number(readFileSync(paths.pid, "utf8").trim()), "SIGHUP");
      await waitDefaultRuntime(env, WRAPPER_RUNTIME);
      defaultRuntime = WRAPPER_RUNTIME;
      log(
        `privileged containers need ${dropped.join(", ")}, which this host lacks: default runtime ${WRAPPER_RUNTIME} drops them`,
      );
    }
    return {
      host,
      env: { DOCKER_HOST: host, ...(await builderEnv()) },
      buildFlags: ["--network=host"],
      owned: true,
      stateDir,
      droppedCapabilities: defaultRuntime ? dropped : [],
      stop,
    };
  } catch (e) {
    await stop();
    (e as Error).message += `\nlast lines of ${paths.log}:\n${tailFile(paths.log, 30)}`;
    throw e;
  }
}

/** Host interface names of the engine's bridge networks (libnetwork names them br-<id prefix>). */
async function bridgeInterfaces(env: NodeJS.ProcessEnv): Promise<string[]> {
  const ids = (await run("docker", ["network", "ls", "--no-trunc", "--filter", "driver=bridge", "-q"], env)).stdout
    .split("\n")
    .filter(Boolean);
  const names: string[] = [];
  for (const id of ids) {
    const r = await run(
      "docker",
      ["network", "inspect", "--format", '{{index .Options "com.docker.network.bridge.name"}}', id],
      env,
    );
    const named = r.stdout.trim();
    names.push(named && named !== "<no value>" ? named : `br-${id.slice(0, 12)}`);
  }
  return names;
}

/** A dockerd killed without its lifeline (SIGKILL to the whole group) leaves mounts and a pid file. */
async function clearStaleState(
  stateDir: string,
  paths: { pid: string; socket: string },
  log: (line: string) => void,
): Promise<void> {
  if (existsSync(paths.pid)) {
    const pid = Number(readFileSync(paths.pid, "utf8").trim());
    let alive = false;
    try {
      process.kill(pid, 0);
      alive = readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(stateDir);
    } catch {}
    if (alive) throw new Error(`a dockerd (pid ${pid}) runs with ${stateDir} but does not answer; stop it first`);
    rmSync(paths.pid, { force: true });
  }
  rmSync(paths.socket, { force: true });
  const stale = await unmountAll(stateDir);
  if (stale.length > 0) log(`unmounted ${stale.length} mounts a killed dockerd left under ${stateDir}`);
}

/** Unmounts everything at or below `dir`, deepest first (overlays sit on the data root's bind mount). */
async function unmountAll(dir: string): Promise<string[]> {
  const mounts = mountsUnder(dir).sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    const r = await run("umount", [m]);
    if (r.code !== 0) await must("umount", ["-l", m]);
  }
  return mounts;
}

/** Mount points at or below `dir`, from /proc/self/mountinfo (octal escapes decoded). */
export function mountsUnder(dir: string, mountinfo = readFileSync("/proc/self/mountinfo", "utf8")): string[] {
  return mountinfo
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`));
}

function removeFixedDirs(existedBefore: Set<string>): void {
  // FIXED_HOST_DIRS lists children before parents; rmdir only removes what is empty.
  for (const dir of FIXED_HOST_DIRS) {
    if (existedBefore.has(dir) || !existsSync(dir)) continue;
    try {
      if (readdirSync(dir).length === 0) rmdirSync(dir);
    } catch {}
  }
}

async function waitAnswering(dockerd: ManagedProcess, host: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await answers(host))) {
    if (!dockerd.running) throw new Error("dockerd exited during startup");
    if (Date.now() > deadline) throw new Error("dockerd did not answer within 60s");
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A one-file image of the host's static tini (Debian's tini package, a docker.io dependency). */
async function ensureProbeImage(env: NodeJS.ProcessEnv): Promise<void> {
  if ((await run("docker", ["image", "inspect", PROBE_IMAGE], env)).code === 0) return;
  const tini = ["/usr/bin/tini-static", "/usr/bin/docker-init"].find((p) => existsSync(p));
  if (!tini) throw new Error("no static tini (Debian's tini package) to build the privileged-container probe from");
  const dir = mkdtempSync(join(tmpdir(), "gastown-probe-"));
  try {
    copyFileSync(tini, join(dir, "tini"));
    chmodSync(join(dir, "tini"), 0o755);
    await must("sh", ["-c", `tar -C '${dir}' -c tini | docker import - ${PROBE_IMAGE}`], env);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The trial: a container with every capability, as kind's nodes are. */
async function probePrivileged(env: NodeJS.ProcessEnv, runtime?: string): Promise<{ ok: boolean; error: string }> {
  await ensureProbeImage(env);
  const r = await run(
    "docker",
    [
      "run",
      "--rm",
      "--network=none",
      "--privileged",
      ...(runtime ? [`--runtime=${runtime}`] : []),
      PROBE_IMAGE,
      "/tini",
      "--version",
    ],
    env,
  );
  return { ok: r.code === 0, error: r.stderr.trim() };
}

async function waitDefaultRuntime(env: NodeJS.ProcessEnv, runtime: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = await run("docker", ["info", "--format", "{{.DefaultRuntime}}"], env);
    if (r.stdout.trim() === runtime) return;
    if (Date.now() > deadline) throw new Error(`dockerd did not switch its default runtime to ${runtime}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}
