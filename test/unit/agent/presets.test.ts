// The presets' stream parsers, on lines the pinned CLIs printed against the scripted model, and
// the outcome classification: every class, including the exits that look fine and are not.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  classifyOutcome,
  EXIT_CONFIG,
  EXIT_TEMPFAIL,
  outcomeTermination,
  type SessionFacts,
} from "../../../src/agent/outcome.ts";
import { claudeCode, claudeParser } from "../../../src/agent/presets/claude-code.ts";
import { codex, parseCodexLine } from "../../../src/agent/presets/codex.ts";
import { parsePiLine, pi } from "../../../src/agent/presets/pi.ts";
import { type AgentEvent, hasTranscript, type PresetContext, statusIn } from "../../../src/agent/presets/types.ts";
import { writeTermination } from "../../../src/agent/termination.ts";

const line = (o: unknown) => JSON.stringify(o);

describe("Claude Code stream-json", () => {
  it("turns init, requests, tool use and results, retries and the result into events", () => {
    const parse = claudeParser();
    const events = [
      line({ type: "system", subtype: "init", session_id: "s-1", tools: ["Bash"] }),
      line({ type: "system", subtype: "status", status: "requesting" }),
      line({
        type: "stream_event",
        event: {
          type: "message_start",
          message: {
            id: "m1",
            usage: { input_tokens: 100, cache_read_input_tokens: 50, cache_creation_input_tokens: 5, output_tokens: 1 },
          },
        },
      }),
      line({ type: "stream_event", event: { type: "message_delta", usage: { output_tokens: 20 } } }),
      line({
        type: "assistant",
        message: { id: "m1", content: [{ type: "tool_use", id: "t1", name: "Bash", input: {} }] },
      }),
      line({ type: "user", message: { content: [{ type: "tool_result", tool_use_id: "t1", is_error: true }] } }),
      line({
        type: "system",
        subtype: "api_retry",
        attempt: 1,
        max_retries: 2,
        retry_delay_ms: 500,
        error_status: 529,
      }),
      line({
        type: "result",
        subtype: "success",
        is_error: false,
        result: "ok",
        total_cost_usd: 0.25,
        usage: { input_tokens: 117, output_tokens: 28, cache_read_input_tokens: 50, cache_creation_input_tokens: 5 },
        permission_denials: [{ tool_name: "Bash" }],
      }),
      "not json at all",
    ].flatMap(parse);
    expect(events).toEqual<AgentEvent[]>([
      { kind: "session", id: "s-1" },
      { kind: "model-request" },
      { kind: "model-request" },
      { kind: "usage", usage: { inputTokens: 100, cacheReadTokens: 50, cacheWriteTokens: 5, outputTokens: 1 } },
      { kind: "usage", usage: { outputTokens: 19 } },
      { kind: "message" },
      { kind: "tool-start", id: "t1", name: "Bash" },
      { kind: "tool-end", id: "t1", isError: true },
      { kind: "retry", attempt: 1, status: 529 },
      {
        kind: "total-usage",
        usage: { inputTokens: 117, outputTokens: 28, cacheReadTokens: 50, cacheWriteTokens: 5, costUSD: 0.25 },
      },
      { kind: "denied", tool: "Bash" },
      { kind: "result", isError: false, message: "ok" },
      { kind: "turn-end" },
    ]);
  });

  it("reads an auth failure from the result", () => {
    const events = claudeParser()(
      line({ type: "result", is_error: true, result: 'Failed to authenticate. API Error: 401 {"type":"error"}' }),
    );
    expect(events).toContainEqual(expect.objectContaining({ kind: "error", status: 401 }));
  });
});

describe("Codex --json", () => {
  it("turns items and turns into events, usage without the cached part in input", () => {
    const events = [
      line({ type: "thread.started", thread_id: "th-1" }),
      line({ type: "turn.started" }),
      line({ type: "item.started", item: { id: "i1", type: "command_execution", command: "ls" } }),
      line({ type: "item.completed", item: { id: "i1", type: "command_execution", exit_code: 2 } }),
      line({ type: "item.completed", item: { id: "i2", type: "agent_message", text: "done" } }),
      line({ type: "turn.completed", usage: { input_tokens: 167, cached_input_tokens: 50, output_tokens: 28 } }),
      line({ type: "error", message: "Reconnecting... 1/2 (unexpected status 529 Overloaded)" }),
      line({ type: "turn.failed", error: { message: "unexpected status 401 Unauthorized: bad key" } }),
    ].flatMap(parseCodexLine);
    expect(events).toEqual<AgentEvent[]>([
      { kind: "session", id: "th-1" },
      { kind: "model-request" },
      { kind: "tool-start", id: "i1", name: "command_execution" },
      { kind: "tool-end", id: "i1", isError: true },
      { kind: "message" },
      { kind: "usage", usage: { inputTokens: 117, cacheReadTokens: 50, cacheWriteTokens: 0, outputTokens: 28 } },
      { kind: "turn-end" },
      { kind: "retry", attempt: 1, status: 529, message: "Reconnecting... 1/2 (unexpected status 529 Overloaded)" },
      { kind: "error", status: 401, message: "unexpected status 401 Unauthorized: bad key" },
    ]);
  });
});

describe("pi --mode rpc", () => {
  it("turns tool executions, assistant messages with usage and errors into events", () => {
    const events = [
      line({ type: "session", id: "p-1" }),
      line({ type: "turn_start" }),
      line({ type: "tool_execution_start", toolCallId: "c1", toolName: "bash", args: {} }),
      line({ type: "tool_execution_end", toolCallId: "c1", isError: false }),
      line({ type: "message_end", message: { role: "toolResult" } }),
      line({
        type: "message_end",
        message: {
          role: "assistant",
          usage: { input: 100, output: 20, cacheRead: 50, cacheWrite: 0, cost: { total: 0.5 } },
          stopReason: "stop",
        },
      }),
      line({
        type: "message_end",
        message: { role: "assistant", usage: {}, stopReason: "error", errorMessage: "401 invalid api key" },
      }),
      line({ type: "agent_end" }),
      line({ type: "response", command: "prompt", success: true }),
    ].flatMap(parsePiLine);
    expect(events).toEqual<AgentEvent[]>([
      { kind: "session", id: "p-1" },
      { kind: "model-request" },
      { kind: "tool-start", id: "c1", name: "bash" },
      { kind: "tool-end", id: "c1", isError: false },
      { kind: "message" },
      {
        kind: "usage",
        usage: { inputTokens: 100, outputTokens: 20, cacheReadTokens: 50, cacheWriteTokens: 0, costUSD: 0.5 },
      },
      {
        kind: "usage",
        usage: { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costUSD: 0 },
      },
      { kind: "error", status: 401, message: "401 invalid api key" },
      { kind: "turn-end" },
    ]);
  });
});

describe("statusIn", () => {
  it.each([
    ["API Error: 401 invalid x-api-key", 401],
    ["unexpected status 403 Forbidden", 403],
    ["429 Too Many Requests", 429],
    ["overloaded (529)", 529],
    ["port 4010 refused", undefined],
    ["1401 items", undefined],
  ])("%s → %s", (text, status) => expect(statusIn(text)).toBe(status));
});

describe("classifyOutcome", () => {
  const base: SessionFacts = {
    exitCode: 0,
    signal: null,
    reported: [],
    events: [],
    role: "Polecat",
    keySecret: "model-key/api-key",
  };
  it.each<[string, Partial<SessionFacts>, string, number]>([
    ["a Done report, whatever the exit", { reported: ["Done"], exitCode: 1 }, "Completed", 0],
    [
      "a refinery that asked for changes and released itself",
      { role: "Refinery", reported: ["RequestChanges", "Done"] },
      "Completed",
      0,
    ],
    ["exit 0 without gt done", {}, "Lost", 1],
    ["exit 0 with only a checkpoint", { reported: ["Checkpoint"] }, "Lost", 1],
    [
      "a 401, even after a retry",
      { exitCode: 1, events: [{ kind: "error", status: 401, message: "invalid key" }] },
      "AuthError",
      EXIT_CONFIG,
    ],
    ["a 403", { exitCode: 1, events: [{ kind: "retry", attempt: 1, status: 403 }] }, "AuthError", EXIT_CONFIG],
    [
      "retries of 529 that ran out",
      {
        exitCode: 1,
        events: [
          { kind: "retry", attempt: 1, status: 529 },
          { kind: "retry", attempt: 2, status: 529 },
        ],
      },
      "Overloaded",
      EXIT_TEMPFAIL,
    ],
    [
      "a 429",
      { exitCode: 1, events: [{ kind: "error", status: 429, message: "slow down" }] },
      "RateLimited",
      EXIT_TEMPFAIL,
    ],
    [
      "connection refused",
      { exitCode: 1, events: [{ kind: "error", message: "Unable to connect to API (ECONNREFUSED)" }] },
      "ModelUnreachable",
      EXIT_TEMPFAIL,
    ],
    [
      "a silently denied tool: exit 0, denial only in the result",
      {
        events: [
          { kind: "denied", tool: "Bash" },
          { kind: "result", isError: false },
        ],
      },
      "PermissionDenied",
      EXIT_CONFIG,
    ],
    ["is_error with exit 0", { events: [{ kind: "result", isError: true, message: "boom" }] }, "AgentError", 1],
    ["a crash", { exitCode: 3 }, "AgentError", 3],
    ["a stop", { exitCode: null, signal: "SIGTERM" }, "Interrupted", 143],
    [
      "529s that were retried away, then a lost session",
      { events: [{ kind: "retry", attempt: 1, status: 529 }] },
      "Lost",
      1,
    ],
  ])("%s", (_what, facts, cls, exitCode) => {
    const o = classifyOutcome({ ...base, ...facts });
    expect(o.class).toBe(cls);
    expect(o.exitCode).toBe(exitCode);
  });

  it("names the Secret of the key on an auth error, and the tool on a denial", () => {
    expect(
      classifyOutcome({ ...base, exitCode: 1, events: [{ kind: "error", status: 401, message: "x" }] }).message,
    ).toContain("Secret model-key, key api-key");
    expect(classifyOutcome({ ...base, events: [{ kind: "denied", tool: "Bash" }] }).message).toContain("denied Bash");
  });
});

describe("pinned versions", () => {
  it("the agent image installs the CLI versions the tests run (package.json devDependencies)", () => {
    const root = join(import.meta.dirname, "..", "..", "..");
    const dockerfile = readFileSync(join(root, "images", "agent", "Dockerfile"), "utf8");
    const dev = (
      JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { devDependencies: Record<string, string> }
    ).devDependencies;
    const arg = (name: string) => dockerfile.match(new RegExp(`^ARG ${name}=(\\S+)$`, "m"))?.[1];
    expect(arg("CLAUDE_CODE_VERSION")).toBe(dev["@anthropic-ai/claude-code"]);
    expect(arg("CODEX_VERSION")).toBe(dev["@openai/codex"]);
    expect(arg("PI_VERSION")).toBe(dev["@mariozechner/pi-coding-agent"]);
  });
});

describe("session continuity", () => {
  it("resumes a conversation only where its transcript is in the session's HOME", () => {
    const home = mkdtempSync(join(tmpdir(), "gt-presets-"));
    try {
      const ctx = { home, repoDir: "/workspace/repo" } as PresetContext;
      const id = "01a233d0-f5f5-7121-a5bd-7c7a292caaad";
      for (const p of [claudeCode, codex, pi]) expect(p.resumable(ctx, id), p.cli).toBe(false);
      mkdirSync(join(home, ".claude", "projects", "-repo"), { recursive: true });
      writeFileSync(join(home, ".claude", "projects", "-repo", `${id}.jsonl`), "{}\n");
      mkdirSync(join(home, ".codex", "sessions", "2026", "12", "01"), { recursive: true });
      writeFileSync(
        join(home, ".codex", "sessions", "2026", "12", "01", `rollout-2026-12-01T22-00-00-${id}.jsonl`),
        "",
      );
      // pi: only a conversation of this very directory (it would ask on stdin to fork another's).
      mkdirSync(join(home, ".pi", "agent", "sessions", "--elsewhere-repo--"), { recursive: true });
      writeFileSync(join(home, ".pi", "agent", "sessions", "--elsewhere-repo--", `2026-12-01_${id}.jsonl`), "");
      expect(pi.resumable(ctx, id)).toBe(false);
      mkdirSync(join(home, ".pi", "agent", "sessions", "--workspace-repo--"), { recursive: true });
      writeFileSync(join(home, ".pi", "agent", "sessions", "--workspace-repo--", `2026-12-01_${id}.jsonl`), "");
      for (const p of [claudeCode, codex, pi]) expect(p.resumable(ctx, id), p.cli).toBe(true);
      expect(hasTranscript(home, "../../etc")).toBe(false);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });
});

describe("the termination message", () => {
  it("writes one JSON line for a failed outcome, with a kind the operator acts on", () => {
    const dir = mkdtempSync(join(tmpdir(), "gt-termination-"));
    try {
      const path = join(dir, "termination-log");
      const auth = classifyOutcome({
        exitCode: 1,
        signal: null,
        reported: [],
        events: [{ kind: "error", status: 401, message: "invalid x-api-key" }],
        role: "Polecat",
        keySecret: "model-key/api-key",
      });
      writeTermination(outcomeTermination(auth)!, { GT_TERMINATION_LOG: path });
      expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({
        reason: "ModelAuthFailed",
        kind: "Configuration",
        message: expect.stringContaining("Secret model-key, key api-key"),
      });
      expect(outcomeTermination({ class: "Overloaded", message: "529", exitCode: 75 })?.kind).toBe("Transient");
      expect(outcomeTermination({ class: "Completed", message: "ok", exitCode: 0 })).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
