// Codex (pinned: @openai/codex 0.169.0). `codex exec --json`, configured by $CODEX_HOME/config.toml:
// our provider with capped retries, no update check, no analytics; plugins, remote plugins and apps
// disabled on the command line (they would reach the vendor's and the code host's servers). Codex
// runs its own sandbox; the session is already confined (a pod, or the process runtime's user), so
// it is bypassed, which also works as root. A nudge interrupts the turn and resumes the
// conversation with the nudge as the next prompt (`codex exec resume`).
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
  type PresetContext,
  parseJsonLine,
  statusIn,
} from "./types.ts";

const KEY_ENV = "GASTOWN_MODEL_API_KEY";
const TOOL_ITEMS = new Set(["command_execution", "file_change", "mcp_tool_call", "web_search", "collab_tool_call"]);

const toml = (s: string) => JSON.stringify(s);

function codexHome(ctx: PresetContext): string {
  return join(ctx.home, ".codex");
}

function env(ctx: PresetContext): Record<string, string> {
  return { ...baseEnv(ctx), CODEX_HOME: codexHome(ctx), ...(ctx.apiKey ? { [KEY_ENV]: ctx.apiKey } : {}) };
}

const FLAGS = [
  "--json",
  "--dangerously-bypass-approvals-and-sandbox",
  "--skip-git-repo-check",
  "--disable",
  "plugins",
  "--disable",
  "remote_plugin",
  "--disable",
  "apps",
];

export const codex: Preset = {
  cli: "codex",
  prepare(ctx) {
    const s = ctx.session;
    const dir = codexHome(ctx);
    mkdirSync(dir, { recursive: true });
    const retries = s.agentMaxRetries;
    const lines = [
      ...(s.agentModel ? [`model = ${toml(s.agentModel)}`] : []),
      `model_provider = "gastown"`,
      "check_for_update_on_startup = false",
      `approval_policy = "never"`,
      "[analytics]",
      "enabled = false",
      "[model_providers.gastown]",
      `name = "gastown"`,
      `base_url = ${toml(s.modelBaseURL ?? "https://api.openai.com/v1")}`,
      `env_key = ${toml(KEY_ENV)}`,
      `wire_api = "responses"`,
      `request_max_retries = ${retries}`,
      `stream_max_retries = ${retries}`,
    ];
    writeFileSync(join(dir, "config.toml"), `${lines.join("\n")}\n`);
    writeFileSync(join(dir, "AGENTS.md"), ctx.instructions);
  },
  launch(ctx, resume) {
    const argv = resume
      ? ["codex", "exec", "resume", ...FLAGS, ...ctx.session.agentArgs, resume, ctx.prompt]
      : ["codex", "exec", ...FLAGS, ...ctx.session.agentArgs, ctx.prompt];
    return { argv, env: env(ctx) };
  },
  resumable: (ctx, id) => hasTranscript(join(codexHome(ctx), "sessions"), id, 4),
  parser: () => parseCodexLine,
  nudge: {
    via: "resume",
    launch: (ctx, id, text) => ({
      argv: ["codex", "exec", "resume", ...FLAGS, ...ctx.session.agentArgs, id, text],
      env: env(ctx),
    }),
  },
};

export function parseCodexLine(line: string): AgentEvent[] {
  const e = parseJsonLine(line);
  if (!e) return [];
  const item = isObj(e.item) ? (e.item as Json) : undefined;
  switch (e.type) {
    case "thread.started":
      return typeof e.thread_id === "string" ? [{ kind: "session", id: e.thread_id }] : [];
    case "turn.started":
      return [{ kind: "model-request" }];
    case "item.started":
      return item && TOOL_ITEMS.has(String(item.type))
        ? [{ kind: "tool-start", id: String(item.id), name: String(item.type) }]
        : [{ kind: "message" }];
    case "item.completed": {
      if (item && TOOL_ITEMS.has(String(item.type))) {
        const failed = item.status === "failed" || (typeof item.exit_code === "number" && item.exit_code !== 0);
        return [{ kind: "tool-end", id: String(item.id), isError: failed }];
      }
      return [{ kind: "message" }];
    }
    case "turn.completed": {
      const u = isObj(e.usage) ? e.usage : {};
      const cached = num(u.cached_input_tokens);
      return [
        {
          kind: "usage",
          usage: {
            inputTokens: Math.max(0, num(u.input_tokens) - cached),
            cacheReadTokens: cached,
            cacheWriteTokens: num(u.cache_write_input_tokens),
            outputTokens: num(u.output_tokens),
          },
        },
        { kind: "turn-end" },
      ];
    }
    case "turn.failed":
    case "error": {
      const err = isObj(e.error) ? e.error : undefined;
      const message = String(err?.message ?? e.message ?? "codex reported an error");
      const status = statusIn(message);
      // "Reconnecting... 2/5" is codex telling it retries; the final failure comes as turn.failed.
      const retry = message.match(/Reconnecting\.\.\. (\d+)\/(\d+)/);
      if (retry) return [{ kind: "retry", attempt: Number(retry[1]), ...(status ? { status } : {}), message }];
      return [{ kind: "error", message, ...(status ? { status } : {}) }];
    }
  }
  return [];
}
