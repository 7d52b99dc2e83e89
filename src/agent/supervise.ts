// Runs one preset's CLI for `gt run` and watches it: every line of its event stream moves the
// activity watermark (tool started and ended, model request, output), usage is summed, errors and
// denials are kept for the outcome, and nudges are handed to it the way that CLI takes them.
import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync } from "node:fs";
import { join } from "node:path";
import type { SessionActivity } from "./heartbeat.ts";
import {
  type AgentEvent,
  addUsage,
  type Launch,
  NO_USAGE,
  type Preset,
  type PresetContext,
  type Usage,
} from "./presets/types.ts";

export const PENDING_NUDGES = "nudges-pending";

export interface SupervisedRun {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Errors, retries, denials and results, oldest first (usage and activity are not kept). */
  events: AgentEvent[];
  usage: Usage;
  cliSession?: string;
}

export interface Supervisor {
  /** Hands a nudge to the running agent; says how ("hook" = at its next tool boundary). */
  nudge(text: string): "hook" | "stdin" | "resume" | "not-running";
  kill(signal: NodeJS.Signals): void;
  usage(): Usage;
  /** The CLI's conversation id, once its stream named it (published early, so a crash keeps it). */
  cliSession(): string | undefined;
  readonly finished: Promise<SupervisedRun>;
}

const STARTUP_TOOL = "gastown-cli-startup";
const STARTUP_MS = 120_000;

/** How long a CLI that ended its turn on a model error has to announce its own retry. */
const RETRY_GRACE_MS = 3000;

const KEPT = new Set<AgentEvent["kind"]>(["error", "retry", "denied", "result"]);
/** Token-by-token lines: parsed for activity and usage, not copied into the session log. */
const NOISE = /^\{"type":"(stream_event|message_update|tool_execution_update)"/;

export function supervise(o: {
  preset: Preset;
  ctx: PresetContext;
  cwd: string;
  /** The session's environment (git credentials, PATH with `gt`, GT_*), without the API key. */
  env: NodeJS.ProcessEnv;
  activity: SessionActivity;
  resume?: string;
  log: (line: string) => void;
  stdout: (chunk: string) => void;
  stderr: (chunk: Buffer) => void;
}): Supervisor {
  const kept: AgentEvent[] = [];
  let total: Usage = NO_USAGE;
  let run: Usage = NO_USAGE;
  let cliSession: string | undefined = o.resume;
  let child: ChildProcess | undefined;
  let running = false;
  let resumeWith: string | undefined;
  let killedBy: NodeJS.Signals | undefined;
  let ending: NodeJS.Timeout | undefined;
  let finish: (r: SupervisedRun) => void = () => {};
  const finished = new Promise<SupervisedRun>((r) => {
    finish = r;
  });

  // A CLI starting up (loading, reading its config, SessionStart hooks) prints nothing yet: that is
  // the runtime at work, not the agent idling, so it counts as an open tool until the first event —
  // for at most STARTUP_MS, after which a CLI hung at startup looks idle to GUPP as it should.
  let starting = false;
  let startupTimer: NodeJS.Timeout | undefined;
  const started = () => {
    if (!starting) return;
    starting = false;
    clearTimeout(startupTimer);
    o.activity.toolEnded(STARTUP_TOOL);
  };

  const onEvent = (e: AgentEvent) => {
    started();
    const a = o.activity;
    switch (e.kind) {
      case "session":
        cliSession = e.id;
        break;
      case "model-request":
        a.toolsSettled();
        a.touch("model-request");
        break;
      case "message":
        a.touch("model-output");
        break;
      case "tool-start":
        a.toolStarted(e.id, e.name);
        break;
      case "tool-end":
        a.toolEnded(e.id);
        break;
      case "usage":
        run = addUsage(run, e.usage);
        a.touch("model-output");
        break;
      case "total-usage":
        run = e.usage;
        break;
      case "turn-end":
        a.touch("turn-end");
        if (o.preset.endOnTurnEnd) {
          clearTimeout(ending);
          // A turn that ended on a model error may be retried by the CLI itself: give it a moment.
          if (e.mayRetry) ending = setTimeout(() => child?.stdin?.end(), RETRY_GRACE_MS);
          else child?.stdin?.end();
        }
        break;
      case "retry":
        clearTimeout(ending);
        a.touch("retry");
        break;
      default:
        a.touch(e.kind);
    }
    if (KEPT.has(e.kind)) {
      kept.push(e);
      if (kept.length > 200) kept.splice(0, kept.length - 200);
    }
  };

  const start = (launch: Launch) => {
    const parse = o.preset.parser();
    const [command, ...args] = launch.argv;
    const interactive = launch.stdinLines !== undefined;
    const c = spawn(command!, args, {
      cwd: o.cwd,
      env: { ...o.env, ...launch.env },
      stdio: [interactive ? "pipe" : "ignore", "pipe", "pipe"],
    });
    child = c;
    running = true;
    starting = true;
    o.activity.toolStarted(STARTUP_TOOL, "cli-startup");
    clearTimeout(startupTimer);
    startupTimer = setTimeout(started, STARTUP_MS).unref();
    run = NO_USAGE;
    c.stdin?.on("error", () => {});
    for (const line of launch.stdinLines ?? []) c.stdin?.write(`${line}\n`);
    let partial = "";
    c.stdout?.on("data", (chunk: Buffer) => {
      const lines = (partial + chunk.toString("utf8")).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        if (!NOISE.test(line)) o.stdout(`${line}\n`);
        for (const e of parse(line)) onEvent(e);
      }
    });
    c.stderr?.on("data", (chunk: Buffer) => {
      o.activity.touch("stderr");
      o.stderr(chunk);
    });
    c.on("error", (e) => {
      o.log(`cannot start ${command}: ${e.message}`);
      kept.push({ kind: "error", message: `cannot start ${command}: ${e.message}` });
    });
    c.on("close", (code, signal) => {
      clearTimeout(ending);
      started();
      if (partial) for (const e of parse(partial)) onEvent(e);
      running = false;
      total = addUsage(total, run);
      run = NO_USAGE;
      o.activity.toolsSettled();
      const nudge = resumeWith;
      resumeWith = undefined;
      if (nudge !== undefined && cliSession && !killedBy && o.preset.nudge.via === "resume") {
        o.log(`resuming the ${o.preset.cli} conversation ${cliSession} with a nudge`);
        start(o.preset.nudge.launch(o.ctx, cliSession, nudge));
        return;
      }
      finish({
        exitCode: code ?? (c.pid === undefined ? 127 : null),
        signal: killedBy ?? signal,
        events: kept,
        usage: total,
        ...(cliSession ? { cliSession } : {}),
      });
    });
  };

  start(o.preset.launch(o.ctx, o.resume));

  return {
    nudge(text) {
      const how = o.preset.nudge;
      if (!running) return "not-running";
      if (how.via === "hook") {
        appendFileSync(join(o.activity.dir, PENDING_NUDGES), `${JSON.stringify(text)}\n`);
        return "hook";
      }
      if (how.via === "stdin") {
        child?.stdin?.write(`${how.line(text)}\n`);
        return "stdin";
      }
      // Interrupt the turn; on exit the conversation goes on with the nudge as the prompt.
      resumeWith = resumeWith ? `${resumeWith}\n\n${text}` : text;
      child?.kill("SIGINT");
      return "resume";
    },
    kill(signal) {
      killedBy ??= signal;
      resumeWith = undefined;
      child?.kill(signal);
    },
    usage: () => addUsage(total, run),
    cliSession: () => cliSession,
    finished,
  };
}
