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

/** The watermark `gt run` keeps: its own events (start, agent output) merged with the tools' marks. */
export class SessionActivity {
  private last: { time: number; kind: string };
  readonly dir: string;

  constructor(dir: string, now = Date.now()) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true });
    this.last = { time: now, kind: "start" };
  }

  touch(kind: string, now = Date.now()): void {
    this.last = { time: now, kind };
  }

  current(): Activity {
    let best = this.last;
    let activeTools = 0;
    try {
      const [time, kind] = readFileSync(join(this.dir, LAST), "utf8").split(" ");
      if (Number(time) > best.time && kind) best = { time: Number(time), kind };
    } catch {}
    try {
      for (const f of readdirSync(this.dir)) {
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
  log: (line: string) => void;
}): Heartbeat {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let failing = false;
  const beat = async () => {
    try {
      await o.client.heartbeat(o.holder, o.activity());
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
