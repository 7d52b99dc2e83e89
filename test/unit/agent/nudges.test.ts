// Which nudges a running session still has to receive, and the activity watermark's open tools:
// the stream's tools, a hook's tools (the hook process is gone by then), and "settled" on the next
// model request.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { hookTool, SessionActivity, touchActivity } from "../../../src/agent/heartbeat.ts";
import { takePendingNudges } from "../../../src/agent/hook.ts";
import { pendingNudges } from "../../../src/agent/nudges.ts";
import { PENDING_NUDGES } from "../../../src/agent/supervise.ts";
import type { Agent } from "../../../src/api/agent.ts";

const dir = mkdtempSync(join(tmpdir(), "gt-nudges-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const agent = (
  nudges: { tier: "warn" | "escalate"; time: string; message: string }[],
  user?: { id: string; message: string },
) =>
  ({
    metadata: { name: "gt-app-toast" },
    spec: { town: "gt", role: "Polecat", rig: "app", ...(user ? { nudge: user } : {}) },
    status: { nudges },
  }) as unknown as Agent;

describe("pendingNudges", () => {
  const start = Date.parse("2026-12-01T10:00:00.500Z");
  it.each([
    [
      "an older session's nudge is not repeated",
      [{ tier: "warn" as const, time: "2026-12-01T09:59:59Z", message: "old" }],
      undefined,
      [],
      [],
    ],
    [
      "one from the session's own second counts",
      [{ tier: "warn" as const, time: "2026-12-01T10:00:00Z", message: "now" }],
      undefined,
      [],
      ["warn@2026-12-01T10:00:00Z"],
    ],
    [
      "a delivered one is not sent again",
      [{ tier: "escalate" as const, time: "2026-12-01T10:05:00Z", message: "x" }],
      undefined,
      ["escalate@2026-12-01T10:05:00Z"],
      [],
    ],
    ["a user nudge, once per id", [], { id: "n1", message: "hi" }, [], ["user@n1"]],
    ["a user nudge already delivered", [], { id: "n1", message: "hi" }, ["user@n1"], []],
  ])("%s", (_what, nudges, user, delivered, keys) => {
    expect(pendingNudges(agent(nudges, user), start, new Set(delivered)).map((n) => n.key)).toEqual(keys);
  });
});

describe("the activity watermark", () => {
  it("counts the stream's open tools and a hook's, until the CLI goes back to the model", () => {
    const a = new SessionActivity(join(dir, "activity"), 1000);
    a.toolStarted("t1", "Bash", 2000);
    expect(a.current()).toMatchObject({ time: 2000, kind: "tool:Bash", activeTools: 1 });
    hookTool(a.dir, "t2", "start", 3000);
    expect(a.current()).toMatchObject({ time: 3000, kind: "hook:tool-start", activeTools: 2 });
    a.toolEnded("t1", 4000);
    expect(a.current()).toMatchObject({ time: 4000, activeTools: 1 });
    // The same tool seen by both sources counts once.
    a.toolStarted("t2", "Bash", 4500);
    expect(a.current().activeTools).toBe(1);
    a.toolsSettled();
    touchActivity(a.dir, "hook:PostToolUse", 5000);
    expect(a.current()).toMatchObject({ time: 5000, kind: "hook:PostToolUse", activeTools: 0 });
  });

  it("hands pending nudges to one hook only", async () => {
    const d = join(dir, "pending");
    const { mkdirSync, writeFileSync } = await import("node:fs");
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, PENDING_NUDGES), `${JSON.stringify("first")}\n${JSON.stringify("second")}\n`);
    expect(takePendingNudges(d)).toEqual(["first", "second"]);
    expect(takePendingNudges(d)).toEqual([]);
  });
});
