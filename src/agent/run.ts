// `gt run`: the session's main process (docs/agent-contract.md). Clone the rig, check out the branch, write the
// prompt, keep the Lease fresh, run the agent command and exit with its status. And `gt demo`, the
// built-in agent command it runs when the town configures none.
import { spawn } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { constants } from "node:os";
import { extname, join, resolve } from "node:path";
import { MODEL_API_KEY_ENV, readSessionEnv, type SessionEnv } from "../api/session.ts";
import { sessionPodName } from "../core/names.ts";
import type { LoadedConnection } from "../kube/config.ts";
import { AgentClient } from "./client.ts";
import { runDemo } from "./demo.ts";
import { gitCredentialEnv, gitRunner, prepareRepo, shellQuote } from "./git.ts";
import { ACTIVITY_DIR_ENV, SessionActivity, startHeartbeat } from "./heartbeat.ts";
import { presetFor } from "./presets/index.ts";
import { buildPrompt } from "./prompt.ts";
import { runPreset } from "./run-preset.ts";
import { gitFailure, writeTermination } from "./termination.ts";
import { processToolContext, runTool, sessionConnection } from "./tools.ts";

export const PROMPT_FILE_ENV = "GT_PROMPT_FILE";

const log = (line: string) => process.stderr.write(`gt run: ${line}\n`);

function session(): SessionEnv | undefined {
  try {
    return readSessionEnv(process.env);
  } catch (e) {
    process.stderr.write(`gt run: ${(e as Error).message}\n`);
    return undefined;
  }
}

/** The command line that runs this very CLI (for the `gt` shim and the demo agent). */
function self(): string[] {
  return [
    process.execPath,
    ...process.execArgv,
    resolve(process.argv[1] ?? join(import.meta.dirname, `main${extname(import.meta.filename)}`)),
  ];
}

/** `gt` on the agent's PATH, whatever image or machine the session runs on. */
function writeShim(binDir: string): void {
  mkdirSync(binDir, { recursive: true });
  const shim = join(binDir, "gt");
  writeFileSync(shim, `#!/bin/sh\nexec ${self().map(shellQuote).join(" ")} "$@"\n`);
  chmodSync(shim, 0o755);
}

export async function runSession(): Promise<number> {
  const s = session();
  if (!s) return 1;
  const workspace = resolve(s.workspace);
  const repoDir = join(workspace, "repo");
  const gtDir = join(workspace, ".gt");
  // A pod's HOME points into the workspace volume, which starts empty; git, ssh and coding-agent
  // CLIs expect it to exist.
  if (process.env.HOME) mkdirSync(process.env.HOME, { recursive: true });
  const activity = new SessionActivity(join(gtDir, "activity"));
  writeShim(join(gtDir, "bin"));

  let agent: ReturnType<typeof spawn> | undefined;
  let stopAgent: ((signal: NodeJS.Signals) => void) | undefined;
  let signalled: NodeJS.Signals | undefined;
  const forward = (signal: NodeJS.Signals) => {
    signalled ??= signal;
    if (stopAgent) return stopAgent(signal);
    // Before the agent runs there is nothing to save: stop at once, as a killed pod would.
    if (!agent) process.exit(128 + (constants.signals[signal] ?? 15));
    agent.kill(signal);
  };
  process.on("SIGTERM", () => forward("SIGTERM"));
  process.on("SIGINT", () => forward("SIGINT"));

  let kc: LoadedConnection;
  try {
    kc = await sessionConnection();
  } catch (e) {
    log(`cannot load the API credentials: ${(e as Error).message}`);
    writeTermination({ reason: "NoApiCredentials", kind: "Configuration", message: (e as Error).message });
    return 1;
  }
  const client = new AgentClient(kc, { namespace: s.namespace, town: s.town, agent: s.agent, session: s.session });
  let annotations: () => Record<string, string> = () => ({});
  const heartbeat = startHeartbeat({
    client,
    holder: sessionPodName(s.agent, s.session),
    periodMs: s.heartbeatPeriodSeconds * 1000,
    activity: () => activity.current(),
    annotations: () => annotations(),
    log,
  });
  try {
    const gitEnv = { ...process.env, ...gitCredentialEnv(s.gitCredentialsDir) };
    try {
      await prepareRepo(s, repoDir, gitEnv, log);
    } catch (e) {
      log(`cannot prepare the repository: ${(e as Error).message}`);
      writeTermination(gitFailure((e as Error).message));
      return 1;
    }
    activity.touch("checkout");
    const promptFile = join(workspace, "PROMPT.md");
    writeFileSync(promptFile, buildPrompt(s));
    const preset = presetFor(s.agentCli);
    if (preset) {
      const env: NodeJS.ProcessEnv = {
        ...gitEnv,
        [PROMPT_FILE_ENV]: promptFile,
        [ACTIVITY_DIR_ENV]: activity.dir,
        PATH: `${join(gtDir, "bin")}:${process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin"}`,
      };
      delete env[MODEL_API_KEY_ENV];
      return await runPreset({
        preset,
        session: s,
        client,
        heartbeat,
        setAnnotations: (f) => {
          annotations = f;
        },
        activity,
        repoDir,
        gtDir,
        gt: join(gtDir, "bin", "gt"),
        env,
        onSignal: (f) => {
          stopAgent = f;
          if (signalled) f(signalled);
        },
        log,
      });
    }

    const command = s.agentCommand.length > 0 ? s.agentCommand : [...self(), "demo"];
    log(`starting ${s.agentCommand.length > 0 ? JSON.stringify(command) : "the demo agent"} in ${repoDir}`);
    const env = {
      ...gitEnv,
      [PROMPT_FILE_ENV]: promptFile,
      [ACTIVITY_DIR_ENV]: activity.dir,
      PATH: `${join(gtDir, "bin")}:${process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin"}`,
    };
    const child = spawn(command[0]!, command.slice(1), { cwd: repoDir, env, stdio: ["inherit", "pipe", "pipe"] });
    agent = child;
    if (signalled) child.kill(signalled);
    child.stdout?.on("data", (c: Buffer) => {
      activity.touch("output");
      process.stdout.write(c);
    });
    child.stderr?.on("data", (c: Buffer) => {
      activity.touch("output");
      process.stderr.write(c);
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((done) => {
      child.on("error", (e) => {
        log(`cannot start the agent command ${JSON.stringify(command)}: ${e.message}`);
        done([127, null]);
      });
      child.on("close", (c, sig) => done([c, sig]));
    });
    // Shell convention (128 + signal): PID 1 of a container cannot re-raise a signal on itself.
    const status = code ?? 128 + (constants.signals[signal ?? "SIGTERM"] ?? 15);
    log(`agent exited ${signal ? `on ${signal}` : `with status ${code}`}`);
    return status;
  } finally {
    heartbeat.stop();
  }
}

/** `gt demo`: the scripted agent, in the repository `gt run` prepared (the current directory). */
export async function runDemoCommand(): Promise<number> {
  const s = session();
  if (!s) return 1;
  const ctx = processToolContext();
  const call = async (tool: string, args: string[]) => {
    const status = await runTool(tool, args, ctx);
    if (status !== 0) throw new Error(`gt ${tool} failed with status ${status}`);
  };
  // --flag=value: a value that starts with "-" (gate output often does) cannot pass for a flag.
  const opt = (flag: string, value: string | undefined) => (value ? [`${flag}=${value}`] : []);
  try {
    await runDemo({
      session: s,
      repoDir: process.cwd(),
      git: gitRunner(process.cwd()),
      out: (line) => process.stdout.write(`${line}\n`),
      tools: {
        done: (r) =>
          call("done", [...opt("--branch", r.branch), ...opt("--commit", r.commit), ...opt("--summary", r.summary)]),
        requestChanges: (r) =>
          call("request-changes", [...opt("--feedback", r.feedback), ...opt("--files", r.files.join(","))]),
        reviewFailed: (r) => call("review-failed", [...opt("--message", r.message)]),
      },
    });
    return 0;
  } catch (e) {
    process.stderr.write(`gt demo: ${(e as Error).message}\n`);
    return 1;
  }
}
