// Looking at processes from a test: who is in a process group, per `ps`. A process ending is not an
// event a test can subscribe to (it is not our child), so these poll with a deadline.
import { execFileSync } from "node:child_process";

export interface Proc {
  pid: number;
  pgid: number;
  stat: string;
  args: string;
}

/** Every live process (zombies excluded: they are dead, only waiting for their parent to reap them). */
export function processes(): Proc[] {
  const out = execFileSync("ps", ["-eo", "pid=,pgid=,stat=,args="], { encoding: "utf8" });
  return out
    .split("\n")
    .map((line) => line.trim().match(/^(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/))
    .filter((m): m is RegExpMatchArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), pgid: Number(m[2]), stat: m[3]!, args: m[4]! }))
    .filter((p) => !p.stat.startsWith("Z"));
}

export const groupMembers = (pgid: number) => processes().filter((p) => p.pgid === pgid);

/** Polls `check` every 50 ms until it holds; fails after `timeoutMs` saying what was awaited. */
export async function pollUntil(
  description: string | (() => string),
  check: () => boolean,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      const what = typeof description === "string" ? description : description();
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until no live process is left in the group. */
export function groupGone(pgid: number, timeoutMs?: number): Promise<void> {
  return pollUntil(
    () => `process group ${pgid} to be gone (left: ${JSON.stringify(groupMembers(pgid).map((p) => p.args))})`,
    () => groupMembers(pgid).length === 0,
    timeoutMs,
  );
}
