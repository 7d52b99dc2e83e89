// Sessions as local child processes (docs/architecture.md), with the pod contract: the agent's own identity
// and token, the same environment, one workspace and one log per session, and observations shaped
// like what the Pod informer reports. Each session runs under session-lifeline.ts as the leader of
// its own process group, so a stop reaches everything the agent spawned and nothing outlives the
// operator, even one killed with SIGKILL.
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, open, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { constants } from "node:os";
import { extname, join, resolve } from "node:path";
import { stringify } from "yaml";
import { parseDuration } from "../api/meta.ts";
import { MODEL_API_KEY_ENV } from "../api/session.ts";
import type { Town } from "../api/town.ts";
import type { Logger } from "../controller/logger.ts";
import { townKey } from "../controller/resources.ts";
import type { SessionObservation } from "../core/snapshot.ts";
import type { KubeConnection } from "../kube/config.ts";
import { isNotFound } from "../kube/errors.ts";
import type { KubeHttp } from "../kube/http.ts";
import { createAgentIdentities, requestAgentToken } from "./agent-identity.ts";
import { modelKeyRef, sessionEnvFor } from "./session-env.ts";
import type { SessionRuntime, StartRequest } from "./session-runtime.ts";
import { parseTermination, SessionConfigError } from "./session-termination.ts";

// Beside this module, with its extension: .ts when run from src/, .js when compiled (hack/dist.ts).
const MODULE_EXT = extname(import.meta.filename);
const LIFELINE = join(import.meta.dirname, `session-lifeline${MODULE_EXT}`);
const TERMINATION_FILE = "termination-log";
const GT_MAIN = join(import.meta.dirname, "..", "agent", `main${MODULE_EXT}`);

export interface ProcessRuntimeOptions {
  /** The operator's API access: agent identities, tokens, and the Secrets the town names. */
  http: KubeHttp;
  /** The operator's kubeconfig: the sessions' kubeconfigs get its server and CA. */
  kubeConfig: KubeConnection;
  /**
   * Sessions live in <dir>/<namespace>/<session>/ (workspace, kubeconfig, session.log); each
   * agent's HOME in <dir>/.homes/<namespace>/<agent>/<agent uid>/, kept across its sessions.
   */
  dir: string;
  logger: Logger;
  /** The session's command; default `node src/agent/main.ts run` with this Node. */
  gtCommand?: string[];
  /** SIGTERM → SIGKILL grace for stop(), close() and an orphaned session (default 10 s). */
  stopGraceMs?: number;
  /** Lifetime of a session's token: nothing rotates it as the kubelet does a pod's (default 24 h). */
  tokenSeconds?: number;
}

interface Session {
  namespace: string;
  town: string;
  uid: string;
  version: number;
  dir: string;
  obs: SessionObservation;
  child?: ChildProcess;
  stopping: boolean;
  exited: Promise<void>;
  markExited: () => void;
  killTimer?: NodeJS.Timeout;
}

const isFinished = (s: Session) => s.obs.phase === "Succeeded" || s.obs.phase === "Failed";

function signalGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {} // ESRCH: the group is gone already
}

/** A kubeconfig that authenticates as the agent: the operator's server and CA, the agent's token. */
async function agentKubeconfig(kc: KubeConnection, namespace: string, agent: string, token: string): Promise<string> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("the operator's kubeconfig has no current cluster");
  const ca = cluster.caData ?? (cluster.caFile ? (await readFile(cluster.caFile)).toString("base64") : undefined);
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "gastown",
        cluster: {
          server: cluster.server,
          ...(ca ? { "certificate-authority-data": ca } : {}),
          ...(cluster.skipTLSVerify ? { "insecure-skip-tls-verify": true } : {}),
          ...(cluster.tlsServerName ? { "tls-server-name": cluster.tlsServerName } : {}),
        },
      },
    ],
    users: [{ name: agent, user: { token } }],
    contexts: [{ name: agent, context: { cluster: "gastown", user: agent, namespace } }],
    "current-context": agent,
  });
}

type Data = Record<string, string> | undefined;

/** Town.spec.agents.env/envFrom resolved the way the kubelet would, with the operator's access. */
async function townEnv(http: KubeHttp, namespace: string, town: Town): Promise<Record<string, string>> {
  const read = async (kind: "secrets" | "configmaps", name: string): Promise<Record<string, string>> => {
    const o = await http
      .json<{ data?: Data }>({ method: "GET", path: `/api/v1/namespaces/${namespace}/${kind}/${name}` })
      .catch((e: unknown) => {
        // As the kubelet says it: the session cannot start until the object exists.
        if (isNotFound(e))
          throw new SessionConfigError(`${kind === "secrets" ? "secret" : "configmap"} "${name}" not found`);
        throw e;
      });
    const data = o.data ?? {};
    if (kind === "configmaps") return data;
    return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
  };
  const out: Record<string, string> = {};
  for (const from of town.spec.agents.envFrom) {
    const data = from.secretRef
      ? await read("secrets", from.secretRef.name)
      : from.configMapRef
        ? await read("configmaps", from.configMapRef.name)
        : {};
    for (const [k, v] of Object.entries(data)) out[`${from.prefix ?? ""}${k}`] = v;
  }
  for (const e of town.spec.agents.env) {
    const ref = e.valueFrom?.secretKeyRef ?? e.valueFrom?.configMapKeyRef;
    const kind = e.valueFrom?.secretKeyRef ? "secrets" : "configmaps";
    const value = ref ? (await read(kind, ref.name))[ref.key] : e.value;
    if (ref && value === undefined) {
      throw new SessionConfigError(
        `couldn't find key ${ref.key} in ${kind === "secrets" ? "Secret" : "ConfigMap"} ${namespace}/${ref.name}`,
      );
    }
    if (value !== undefined) out[e.name] = value;
  }
  return out;
}

/** One key of a Secret, as the kubelet resolves a secretKeyRef: a missing Secret or key fails the start. */
async function secretValue(http: KubeHttp, namespace: string, name: string, key: string): Promise<string> {
  const o = await http.json<{ data?: Data }>({
    method: "GET",
    path: `/api/v1/namespaces/${namespace}/secrets/${name}`,
  });
  const value = o.data?.[key];
  if (value === undefined) throw new Error(`secret ${name} has no key ${key} (Town.spec.agents.provider.apiKeySecret)`);
  return Buffer.from(value, "base64").toString("utf8");
}

/** The rig's git credentials Secret as files, the way the pod runtime mounts it. */
async function writeGitCredentials(http: KubeHttp, namespace: string, secret: string, dir: string): Promise<void> {
  const o = await http.json<{ data?: Data }>({
    method: "GET",
    path: `/api/v1/namespaces/${namespace}/secrets/${secret}`,
  });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (const [key, value] of Object.entries(o.data ?? {})) {
    if (/^[A-Za-z0-9._-]+$/.test(key) && key !== "." && key !== "..")
      await writeFile(join(dir, key), Buffer.from(value, "base64"), { mode: 0o600 });
  }
}

/**
 * The agent's HOME, kept across its sessions so that the next one can resume the CLI's
 * conversation (its transcript lives there), as a pod's home volume is (Town.spec.agents.home).
 * Keyed by the Agent's uid: an Agent deleted and created again under the same name is a new agent
 * and gets an empty HOME, and the old one goes, as the garbage collector takes a deleted Agent's
 * volume. Beside the namespaces, not in one, so that a namespace's directory holds only sessions;
 * `.homes` cannot clash with a namespace: names never start with a dot.
 */
export async function agentHome(
  root: string,
  namespace: string,
  agent: { name: string; uid: string },
): Promise<string> {
  const agentDir = join(root, ".homes", namespace, agent.name);
  await mkdir(agentDir, { recursive: true, mode: 0o700 });
  for (const uid of await readdir(agentDir))
    if (uid !== agent.uid) await rm(join(agentDir, uid), { recursive: true, force: true });
  const home = join(agentDir, agent.uid);
  await mkdir(home, { recursive: true, mode: 0o700 });
  return home;
}

export function createProcessRuntime(o: ProcessRuntimeOptions): SessionRuntime {
  const root = resolve(o.dir);
  const graceMs = o.stopGraceMs ?? 10_000;
  const command = o.gtCommand ?? [process.execPath, GT_MAIN, "run"];
  const sessions = new Map<string, Session>();
  const listeners: ((key: string) => void)[] = [];
  let closed = false;
  const log = o.logger.child({ component: "process-runtime" });
  const identities = createAgentIdentities(o.http);

  const changed = (s: Session) => {
    s.version++;
    for (const l of listeners) {
      try {
        l(townKey(s.namespace, s.town));
      } catch (e) {
        log.error({ err: (e as Error).message }, "session change listener failed");
      }
    }
  };
  const remove = (s: Session) => {
    sessions.delete(`${s.namespace}/${s.obs.name}`);
    // Like a deleted pod's emptyDir, the workspace goes; the log stays for whoever investigates.
    for (const sub of ["workspace", "git-credentials", "kubeconfig"])
      void rm(join(s.dir, sub), { recursive: true, force: true }).catch(() => {});
  };

  /** Identity, token, kubeconfig, directories and environment of a session about to start. */
  async function prepare(req: StartRequest, s: Session): Promise<Record<string, string>> {
    const { namespace, town, action } = req;
    const beads = [action.bead, ...(action.context.reworkOf ? [action.context.reworkOf] : [])];
    const heartbeatTimeout = parseDuration(town.spec.timeouts.heartbeatTimeout) / 1000;
    await identities.ensure(
      { namespace, town: town.metadata.name, name: req.agent.name, uid: req.agent.uid },
      beads,
      heartbeatTimeout,
    );
    const token = await requestAgentToken(o.http, namespace, action.agent, o.tokenSeconds ?? 24 * 3600).catch(
      (e: unknown) => {
        // E.g. the ServiceAccount was deleted behind our back: rebuild the identity next time.
        identities.forget(req.agent.uid);
        throw e;
      },
    );
    // A session name seen again (e.g. after an operator restart) starts from a clean directory.
    await rm(s.dir, { recursive: true, force: true });
    const workspace = join(s.dir, "workspace");
    const home = await agentHome(root, namespace, req.agent);
    await mkdir(workspace, { recursive: true });
    // Which bead the session worked on, for `kubectl gt logs BEAD`: the directory and its log
    // outlive the session, the Agent's status only names the latest one.
    const identity = { namespace, agent: action.agent, session: action.session, bead: action.bead };
    await writeFile(join(s.dir, "session.json"), `${JSON.stringify(identity)}\n`);
    const kubeconfig = join(s.dir, "kubeconfig");
    await writeFile(kubeconfig, await agentKubeconfig(o.kubeConfig, namespace, action.agent, token), { mode: 0o600 });
    const rig = town.spec.rigs.find((r) => r.name === action.rig);
    const key = modelKeyRef(town, action.rig);
    const apiKey = key ? await secretValue(o.http, namespace, key.name, key.key) : undefined;
    const credentials = join(s.dir, "git-credentials");
    if (rig?.gitCredentialsSecret) await writeGitCredentials(o.http, namespace, rig.gitCredentialsSecret, credentials);
    return {
      PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
      ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}),
      ...(process.env.LANG ? { LANG: process.env.LANG } : {}),
      ...(await townEnv(o.http, namespace, town)),
      HOME: home,
      KUBECONFIG: kubeconfig,
      ...sessionEnvFor(req, workspace),
      ...(rig?.gitCredentialsSecret ? { GT_GIT_CREDENTIALS_DIR: credentials } : {}),
      ...(apiKey !== undefined ? { [MODEL_API_KEY_ENV]: apiKey } : {}),
      // Where gt run says why it failed: the process runtime's terminationMessagePath.
      GT_TERMINATION_LOG: join(s.dir, TERMINATION_FILE),
    };
  }

  const readIfPresent = (path: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch {
      return undefined;
    }
  };

  function launch(s: Session, env: Record<string, string>, logFd: number): void {
    const child = spawn(process.execPath, [LIFELINE, String(graceMs), ...command], {
      cwd: s.dir,
      env,
      detached: true, // a new process group (and session), led by the lifeline
      stdio: ["pipe", logFd, logFd],
    });
    s.child = child;
    child.stdin?.on("error", () => {}); // the pipe only ever closes; never written to
    const now = Date.now();
    s.obs = { ...s.obs, phase: "Running", started: now };
    let done = false;
    const finish = (exitCode: number, reason: string) => {
      if (done) return;
      done = true;
      if (s.killTimer) clearTimeout(s.killTimer);
      signalGroup(child.pid, "SIGKILL"); // whatever the agent left behind in its group
      const termination = parseTermination(readIfPresent(join(s.dir, TERMINATION_FILE)));
      s.obs = {
        ...s.obs,
        phase: exitCode === 0 ? "Succeeded" : "Failed",
        finished: Date.now(),
        exitCode,
        reason,
        ...(termination ? { termination } : {}),
      };
      log.info({ object: `Session/${s.namespace}/${s.obs.name}`, exitCode, reason }, "session exited");
      if (s.stopping) remove(s);
      changed(s);
      s.markExited();
    };
    child.on("error", (e) => {
      log.error({ object: `Session/${s.namespace}/${s.obs.name}`, err: e.message }, "session could not start");
      finish(127, "StartError");
    });
    child.on("exit", (code, signal) => {
      if (signal) finish(128 + (constants.signals[signal] ?? 0), signal);
      else finish(code ?? 1, code === 0 ? "Completed" : "Error");
    });
  }

  function terminate(s: Session): void {
    s.stopping = true;
    if (!s.child || isFinished(s)) return;
    signalGroup(s.child.pid, "SIGTERM");
    s.killTimer ??= setTimeout(() => signalGroup(s.child?.pid, "SIGKILL"), graceMs);
  }

  return {
    kind: "process",
    async start(req) {
      if (closed) throw new Error("the process runtime is closed");
      const { namespace, action } = req;
      const key = `${namespace}/${action.pod}`;
      if (sessions.has(key)) return;
      let markExited = () => {};
      const exited = new Promise<void>((r) => {
        markExited = r;
      });
      const s: Session = {
        namespace,
        town: req.town.metadata.name,
        uid: randomUUID(),
        version: 0,
        dir: join(root, namespace, action.pod),
        obs: {
          name: action.pod,
          agent: action.agent,
          session: action.session,
          bead: action.bead,
          phase: "Pending",
          created: Date.now(),
          deleting: false,
        },
        stopping: false,
        exited,
        markExited,
      };
      // Visible at once, as a created pod is, so a second start of the same name is a no-op.
      sessions.set(key, s);
      changed(s);
      try {
        const env = await prepare(req, s);
        if (s.stopping || closed) throw new Error(`session ${action.pod} was stopped before it started`);
        const logFile = await open(join(s.dir, "session.log"), "a");
        try {
          launch(s, env, logFile.fd);
        } finally {
          await logFile.close();
        }
        log.info({ object: `Session/${namespace}/${action.pod}`, pid: s.child?.pid, dir: s.dir }, "session started");
        changed(s);
      } catch (e) {
        if (e instanceof SessionConfigError && !s.stopping) {
          // A pod would wait in CreateContainerConfigError: so does this session, until stopped.
          s.obs = { ...s.obs, waiting: { reason: "CreateContainerConfigError", message: e.message } };
          s.markExited();
          changed(s);
          return;
        }
        sessions.delete(key);
        changed(s);
        s.markExited();
        if (s.stopping) return;
        throw e;
      }
    },
    async stop(namespace, _agent, name) {
      const s = sessions.get(`${namespace}/${name}`);
      if (!s) return;
      if (isFinished(s)) {
        remove(s);
        changed(s);
        return;
      }
      if (s.stopping) return;
      s.obs = { ...s.obs, deleting: true };
      terminate(s);
      changed(s);
    },
    observe(namespace, town) {
      const out: SessionObservation[] = [];
      for (const s of sessions.values()) if (s.namespace === namespace && s.town === town) out.push({ ...s.obs });
      return out;
    },
    lookup(namespace, name) {
      const s = sessions.get(`${namespace}/${name}`);
      return s ? { metadata: { uid: s.uid, resourceVersion: String(s.version) } } : undefined;
    },
    onChange(listener) {
      listeners.push(listener);
    },
    run() {},
    hasSynced: () => true,
    waitForSync: async () => true,
    async close() {
      closed = true;
      const live = [...sessions.values()].filter((s) => !isFinished(s));
      for (const s of live) terminate(s);
      await Promise.all(live.map((s) => s.exited));
      for (const s of live) if (s.killTimer) clearTimeout(s.killTimer);
    },
  };
}
