// `gt hook <event>`: what Claude Code's hooks run (see presets/claude-code.ts). A heartbeat that
// does not depend on stdout — a tool's start and end are marked in the session's activity directory
// — and the documented way into a running session: pending nudges go out as additionalContext at
// the next tool boundary or prompt. Never fails the CLI: a broken hook must not stop the agent.
import { appendFileSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ACTIVITY_DIR_ENV, hookTool, touchActivity } from "./heartbeat.ts";
import { PENDING_NUDGES } from "./supervise.ts";

export const DELIVERED_NUDGES = "nudges-delivered";

/** Takes the pending nudges (atomically: a nudge queued meanwhile waits for the next boundary). */
export function takePendingNudges(dir: string): string[] {
  const file = join(dir, PENDING_NUDGES);
  const taken = `${file}.${process.pid}`;
  try {
    renameSync(file, taken);
  } catch {
    return [];
  }
  try {
    return readFileSync(taken, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as string);
  } catch {
    return [];
  } finally {
    rmSync(taken, { force: true });
  }
}

const CONTEXT_EVENTS = new Set(["PostToolUse", "PostToolUseFailure", "UserPromptSubmit", "SessionStart"]);

export async function runHook(
  event: string | undefined,
  env: NodeJS.ProcessEnv,
  stdin: () => Promise<string>,
  out: (text: string) => void,
): Promise<number> {
  const dir = env[ACTIVITY_DIR_ENV];
  if (!dir || !event) return 0;
  let input: { tool_use_id?: unknown } = {};
  try {
    input = JSON.parse(await stdin()) as typeof input;
  } catch {}
  const id = typeof input.tool_use_id === "string" ? input.tool_use_id : undefined;
  touchActivity(dir, `hook:${event}`);
  if (id && event === "PreToolUse") hookTool(dir, id, "start");
  if (id && (event === "PostToolUse" || event === "PostToolUseFailure")) hookTool(dir, id, "end");
  if (!CONTEXT_EVENTS.has(event)) return 0;
  const nudges = takePendingNudges(dir);
  if (nudges.length === 0) return 0;
  try {
    for (const text of nudges)
      appendFileSync(join(dir, DELIVERED_NUDGES), `${JSON.stringify({ time: Date.now(), text })}\n`);
  } catch {}
  out(`${JSON.stringify({ hookSpecificOutput: { hookEventName: event, additionalContext: nudges.join("\n\n") } })}\n`);
  return 0;
}
