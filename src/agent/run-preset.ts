// `gt run` with a coding-agent preset: configure the CLI in the agent's HOME, run it under the
// supervisor, deliver nudges within one heartbeat, and at the end classify the outcome, publish the
// usage on the Lease and exit with a status that says what happened (0 only when the work was
// reported; 78 a configuration error no retry fixes; 75 a transient failure).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MODEL_API_KEY_ENV, type SessionEnv } from "../api/session.ts";
import { LEASE_ANNOTATIONS } from "../controller/resources.ts";
import type { AgentClient } from "./client.ts";
import { shellQuote } from "./git.ts";
import { type Heartbeat, reportsFiled, type SessionActivity } from "./heartbeat.ts";
import { DELIVERED_NUDGES } from "./hook.ts";
import { pendingNudges } from "./nudges.ts";
import { classifyOutcome, outcomeTermination } from "./outcome.ts";
import type { Preset, PresetContext, Usage } from "./presets/types.ts";
import { buildInstructions, buildPrompt, nudgeText } from "./prompt.ts";
import { supervise } from "./supervise.ts";
import { writeTermination } from "./termination.ts";

export interface RunPresetOptions {
  preset: Preset;
  session: SessionEnv;
  client: AgentClient;
  heartbeat: Heartbeat;
  /** Sets what every renewal of the Lease carries besides the activity. */
  setAnnotations(f: () => Record<string, string>): void;
  activity: SessionActivity;
  repoDir: string;
  gtDir: string;
  gt: string;
  env: NodeJS.ProcessEnv;
  /** Registers how a SIGTERM to `gt run` reaches the agent. */
  onSignal(stop: (signal: NodeJS.Signals) => void): void;
  log(line: string): void;
}

/**
 * Shells that CLIs start as login shells (Codex runs `bash -lc`) reset PATH from /etc/profile,
 * which would hide `gt` and the image's tools; the session's HOME restores the session's PATH.
 */
function writeLoginProfile(home: string, path: string): void {
  mkdirSync(home, { recursive: true });
  const line = `export PATH=${shellQuote(path)}\n`;
  for (const f of [".bash_profile", ".profile"]) writeFileSync(join(home, f), line);
}

export const usageText = (u: Usage) =>
  `${u.inputTokens} input, ${u.outputTokens} output, ${u.cacheReadTokens} cache read, ${u.cacheWriteTokens} cache write tokens, $${u.costUSD.toFixed(6)}`;

function hookDeliveries(dir: string): number {
  try {
    return readFileSync(join(dir, DELIVERED_NUDGES), "utf8").split("\n").filter(Boolean).length;
  } catch {
    return 0;
  }
}

export async function runPreset(o: RunPresetOptions): Promise<number> {
  const s = o.session;
  const ctx: PresetContext = {
    session: s,
    home: process.env.HOME ?? join(o.gtDir, "home"),
    repoDir: o.repoDir,
    instructions: buildInstructions(s),
    prompt: buildPrompt(s),
    ...(process.env[MODEL_API_KEY_ENV] ? { apiKey: process.env[MODEL_API_KEY_ENV] } : {}),
    gt: o.gt,
    root: process.getuid?.() === 0,
  };
  writeLoginProfile(ctx.home, o.env.PATH ?? "");
  o.preset.prepare(ctx);
  const sessionStart = Date.now();
  const delivered = new Set<string>();
  const annotations: Record<string, string> = {};
  try {
    const id = (await o.client.lease()).metadata.annotations?.[LEASE_ANNOTATIONS.userNudgeDelivered];
    if (id) delivered.add(`user@${id}`);
  } catch {} // the first renewal may not have happened yet; a repeated user nudge is harmless

  // Continuity: the conversation an earlier session on this bead left, where its transcript is in
  // this HOME (the agent's own, kept across its sessions: docs/agent-contract.md).
  const resume = s.cliSession && o.preset.resumable(ctx, s.cliSession) ? s.cliSession : undefined;
  if (s.cliSession && !resume)
    o.log(
      `conversation ${s.cliSession} is not in this HOME (another agent's, or a HOME that was not kept); starting a new one`,
    );
  if (s.cliSession) annotations[LEASE_ANNOTATIONS.cliResumed] = String(resume !== undefined);
  o.log(`starting ${o.preset.cli}${resume ? ` (resuming ${resume})` : ""} in ${o.repoDir}`);
  const sup = supervise({
    preset: o.preset,
    ctx,
    cwd: o.repoDir,
    env: o.env,
    activity: o.activity,
    ...(resume ? { resume } : {}),
    log: o.log,
    stdout: (t) => process.stdout.write(t),
    stderr: (c) => process.stderr.write(c),
  });
  o.onSignal((signal) => sup.kill(signal));
  o.setAnnotations(() => {
    const conversation = sup.cliSession();
    return {
      ...annotations,
      [LEASE_ANNOTATIONS.usage]: JSON.stringify(sup.usage()),
      ...(conversation ? { [LEASE_ANNOTATIONS.cliSession]: conversation } : {}),
    };
  });

  let hooked = 0;
  const record = (key: string, via: string) => {
    annotations[LEASE_ANNOTATIONS.nudgeDelivered] = JSON.stringify({ key, via, time: new Date().toISOString() });
    if (key.startsWith("user@")) annotations[LEASE_ANNOTATIONS.userNudgeDelivered] = key.slice(5);
  };
  /** A nudge the session could not take (the CLI already ended): the Agent says so. */
  const recordFailed = (key: string, why: string) => {
    annotations[LEASE_ANNOTATIONS.nudgeDelivered] = JSON.stringify({
      key,
      failed: why,
      time: new Date().toISOString(),
    });
  };
  let lastQueued = "";
  /** The CLI's hook took a queued nudge into a model request since the last look. */
  const noticeHooked = (): boolean => {
    const now = hookDeliveries(o.activity.dir);
    if (now <= hooked || !lastQueued) return false;
    hooked = now;
    record(lastQueued, "hook");
    o.log(`nudge ${lastQueued} delivered (hook)`);
    return true;
  };
  let polling = false;
  const poll = async () => {
    if (polling) return;
    polling = true;
    try {
      const agent = await o.client.agent();
      let changed = false;
      for (const n of pendingNudges(agent, sessionStart, delivered)) {
        const via = sup.nudge(nudgeText(n));
        if (via === "not-running") {
          delivered.add(n.key);
          recordFailed(n.key, `the ${o.preset.cli} session had already ended`);
          o.log(`nudge ${n.key} not delivered: the ${o.preset.cli} session had already ended`);
          changed = true;
          break;
        }
        delivered.add(n.key);
        o.log(`nudge ${n.key} ${via === "hook" ? "queued for the next tool boundary" : `delivered (${via})`}`);
        if (via === "hook") lastQueued = n.key;
        else record(n.key, via);
        changed = true;
      }
      if (noticeHooked()) changed = true;
      if (changed) await o.heartbeat.beat();
    } catch (e) {
      o.log(`cannot read nudges (will retry): ${(e as Error).message}`);
    } finally {
      polling = false;
    }
  };
  const timer = setInterval(() => void poll(), s.heartbeatPeriodSeconds * 1000);
  void poll();

  const result = await sup.finished;
  clearInterval(timer);
  // The hook may have taken the nudge after the last poll: a session that ends within a heartbeat
  // of the delivery still says it was delivered.
  noticeHooked();
  const outcome = classifyOutcome({
    exitCode: result.exitCode,
    signal: result.signal,
    reported: reportsFiled(o.activity.dir),
    events: result.events,
    ...(s.modelKeySecret ? { keySecret: s.modelKeySecret } : {}),
    role: s.role,
  });
  o.log(`${o.preset.cli} exited ${result.signal ? `on ${result.signal}` : `with status ${result.exitCode}`}`);
  o.log(`outcome ${outcome.class}: ${outcome.message}`);
  o.log(`usage: ${usageText(result.usage)}`);
  const termination = outcomeTermination(outcome);
  if (termination) writeTermination(termination);
  annotations[LEASE_ANNOTATIONS.outcome] = JSON.stringify({ class: outcome.class, message: outcome.message });
  if (result.cliSession) annotations[LEASE_ANNOTATIONS.cliSession] = result.cliSession;
  o.setAnnotations(() => ({ ...annotations, [LEASE_ANNOTATIONS.usage]: JSON.stringify(result.usage) }));
  writeFileSync(
    join(o.gtDir, "outcome.json"),
    JSON.stringify({ ...outcome, usage: result.usage, cliSession: result.cliSession }, null, 2),
  );
  await o.heartbeat.beat();
  return outcome.exitCode;
}
