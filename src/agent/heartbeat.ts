// The session's heartbeat: the Lease renewed every period with the activity watermark (docs/agent-contract.md, Lifecycle;
// §5.6). Activity is the last time the agent command printed something or a `gt` tool ran. Tools
// run as separate processes (the agent calls `gt done` from its shell), so they leave their marks
// in a directory `gt run` shares with them through GT_ACTIVITY_DIR.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Activity, AgentClient } from "./client.ts";

export const ACTIVITY_DIR_ENV = "GT_ACTIVITY_DIR";
const LAST = "last-tool";
const ACTIVE = "active-";
/** A tool a CLI hook saw start (keyed by the CLI's tool-use id; the hook process is gone by then). */
const HOOK_TOOL = "hook-tool-";
const REPORTED = "reported";

const safeId = (id: string) => id.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 120);

/** A report tool succeeded: `gt run` classifies the session's end by what was reported. */
export function recordReport(dir: string | undefined, type: string): void {
  if (!dir) return;
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, REPORTED), `${type}\n`, { flag: "a" });
  } catch {}
}

export function reportsFiled(dir: string): string[] {
  try {
    return readFileSync(join(dir, REPORTED), "utf8").split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

/** Moves the watermark from another process (a CLI hook). */
export function touchActivity(dir: string, kind: string, now = Date.now()): void {
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, LAST), `${now} ${kind.replace(/\s+/g, "_")}`);
  } catch {}
}

/** A CLI hook's view of a tool boundary (Claude Code PreToolUse / PostToolUse). */
export function hookTool(dir: string, id: string, phase: "start" | "end", now = Date.now()): void {
  const file = join(dir, `${HOOK_TOOL}${safeId(id)}`);
  try {
    mkdirSync(dir, { recursive: true });
    if (phase === "start") writeFileSync(file, "");
    else rmSync(file, { force: true });
    writeFileSync(join(dir, LAST), `${now} hook:${phase === "start" ? "tool-start" : "tool-end"}`);
  } catch {}
}

let toolSeq = 0;

/**
 * Marks a tool invocation: the watermark moves now, and the tool counts as active until the
 * returned function is called. Best effort: a tool never fails because of its bookkeeping.
 */
export function markToolActivity(dir: string | undefined, tool: string, now = Date.now): () => void {
  if (!dir) return () => {};
  const active = join(dir, `${ACTIVE}${process.pid}-${++toolSeq}`);
  const touch = () => {
    try {
      writeFileSync(join(dir, LAST), `${now()} tool:${tool}`);
    } catch {}
  };
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(active, tool);
  } catch {}
  touch();
  return () => {
    touch();
    rmSync(active, { force: true });
  };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
};

/**
 * The watermark `gt run` keeps: its own events (start, the CLI's event stream) merged with the
 * marks of `gt` tools and CLI hooks. A tool is open from its start event to its end; "idle" means
 * no open tool and no recent event, because a CLI prints nothing while a tool runs.
 */
export class SessionActivity {
  private last: { time: number; kind: string };
  private readonly open = new Map<string, string>();
  readonly dir: string;

  constructor(dir: string, now = Date.now()) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
    this.last = { time: now, kind: "start" };
  }

  touch(kind: string, now = Date.now()): void {
    this.last = { time: now, kind };
  }

  toolStarted(id: string, name: string, now = Date.now()): void {
    this.open.set(id, name);
    this.touch(`tool:${name}`, now);
  }

  toolEnded(id: string, now = Date.now()): void {
    const name = this.open.get(id);
    this.open.delete(id);
    rmSync(join(this.dir, `${HOOK_TOOL}${safeId(id)}`), { force: true });
    this.touch(`tool-end:${name ?? "tool"}`, now);
  }

  /** The CLI went back to the model: whatever a hook saw start has ended. */
  toolsSettled(): void {
    this.open.clear();
    try {
      for (const f of readdirSync(this.dir)) if (f.startsWith(HOOK_TOOL)) rmSync(join(this.dir, f), { force: true });
    } catch {}
  }

  current(): Activity {
    let best = this.last;
    let activeTools = this.open.size;
    try {
      const [time, kind] = readFileSync(join(this.dir, LAST), "utf8").split(" ");
      if (Number(time) > best.time && kind) best = { time: Number(time), kind };
    } catch {}
    try {
      const ids = new Set([...this.open.keys()].map(safeId));
      for (const f of readdirSync(this.dir)) {
        if (f.startsWith(HOOK_TOOL) && !ids.has(f.slice(HOOK_TOOL.length))) activeTools++;
        if (!f.startsWith(ACTIVE)) continue;
        // A tool killed mid-call leaves its mark behind; a dead pid does not count as active.
        if (alive(Number(f.slice(ACTIVE.length).split("-")[0]))) activeTools++;
        else rmSync(join(this.dir, f), { force: true });
      }
    } catch {}
    return { ...best, activeTools };
  }
}

export interface Heartbeat {
  /** Renews once now (also what the timer does). */
  beat(): Promise<void>;
  stop(): void;
}

/**
 * Renews the Lease now and then every `periodMs`. A failed renewal is logged and retried at the
 * next period, never fatal: a missed beat costs at most a re-dispatch, a dead session costs the work.
 */
export function startHeartbeat(o: {
  client: Pick<AgentClient, "heartbeat">;
  holder: string;
  periodMs: number;
  activity: () => Activity;
  /** More annotations for each renewal (usage, nudge delivery, outcome). */
  annotations?: () => Record<string, string>;
  log: (line: string) => void;
}): Heartbeat {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let failing = false;
  const beat = async () => {
    try {
      await o.client.heartbeat(o.holder, o.activity(), Date.now(), o.annotations?.() ?? {});
      if (failing) o.log("heartbeat renewed again");
      failing = false;
    } catch (e) {
      failing = true;
      o.log(`heartbeat failed (will retry): ${(e as Error).message}`);
    }
  };
  const loop = async () => {
    await beat();
    if (!stopped) timer = setTimeout(loop, o.periodMs).unref();
  };
  void loop();
  return {
    beat,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
