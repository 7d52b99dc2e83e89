// pi (pinned: @mariozechner/pi-coding-agent 0.73.1), in RPC mode: the assignment is the first
// `prompt` on stdin, and a nudge is a `steer` — delivered after the current tool calls, before the
// next model call. The provider is ours, in $HOME/.pi/agent/models.json; PI_OFFLINE stops update
// checks and telemetry. pi has no permission system: bash always runs.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type AgentEvent, baseEnv, hasTranscript, isObj, num, type Preset, parseJsonLine, statusIn } from "./types.ts";

export const PI_PROVIDER = "gastown";

export const pi: Preset = {
  cli: "pi",
  prepare(ctx) {
    const s = ctx.session;
    const dir = join(ctx.home, ".pi", "agent");
    mkdirSync(dir, { recursive: true });
    const model = s.agentModel ?? "default";
    const provider = {
      baseUrl: s.modelBaseURL ?? "https://api.openai.com/v1",
      api: s.modelApi ?? "openai-completions",
      apiKey: "GASTOWN_MODEL_API_KEY",
      compat: { supportsDeveloperRole: false, supportsReasoningEffort: false },
      models: [{ id: model }],
    };
    writeFileSync(join(dir, "models.json"), JSON.stringify({ providers: { [PI_PROVIDER]: provider } }, null, 2));
    const retries = s.agentMaxRetries;
    writeFileSync(
      join(dir, "settings.json"),
      JSON.stringify(
        {
          enableInstallTelemetry: false,
          steeringMode: "all",
          retry: { enabled: retries > 0, maxRetries: retries, baseDelayMs: 1000, provider: { maxRetries: 0 } },
        },
        null,
        2,
      ),
    );
    writeFileSync(join(dir, "AGENTS.md"), ctx.instructions);
  },
  launch(ctx, resume) {
    const s = ctx.session;
    return {
      argv: [
        "pi",
        "--mode",
        "rpc",
        "--provider",
        PI_PROVIDER,
        "--model",
        s.agentModel ?? "default",
        ...(resume ? ["--session", resume] : []),
        ...s.agentArgs,
      ],
      env: {
        ...baseEnv(ctx),
        PI_OFFLINE: "1",
        PI_TELEMETRY: "0",
        ...(ctx.apiKey ? { GASTOWN_MODEL_API_KEY: ctx.apiKey } : {}),
      },
      stdinLines: [JSON.stringify({ id: "assignment", type: "prompt", message: ctx.prompt })],
    };
  },
  // Only a conversation of this repository directory: given one of another directory, pi asks on
  // stdin whether to fork it (and, answered by the RPC prompt, exits "Aborted."). Pods always
  // work in /workspace/repo; the process runtime's sessions each have their own directory, so
  // there pi starts a new conversation with the checkpoint.
  resumable: (ctx, id) => hasTranscript(join(ctx.home, ".pi", "agent", "sessions", piProjectDir(ctx.repoDir)), id, 0),
  parser: () => parsePiLine,
  nudge: { via: "stdin", line: (text) => JSON.stringify({ type: "steer", message: text }) },
  endOnTurnEnd: true,
};

/** pi's directory of one working directory's sessions (getDefaultSessionDir in pi 0.73.1). */
export const piProjectDir = (cwd: string) => `--${cwd.replace(/^[/\\]/, "").replace(/[/\\:]/g, "-")}--`;

export function parsePiLine(line: string): AgentEvent[] {
  const e = parseJsonLine(line);
  if (!e) return [];
  switch (e.type) {
    case "session":
      return typeof e.id === "string" ? [{ kind: "session", id: e.id }] : [];
    case "turn_start":
      return [{ kind: "model-request" }];
    case "tool_execution_start":
      return [{ kind: "tool-start", id: String(e.toolCallId), name: String(e.toolName) }];
    case "tool_execution_end":
      return [{ kind: "tool-end", id: String(e.toolCallId), isError: e.isError === true }];
    case "message_update":
    case "message_start":
      return [{ kind: "message" }];
    case "message_end": {
      const m = isObj(e.message) ? e.message : {};
      if (m.role !== "assistant") return [{ kind: "message" }];
      const u = isObj(m.usage) ? m.usage : {};
      const cost = isObj(u.cost) ? num(u.cost.total) : 0;
      const out: AgentEvent[] = [
        {
          kind: "usage",
          usage: {
            inputTokens: num(u.input),
            outputTokens: num(u.output),
            cacheReadTokens: num(u.cacheRead),
            cacheWriteTokens: num(u.cacheWrite),
            costUSD: cost,
          },
        },
      ];
      if (m.stopReason === "error" || m.stopReason === "aborted") {
        const message = String(m.errorMessage ?? `the model call ended with ${m.stopReason}`);
        const status = statusIn(message);
        out.push({ kind: "error", message, ...(status ? { status } : {}) });
      }
      return out;
    }
    case "auto_retry_start": {
      const message = typeof e.errorMessage === "string" ? e.errorMessage : undefined;
      const status = message ? statusIn(message) : undefined;
      return [
        { kind: "retry", attempt: num(e.attempt), ...(status ? { status } : {}), ...(message ? { message } : {}) },
      ];
    }
    case "agent_end": {
      const messages = Array.isArray(e.messages) ? e.messages : [];
      const last = messages.filter((m) => isObj(m) && m.role === "assistant").at(-1);
      return [{ kind: "turn-end", ...(isObj(last) && last.stopReason === "error" ? { mayRetry: true } : {}) }];
    }
    case "response":
      return e.success === false
        ? [{ kind: "error", message: String(e.error ?? `pi refused ${String(e.command)}`) }]
        : [];
  }
  return [];
}
