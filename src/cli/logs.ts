// `kubectl gt logs BEAD|AGENT [-f] [--session N]`: a session's log, wherever the runtime keeps it —
// the agent container of the session Pod (through the API, like kubectl logs), or the session.log
// of the process runtime (make run), found under the sessions directory.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import type { Agent } from "../api/agent.ts";
import type { Bead } from "../api/bead.ts";
import { isNotFound } from "../controller/kube-http.ts";
import { AGENTS, apiPath, BEAD_ANNOTATION, BEADS, LABELS, PODS } from "../controller/resources.ts";
import { sessionPodName } from "../core/names.ts";
import type { Cli } from "./context.ts";
import { CliError, EXIT, explain } from "./errors.ts";
import { createLive } from "./live.ts";
import { getObject, resolveTarget } from "./objects.ts";

const ROOT = join(import.meta.dirname, "..", "..");

export interface LogsOptions {
  follow: boolean;
  session?: number;
  sessionsDir?: string;
}

interface SessionRef {
  agent: string;
  session: number;
  bead?: string;
  pod: string;
  /** The process runtime's log file; absent for a Pod. */
  file?: string;
}

/** Where the process runtime may keep sessions: the flag, $GASTOWN_SESSIONS_DIR, then make run's places. */
export function sessionDirs(flag: string | undefined): string[] {
  if (flag) return [flag];
  if (process.env.GASTOWN_SESSIONS_DIR) return [process.env.GASTOWN_SESSIONS_DIR];
  return [
    join(ROOT, ".run", "demo", "sessions"),
    join(ROOT, ".run", "sessions"),
    join(process.cwd(), ".run", "sessions"),
  ];
}

function fileSessions(dirs: string[], namespace: string, agent: string): SessionRef[] {
  const out: SessionRef[] = [];
  for (const dir of dirs) {
    const ns = join(dir, namespace);
    if (!existsSync(ns)) continue;
    for (const entry of readdirSync(ns)) {
      const m = new RegExp(`^${agent.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}-(\\d+)$`).exec(entry);
      const file = join(ns, entry, "session.log");
      if (!m || !existsSync(file)) continue;
      let bead: string | undefined;
      try {
        bead = (JSON.parse(readFileSync(join(ns, entry, "session.json"), "utf8")) as { bead?: string }).bead;
      } catch {} // a session of an older runtime: no identity file
      out.push({ agent, session: Number(m[1]), pod: entry, file, ...(bead ? { bead } : {}) });
    }
    if (out.length > 0) break;
  }
  return out;
}

async function podSessions(cli: Cli, agent: string): Promise<SessionRef[]> {
  type PodList = {
    items?: { metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> } }[];
  };
  const pods = await cli.http
    .json<PodList>({
      method: "GET",
      path: apiPath(PODS, cli.namespace),
      query: { labelSelector: `${LABELS.agent}=${agent}` },
    })
    .catch((e: unknown) => {
      throw explain(e, `listing the session pods of agent/${agent}`);
    });
  return (pods.items ?? []).map((p) => ({
    agent,
    session: Number(p.metadata.labels?.[LABELS.session] ?? 0),
    pod: p.metadata.name,
    ...(p.metadata.annotations?.[BEAD_ANNOTATION] ? { bead: p.metadata.annotations[BEAD_ANNOTATION] } : {}),
  }));
}

async function findSession(cli: Cli, target: string, o: LogsOptions): Promise<SessionRef> {
  const { resource, object } = await resolveTarget(cli, target, [AGENTS, BEADS]);
  const bead = resource === BEADS ? (object as unknown as Bead) : undefined;
  const agentName = bead ? bead.status?.assignee : object.metadata.name;
  if (!agentName) {
    throw new CliError(`bead/${target} was never dispatched: it has no session to show`, {
      hint: `kubectl gt status shows why it waits`,
    });
  }
  const agent = await getObject<Agent>(cli, AGENTS, agentName).catch((e: unknown) => {
    if (e instanceof CliError && e.exitCode === EXIT.notFound && bead) {
      throw new CliError(
        `agent/${agentName}, which worked on bead/${bead.metadata.name}, is gone (garbage-collected), and its logs with it`,
      );
    }
    throw e;
  });
  const dirs = sessionDirs(o.sessionsDir);
  const all = [...(await podSessions(cli, agentName)), ...fileSessions(dirs, cli.namespace, agentName)];
  // The Agent names its latest session and the bead it was for, even when nothing recorded it elsewhere.
  const latest = agent.status?.session;
  if (latest && !all.some((s) => s.session === latest)) {
    all.push({
      agent: agentName,
      session: latest,
      pod: sessionPodName(agentName, latest),
      ...(agent.status?.sessionBead ? { bead: agent.status.sessionBead } : {}),
    });
  }
  for (const s of all)
    if (!s.bead && s.session === latest && agent.status?.sessionBead) s.bead = agent.status.sessionBead;
  const mine = bead ? all.filter((s) => s.bead === bead.metadata.name) : all;
  const chosen =
    o.session !== undefined
      ? mine.find((s) => s.session === o.session)
      : mine.sort((a, b) => a.session - b.session)[mine.length - 1];
  if (!chosen) {
    const known = mine.map((s) => s.session).sort((a, b) => a - b);
    const what = bead ? `bead/${bead.metadata.name} (agent ${agentName})` : `agent/${agentName}`;
    throw new CliError(
      o.session !== undefined
        ? `${what} has no session ${o.session}${known.length ? `; its sessions: ${known.join(", ")}` : ""}`
        : `no session of ${what} found`,
      {
        exitCode: EXIT.notFound,
        hint: `session logs of the process runtime are looked for in ${dirs.join(", ")} (--sessions-dir)`,
      },
    );
  }
  // Prefer the file when both exist: a process-runtime session has no Pod; a Pod has no file.
  const file = all.find((s) => s.session === chosen.session && s.file);
  return file ?? chosen;
}

export async function logs(cli: Cli, target: string, o: LogsOptions): Promise<void> {
  const s = await findSession(cli, target, o);
  if (s.file) return o.follow ? followFile(cli, s) : cli.io.out(readFileSync(s.file, "utf8"));
  return podLog(cli, s, o.follow);
}

async function podLog(cli: Cli, s: SessionRef, follow: boolean): Promise<void> {
  const path = apiPath(PODS, cli.namespace, s.pod, "log");
  try {
    await cli.http.lines(
      { method: "GET", path, query: { container: "agent", ...(follow ? { follow: true } : {}) } },
      (line) => cli.io.out(`${line}\n`),
    );
  } catch (e) {
    if (isNotFound(e)) {
      throw new CliError(
        `session ${s.session} of agent/${s.agent} (pod ${s.pod}) is gone, and no session.log of it was found`,
        {
          exitCode: EXIT.notFound,
          hint: "finished session pods are deleted after Town.spec.timeouts.podRetention; the process runtime keeps logs under --sessions-dir",
        },
      );
    }
    throw explain(e, `logs of pod/${s.pod}`);
  }
}

/** tail -f until the session is over (the Agent moved on from it), then the rest of the file. */
async function followFile(cli: Cli, s: SessionRef): Promise<void> {
  const file = await open(s.file!, "r");
  let offset = 0;
  const drain = async () => {
    const size = statSync(s.file!).size;
    while (offset < size) {
      const buf = Buffer.alloc(Math.min(size - offset, 1 << 16));
      const { bytesRead } = await file.read(buf, 0, buf.length, offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
      cli.io.out(buf.subarray(0, bytesRead).toString("utf8"));
    }
  };
  const live = createLive(cli, [AGENTS]);
  const over = () => {
    const a = live.list(AGENTS).find((x) => x.metadata.name === s.agent) as unknown as Agent | undefined;
    if (!a) return true;
    const st = a.status;
    return (st?.session ?? 0) > s.session || (st?.session === s.session && st?.phase !== "Working");
  };
  live.start();
  try {
    await live.synced();
    let done = false;
    const stop = () => {
      done = true;
    };
    for (const signal of ["SIGINT", "SIGTERM", "SIGPIPE"] as const) process.on(signal, stop);
    while (!done) {
      await drain();
      if (over()) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await drain();
  } finally {
    live.stop();
    await file.close();
  }
}
