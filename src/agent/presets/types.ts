// What `gt run` needs to know about one coding-agent CLI: how to configure it in the agent's own
// HOME, the autonomous non-interactive command line, how to read its event stream, and how a nudge
// reaches it while it runs. One file per CLI; they change with the CLI's version, which is pinned.

import { type Dirent, readdirSync } from "node:fs";
import { join } from "node:path";
import type { SessionEnv } from "../../api/session.ts";
import type { AgentCli } from "../../api/town.ts";

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  costUSD: number;
}

export const NO_USAGE: Usage = { inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costUSD: 0 };

export function addUsage(a: Usage, b: Partial<Usage>): Usage {
  return {
    inputTokens: a.inputTokens + (b.inputTokens ?? 0),
    outputTokens: a.outputTokens + (b.outputTokens ?? 0),
    cacheReadTokens: a.cacheReadTokens + (b.cacheReadTokens ?? 0),
    cacheWriteTokens: a.cacheWriteTokens + (b.cacheWriteTokens ?? 0),
    costUSD: a.costUSD + (b.costUSD ?? 0),
  };
}

export const totalTokens = (u: Usage) => u.inputTokens + u.outputTokens + u.cacheReadTokens + u.cacheWriteTokens;

/** One thing a CLI's event stream said, in the CLI-independent words of the supervisor. */
export type AgentEvent =
  | { kind: "session"; id: string }
  | { kind: "model-request" }
  | { kind: "message" }
  | { kind: "tool-start"; id: string; name: string }
  | { kind: "tool-end"; id: string; isError: boolean }
  /** Usage of one model answer, added to the session's total. */
  | { kind: "usage"; usage: Partial<Usage> }
  /** The CLI's own account of the whole run: replaces the sum of the answers when present. */
  | { kind: "total-usage"; usage: Usage }
  | { kind: "retry"; attempt: number; status?: number; message?: string }
  | { kind: "error"; status?: number; message: string }
  | { kind: "denied"; tool: string }
  | { kind: "result"; isError: boolean; message?: string }
  /**
   * The agent finished its turn: it waits for a prompt (pi RPC) or is about to exit. `mayRetry`:
   * the turn ended on a model error, and the CLI may still retry it on its own (pi does, after
   * announcing the end).
   */
  | { kind: "turn-end"; mayRetry?: boolean };

export interface PresetContext {
  session: SessionEnv;
  home: string;
  repoDir: string;
  /** The standing instructions (role, rules, tools), for the CLI's instruction file. */
  instructions: string;
  /** The assignment: the first prompt. */
  prompt: string;
  apiKey?: string;
  /** The command a hook runs to reach `gt` (the shim on PATH). */
  gt: string;
  /** Running as root (the process runtime on a developer's machine, or a CI container). */
  root: boolean;
}

export interface Launch {
  argv: string[];
  env: Record<string, string>;
  /** Lines written to the CLI's stdin at start; stdin stays open for later lines (RPC). */
  stdinLines?: string[];
}

export interface Preset {
  cli: Exclude<AgentCli, "custom">;
  /**
   * Writes the CLI's configuration and instruction file into the agent's HOME. That HOME is kept
   * across the agent's sessions (for the transcripts a resume needs), so every file written here is
   * written whole, each session: nothing of an earlier session's hooks, instructions, provider or
   * key approval survives in it.
   */
  prepare(ctx: PresetContext): void;
  /** The first run; `resume` continues an earlier conversation of this CLI. */
  launch(ctx: PresetContext, resume?: string): Launch;
  /**
   * Whether the conversation `id` can be resumed from this HOME (its transcript is there: a
   * persistent workspace, or the same session); otherwise the session starts afresh.
   */
  resumable(ctx: PresetContext, id: string): boolean;
  /** A parser of the CLI's stdout, one line at a time (it may keep state across lines). */
  parser(): (line: string) => AgentEvent[];
  /**
   * How a nudge reaches the running session: `hook` (the CLI's own hooks read the pending nudges
   * at the next tool boundary), `stdin` (a line to write, e.g. an RPC steer), `resume` (interrupt
   * the turn and continue the conversation with the nudge as the next prompt).
   */
  nudge:
    | { via: "hook" }
    | { via: "stdin"; line(text: string): string }
    | { via: "resume"; launch(ctx: PresetContext, id: string, text: string): Launch };
  /** Closes the session once its turn ended (RPC CLIs wait for more input otherwise). */
  endOnTurnEnd?: boolean;
}

export type Json = Record<string, unknown>;
export const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
export const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : 0);

export function parseJsonLine(line: string): Json | undefined {
  const t = line.trim();
  if (!t.startsWith("{")) return undefined;
  try {
    const v: unknown = JSON.parse(t);
    return isObj(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** An HTTP status named in an error message ("401 Unauthorized", "status 529", "API Error: 429"). */
export function statusIn(message: string): number | undefined {
  const m = message.match(/\b(40[13]|429|5(?:0[0-4]|29))\b/);
  return m ? Number(m[1]) : undefined;
}

/** Is there a file whose name contains `id` under `root` (a few levels deep)? */
export function hasTranscript(root: string, id: string, depth = 4): boolean {
  if (!/^[A-Za-z0-9-]{8,}$/.test(id)) return false;
  const walk = (dir: string, left: number): boolean => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return false;
    }
    for (const e of entries) {
      if (e.isFile() && e.name.includes(id)) return true;
      if (e.isDirectory() && left > 0 && walk(join(dir, e.name), left - 1)) return true;
    }
    return false;
  };
  return walk(root, depth);
}

/** The common part of every preset's environment: no telemetry, no update checks, the git identity. */
export function baseEnv(ctx: PresetContext): Record<string, string> {
  return { HOME: ctx.home, NO_UPDATE_NOTIFIER: "1", DO_NOT_TRACK: "1" };
}
