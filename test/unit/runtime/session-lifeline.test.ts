// The process runtime's lifeline: a session's process group dies with the operator (its stdin pipe
// reaching EOF is the one death notice that survives SIGKILL), and the command's exit is mirrored.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { groupGone, groupMembers } from "../../support/processes.ts";

const LIFELINE = join(import.meta.dirname, "..", "..", "..", "src", "runtime", "session-lifeline.ts");
const started: ChildProcess[] = [];

afterEach(() => {
  for (const c of started.splice(0)) {
    try {
      if (c.pid) process.kill(-c.pid, "SIGKILL");
    } catch {}
  }
});

/** The lifeline as the runtime starts it: a new process group, a pipe on stdin. */
function lifeline(graceMs: number, script: string) {
  const child = spawn(process.execPath, [LIFELINE, String(graceMs), "sh", "-c", script], {
    detached: true,
    stdio: ["pipe", "pipe", "pipe"],
  });
  started.push(child);
  let stdout = "";
  const ready = new Promise<void>((resolve) => {
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
      if (stdout.includes("ready")) resolve();
    });
  });
  const exit = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  return { child, ready, exit };
}

describe("session lifeline", () => {
  it("stops the whole process group when the operator's end of the pipe closes", async () => {
    const l = lifeline(5000, "sleep 1000 & sleep 1000 & echo ready; wait");
    await l.ready;
    const pgid = l.child.pid!;
    expect(groupMembers(pgid).length).toBeGreaterThanOrEqual(4); // lifeline, sh, two sleeps
    l.child.stdin.end(); // what the kernel does when the operator dies
    const [code, signal] = await l.exit;
    expect(signal ?? code).not.toBe(0);
    await groupGone(pgid);
  });

  it("kills what ignores SIGTERM once the grace period is over", async () => {
    const l = lifeline(300, "trap '' TERM; sleep 1000 & echo ready; wait");
    await l.ready;
    const pgid = l.child.pid!;
    l.child.stdin.end();
    const [, signal] = await l.exit;
    expect(signal).toBe("SIGKILL");
    await groupGone(pgid);
  });

  it("mirrors the command's exit code and its death by signal", async () => {
    const failed = lifeline(1000, "exit 7");
    expect(await failed.exit).toEqual([7, null]);
    const killed = lifeline(1000, "kill -TERM $$");
    expect(await killed.exit).toEqual([null, "SIGTERM"]);
  });

  it("passes a signal sent to it alone on to the command, and reports how it ended", async () => {
    const l = lifeline(1000, "echo ready; exec sleep 1000");
    await l.ready;
    l.child.kill("SIGTERM");
    expect(await l.exit).toEqual([null, "SIGTERM"]);
    await groupGone(l.child.pid!);
  });
});
