// `gt run` with a preset whose nudges go through the CLI's hook: the Lease says a nudge was
// delivered even when the CLI takes it and exits before the next heartbeat looks (a session that
// ends right after its last tool boundary).
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { AgentClient } from "../../../src/agent/client.ts";
import { ACTIVITY_DIR_ENV, SessionActivity } from "../../../src/agent/heartbeat.ts";
import type { Preset } from "../../../src/agent/presets/types.ts";
import { runPreset } from "../../../src/agent/run-preset.ts";
import { PENDING_NUDGES } from "../../../src/agent/supervise.ts";
import type { Agent } from "../../../src/api/agent.ts";
import { LEASE_ANNOTATIONS } from "../../../src/controller/resources.ts";
import { createOrigin, type Origin, session } from "./fixtures.ts";

const MAIN = join(import.meta.dirname, "..", "..", "..", "src", "agent", "main.ts");

/**
 * A CLI that waits (at most 10 s) for a queued nudge, runs the real `gt hook PostToolUse` once —
 * which takes the nudge, as Claude Code's hook does at a tool boundary — and exits at once.
 */
const hookThenExit: Preset = {
  cli: "claude-code",
  prepare() {},
  launch: () => ({
    argv: [
      "sh",
      "-c",
      `i=0; while [ ! -f "$${ACTIVITY_DIR_ENV}/${PENDING_NUDGES}" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
       "$0" "$1" hook PostToolUse </dev/null >/dev/null`,
      process.execPath,
      MAIN,
    ],
    env: {},
  }),
  resumable: () => false,
  parser: () => () => [],
  nudge: { via: "hook" },
};

let origin: Origin | undefined;
afterEach(() => {
  if (origin) rmSync(origin.root, { recursive: true, force: true });
  origin = undefined;
});

describe("gt run: a hook-delivered nudge", () => {
  it("is recorded on the Lease although the CLI exited before the next heartbeat", async () => {
    origin = createOrigin();
    const o = origin;
    // One poll at start, the next a minute later: only the end of the run can notice the hook.
    const s = session(o, { heartbeatPeriodSeconds: "60" });
    const gtDir = mkdtempSync(join(tmpdir(), "gt-run-preset-"));
    const activity = new SessionActivity(join(gtDir, "activity"));
    mkdirSync(activity.dir, { recursive: true });
    const agent = {
      metadata: { name: s.agent },
      spec: { role: "Polecat", nudge: { id: "n1", message: "mention it in the changelog" } },
    } as unknown as Agent;
    const client = {
      lease: async () => ({ metadata: { annotations: {} } }),
      agent: async () => agent,
    } as unknown as AgentClient;
    let annotations: () => Record<string, string> = () => ({});
    const beats: Record<string, string>[] = [];
    const lines: string[] = [];
    try {
      await runPreset({
        preset: hookThenExit,
        session: s,
        client,
        heartbeat: {
          beat: async () => {
            beats.push(annotations());
          },
          stop() {},
        },
        setAnnotations: (f) => {
          annotations = f;
        },
        activity,
        repoDir: o.root,
        gtDir,
        gt: "gt",
        env: { ...process.env, [ACTIVITY_DIR_ENV]: activity.dir },
        onSignal() {},
        log: (l) => lines.push(l),
      });
    } finally {
      rmSync(gtDir, { recursive: true, force: true });
    }
    expect(lines).toContain("nudge user@n1 queued for the next tool boundary");
    expect(lines).toContain("nudge user@n1 delivered (hook)");
    const last = beats.at(-1) ?? {};
    expect(JSON.parse(last[LEASE_ANNOTATIONS.nudgeDelivered] ?? "{}")).toMatchObject({ key: "user@n1", via: "hook" });
    expect(last[LEASE_ANNOTATIONS.userNudgeDelivered]).toBe("n1");
  }, 30_000);
});
