// Claude Code (pinned: @anthropic-ai/claude-code 2.1.328). `claude -p` with stream-json output.
// Permissions: an allowlist with `--permission-mode dontAsk` works as the pod's non-root user and as
// root (where --dangerously-skip-permissions is refused); a tool outside the list is denied, and a
// denial is reported from result.permission_denials (the exit code stays 0). Nudges go in through
// PostToolUse/UserPromptSubmit hooks that run `gt hook`, which also heartbeats tool boundaries.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  type AgentEvent,
  baseEnv,
  hasTranscript,
  isObj,
  type Json,
  num,
  type Preset,
  parseJsonLine,
  statusIn,
} from "./types.ts";

/** The tools a session may use without asking: edit, read, search, shell. No web, no subagents. */
export const CLAUDE_ALLOWED_TOOLS = ["Bash", "Edit", "Write", "Read", "Glob", "Grep", "NotebookEdit", "TodoWrite"];

const HOOK_EVENTS = ["SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "PostToolUseFailure"];

export const claudeCode: Preset = {
  cli: "claude-code",
  prepare(ctx) {
    const dir = join(ctx.home, ".claude");
    mkdirSync(dir, { recursive: true });
    const hooks = Object.fromEntries(
      HOOK_EVENTS.map((event) => [
        event,
        [{ matcher: "", hooks: [{ type: "command", command: `${ctx.gt} hook ${event}`, timeout: 30 }] }],
      ]),
    );
    // Transcripts older than a week go: the agent's HOME is kept, and a bead held longer than that
    // (a budget, a blocker) starts a new conversation with its checkpoint.
    writeFileSync(join(dir, "settings.json"), JSON.stringify({ hooks, cleanupPeriodDays: 7 }, null, 2));
    writeFileSync(join(dir, "CLAUDE.md"), ctx.instructions);
    // Onboarding, trust and the API key settled, so nothing waits for a person or calls home.
    // Rewritten whole: only this session's key is approved, only its repository trusted.
    const key = ctx.apiKey ?? "";
    writeFileSync(
      join(ctx.home, ".claude.json"),
      JSON.stringify({
        hasCompletedOnboarding: true,
        bypassPermissionsModeAccepted: true,
        autoUpdates: false,
        projects: { [ctx.repoDir]: { hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true } },
        ...(key ? { customApiKeyResponses: { approved: [key.slice(-20)], rejected: [] } } : {}),
      }),
    );
  },
  launch(ctx, resume) {
    const s = ctx.session;
    const env: Record<string, string> = {
      ...baseEnv(ctx),
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: "1",
      DISABLE_TELEMETRY: "1",
      DISABLE_AUTOUPDATER: "1",
      DISABLE_ERROR_REPORTING: "1",
      DISABLE_BUG_COMMAND: "1",
      CLAUDE_CODE_MAX_RETRIES: String(s.agentMaxRetries),
      ...(s.modelBaseURL ? { ANTHROPIC_BASE_URL: s.modelBaseURL } : {}),
      ...(ctx.apiKey ? { ANTHROPIC_API_KEY: ctx.apiKey } : {}),
    };
    const argv = [
      "claude",
      "-p",
      ctx.prompt,
      "--output-format",
      "stream-json",
      "--verbose",
      "--include-partial-messages",
      "--permission-mode",
      "dontAsk",
      "--allowedTools",
      CLAUDE_ALLOWED_TOOLS.join(","),
      ...(s.agentModel ? ["--model", s.agentModel] : []),
      ...(resume ? ["--resume", resume] : []),
      ...s.agentArgs,
    ];
    return { argv, env };
  },
  resumable: (ctx, id) => hasTranscript(join(ctx.home, ".claude", "projects"), id, 2),
  parser: claudeParser,
  nudge: { via: "hook" },
};

export function claudeParser(): (line: string) => AgentEvent[] {
  // Per message: usage arrives in message_start (input, cache) and message_delta (output so far).
  const outputSoFar = new Map<string, number>();
  let currentMessage = "";
  return (line) =>
    parseClaudeLine(line, outputSoFar, (id) => {
      if (id !== undefined) currentMessage = id;
      return currentMessage;
    });
}

function parseClaudeLine(
  line: string,
  outputSoFar: Map<string, number>,
  message: (id?: string) => string,
): AgentEvent[] {
  const e = parseJsonLine(line);
  if (!e) return [];
  const out: AgentEvent[] = [];
  switch (e.type) {
    case "system": {
      if (e.subtype === "init" && typeof e.session_id === "string") out.push({ kind: "session", id: e.session_id });
      else if (e.subtype === "status" && e.status === "requesting") out.push({ kind: "model-request" });
      else if (e.subtype === "api_retry") {
        const message = typeof e.error === "string" ? e.error : isObj(e.error) ? JSON.stringify(e.error) : undefined;
        const status = num(e.error_status) || (message ? statusIn(message) : undefined);
        out.push({
          kind: "retry",
          attempt: num(e.attempt),
          ...(status ? { status } : {}),
          ...(message ? { message } : {}),
        });
      }
      break;
    }
    case "stream_event": {
      const ev = isObj(e.event) ? e.event : {};
      if (ev.type === "message_start" && isObj(ev.message)) {
        const m = ev.message;
        const currentMessage = message(String(m.id ?? ""));
        const u = isObj(m.usage) ? m.usage : {};
        out.push({ kind: "model-request" });
        out.push({
          kind: "usage",
          usage: {
            inputTokens: num(u.input_tokens),
            cacheReadTokens: num(u.cache_read_input_tokens),
            cacheWriteTokens: num(u.cache_creation_input_tokens),
            outputTokens: num(u.output_tokens),
          },
        });
        outputSoFar.set(currentMessage, num(u.output_tokens));
      } else if (ev.type === "message_delta" && isObj(ev.usage)) {
        const total = num(ev.usage.output_tokens);
        const before = outputSoFar.get(message()) ?? 0;
        if (total > before) out.push({ kind: "usage", usage: { outputTokens: total - before } });
        outputSoFar.set(message(), Math.max(total, before));
      } else out.push({ kind: "message" });
      break;
    }
    case "assistant": {
      const content = isObj(e.message) && Array.isArray(e.message.content) ? (e.message.content as Json[]) : [];
      out.push({ kind: "message" });
      for (const c of content)
        if (c.type === "tool_use") out.push({ kind: "tool-start", id: String(c.id), name: String(c.name) });
      if (typeof e.error === "string") {
        const text = content.map((c) => (typeof c.text === "string" ? c.text : "")).join(" ");
        const status = statusIn(text) ?? (e.error === "authentication_failed" ? 401 : undefined);
        out.push({ kind: "error", message: text || e.error, ...(status ? { status } : {}) });
      }
      break;
    }
    case "user": {
      const content = isObj(e.message) && Array.isArray(e.message.content) ? (e.message.content as Json[]) : [];
      for (const c of content)
        if (c.type === "tool_result")
          out.push({ kind: "tool-end", id: String(c.tool_use_id), isError: c.is_error === true });
      break;
    }
    case "result": {
      const u = isObj(e.usage) ? e.usage : {};
      out.push({
        kind: "total-usage",
        usage: {
          inputTokens: num(u.input_tokens),
          outputTokens: num(u.output_tokens),
          cacheReadTokens: num(u.cache_read_input_tokens),
          cacheWriteTokens: num(u.cache_creation_input_tokens),
          costUSD: num(e.total_cost_usd),
        },
      });
      for (const d of Array.isArray(e.permission_denials) ? (e.permission_denials as Json[]) : [])
        out.push({ kind: "denied", tool: String(d.tool_name ?? "a tool") });
      const message = typeof e.result === "string" ? e.result : undefined;
      if (e.is_error === true && message) {
        const status = statusIn(message);
        out.push({ kind: "error", message, ...(status ? { status } : {}) });
      }
      out.push({ kind: "result", isError: e.is_error === true, ...(message ? { message } : {}) });
      out.push({ kind: "turn-end" });
      break;
    }
  }
  return out;
}
