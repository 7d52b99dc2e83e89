// The tools an agent calls from inside its session: gt done, request-changes, review-failed,
// escalate, checkpoint, handoff, prime. Each is one AgentReport (or one read) made with the agent's own
// credentials. Failures are one line naming what is wrong — a missing session variable, a bad flag,
// the wrong role, or the apiserver's own refusal — because the reader is often an LLM that acts on it.
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { type ParseArgsConfig, parseArgs } from "node:util";
import { MAX_CHECKPOINT_BYTES } from "../api/agent.ts";
import { SEVERITIES } from "../api/agent-report.ts";
import { readSessionEnv, type SessionEnv } from "../api/session.ts";
import { type LoadedConnection, loadConnection } from "../kube/config.ts";
import { KubeApiError } from "../kube/errors.ts";
import { AgentClient, type ReportInput } from "./client.ts";
import { ACTIVITY_DIR_ENV, markToolActivity, recordReport } from "./heartbeat.ts";
import { readStdin } from "./stdin.ts";

export interface ToolContext {
  env: NodeJS.ProcessEnv;
  out(text: string): void;
  err(text: string): void;
  readStdin(): Promise<string>;
  /** The session's API client; by default from $KUBECONFIG, else the in-cluster service account. */
  client?(s: SessionEnv): AgentClient | Promise<AgentClient>;
}

type Values = Record<string, string | boolean | string[] | undefined>;

interface Tool {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig["options"]>;
  /** What only a refinery may do, in words ("request changes"); absent = any role. */
  refineryOnly?: string;
  /** A flag problem, in words, or undefined. */
  check?(v: Values): string | undefined;
  run(v: Values, s: SessionEnv, client: AgentClient, ctx: ToolContext): Promise<string>;
}

const str = (v: Values, k: string) => (typeof v[k] === "string" ? (v[k] as string) : undefined);

/** `--files a,b --files c` → [a, b, c]. */
const list = (v: Values, k: string) =>
  ((v[k] as string[] | undefined) ?? [])
    .flatMap((x) => x.split(","))
    .map((x) => x.trim())
    .filter(Boolean);

const severity = (v: Values) => SEVERITIES.find((s) => s.toLowerCase() === str(v, "severity")?.toLowerCase());

/**
 * RBAC grants reach the apiserver's authorizer through its informers, a moment after the operator
 * wrote them; a tool called right at the start of a session may see that gap. Only RBAC refusals
 * are retried, briefly: an admission denial is final and is shown at once.
 */
async function withRbacGrace<T>(call: () => Promise<T>, graceMs = 3000): Promise<T> {
  const deadline = Date.now() + graceMs;
  for (let wait = 100; ; wait = Math.min(wait * 2, 1000)) {
    try {
      return await call();
    } catch (e) {
      const rbac = e instanceof KubeApiError && e.statusCode === 403 && /cannot \w+ resource "/.test(e.message);
      if (!rbac || Date.now() + wait > deadline) throw e;
    }
    await new Promise((r) => setTimeout(r, wait));
  }
}

async function report(client: AgentClient, input: ReportInput, ctx?: ToolContext): Promise<string> {
  const name = await withRbacGrace(() => client.report(input));
  recordReport(ctx?.env[ACTIVITY_DIR_ENV], input.type);
  return `reported ${input.type} for bead ${input.bead} (agentreport/${name})`;
}

const TOOLS: Record<string, Tool> = {
  done: {
    summary: "report that this session's work is finished",
    usage: `Usage: gt done [--branch B] [--pr-url U] [--summary S] [--commit SHA]
  --branch B      the branch with the work (default: $GT_BRANCH)
  --pr-url U      refinery, PullRequest strategy: the pull request opened for the merge request
  --summary S     what was done, in a sentence
  --commit SHA    refinery: the merge commit pushed to the target branch
A refinery that asked for changes calls plain \`gt done\` to release itself.`,
    options: {
      branch: { type: "string" },
      "pr-url": { type: "string" },
      summary: { type: "string" },
      commit: { type: "string" },
    },
    check: (v) =>
      str(v, "commit") !== undefined && !/^[0-9a-f]{7,64}$/.test(str(v, "commit")!)
        ? "--commit must be a hex commit id"
        : undefined,
    run: (v, s, client, ctx) =>
      report(
        client,
        {
          type: "Done",
          bead: s.bead,
          branch: str(v, "branch") ?? s.branch,
          ...(str(v, "pr-url") ? { prURL: str(v, "pr-url") } : {}),
          ...(str(v, "summary") ? { summary: str(v, "summary") } : {}),
          ...(str(v, "commit") ? { commit: str(v, "commit") } : {}),
        },
        ctx,
      ),
  },
  "request-changes": {
    summary: "refinery: send the branch back to a polecat for rework",
    usage: `Usage: gt request-changes --feedback F [--files a,b]
  --feedback F    what must change (required)
  --files a,b     the files concerned (comma-separated, repeatable)
Then call \`gt done\` to release yourself; the rework comes back to you for review.`,
    options: { feedback: { type: "string" }, files: { type: "string", multiple: true } },
    refineryOnly: "request changes",
    check: (v) => (str(v, "feedback") ? undefined : "missing --feedback"),
    run: (v, s, client, ctx) =>
      report(
        client,
        {
          type: "RequestChanges",
          bead: s.bead,
          branch: s.branch,
          feedback: str(v, "feedback")!,
          ...(list(v, "files").length > 0 ? { files: list(v, "files") } : {}),
        },
        ctx,
      ),
  },
  "review-failed": {
    summary: "refinery: the branch cannot be merged (e.g. a conflict); the issue is redone",
    usage: `Usage: gt review-failed --message M
  --message M     why the branch cannot merge (required)`,
    options: { message: { type: "string" } },
    refineryOnly: "report a failed review",
    check: (v) => (str(v, "message") ? undefined : "missing --message"),
    run: (v, s, client, ctx) =>
      report(client, { type: "ReviewFailed", bead: s.bead, branch: s.branch, message: str(v, "message")! }, ctx),
  },
  escalate: {
    summary: "ask a human for help",
    usage: `Usage: gt escalate --severity ${SEVERITIES.join("|")} --message M
  --severity S    how urgent (required)
  --message M     what is wrong (required)`,
    options: { severity: { type: "string" }, message: { type: "string" } },
    check: (v) => {
      if (!str(v, "severity")) return "missing --severity";
      if (!severity(v))
        return `--severity must be one of ${SEVERITIES.join(", ")}, got ${JSON.stringify(str(v, "severity"))}`;
      return str(v, "message") ? undefined : "missing --message";
    },
    run: (v, s, client, ctx) =>
      report(client, { type: "Escalate", bead: s.bead, severity: severity(v)!, message: str(v, "message")! }, ctx),
  },
  checkpoint: {
    summary: "save a small progress note that the next session receives",
    usage: `Usage: gt checkpoint --data D
  --data D        the checkpoint (at most ${MAX_CHECKPOINT_BYTES} bytes); "-" reads it from stdin`,
    options: { data: { type: "string" } },
    check: (v) => (str(v, "data") === undefined ? "missing --data" : undefined),
    async run(v, s, client, ctx) {
      const data = str(v, "data") === "-" ? await ctx.readStdin() : str(v, "data")!;
      const bytes = Buffer.byteLength(data);
      if (bytes > MAX_CHECKPOINT_BYTES)
        throw new Error(`the checkpoint is ${bytes} bytes; at most ${MAX_CHECKPOINT_BYTES} are kept`);
      if (data === "") throw new Error("the checkpoint is empty");
      return report(client, { type: "Checkpoint", bead: s.bead, data }, ctx);
    },
  },
  handoff: {
    summary: "end this session on purpose and continue the bead in a fresh one (with a checkpoint)",
    usage: `Usage: gt handoff [--checkpoint D] [--summary S]
  --checkpoint D  what the next session must know (at most ${MAX_CHECKPOINT_BYTES} bytes); "-" reads stdin
  --summary S     why you hand off, in a sentence
Then exit: the next session starts after a short interval and gets the checkpoint. A handoff does
not count as a failed attempt, but the number of handoffs per bead is capped.`,
    options: { checkpoint: { type: "string" }, summary: { type: "string" } },
    async run(v, s, client, ctx) {
      const raw = str(v, "checkpoint");
      const data = raw === "-" ? await ctx.readStdin() : raw;
      if (data !== undefined && Buffer.byteLength(data) > MAX_CHECKPOINT_BYTES)
        throw new Error(`the checkpoint is ${Buffer.byteLength(data)} bytes; at most ${MAX_CHECKPOINT_BYTES} are kept`);
      return report(client, {
        type: "Handoff",
        bead: s.bead,
        ...(data ? { data } : {}),
        ...(str(v, "summary") ? { summary: str(v, "summary") } : {}),
      });
    },
  },
  prime: {
    summary: "print the current assignment, rework context, checkpoint and nudges",
    usage: "Usage: gt prime",
    options: {},
    async run(_v, s, client) {
      const bead = await withRbacGrace(() => client.bead(s.bead));
      const agent = await withRbacGrace(() => client.agent());
      const feedback = bead.spec.feedback ?? s.feedback;
      const files = bead.spec.files ?? s.files;
      // The bead's checkpoint is always this bead's: a checkpoint never follows an agent elsewhere.
      const checkpoint = bead.status?.checkpoint?.data ?? s.checkpoint;
      const nudges = agent.status?.nudges ?? [];
      const out = [
        `agent ${s.agent} (${s.role}) of town ${s.town}, rig ${s.rig}, session ${s.session}`,
        `bead ${s.bead} (${bead.status?.phase ?? "Open"}): ${bead.spec.title}`,
        ...(bead.spec.description ? ["", bead.spec.description, ""] : []),
        `branch ${s.branch} (base ${s.baseBranch}, target ${s.targetBranch})`,
      ];
      if (s.reworkOf || feedback) {
        out.push(`rework of ${s.reworkOf ?? "?"}: ${feedback ?? "(no feedback)"}`);
        if (files.length > 0) out.push(`files: ${files.join(", ")}`);
      }
      if (checkpoint) out.push(`checkpoint: ${checkpoint}`);
      out.push(nudges.length === 0 ? "nudges: none" : "nudges:");
      for (const n of nudges) out.push(`  [${n.tier}] ${n.time} ${n.message}`);
      return out.join("\n");
    },
  },
};

export const TOOL_NAMES = Object.keys(TOOLS);
export const toolSummaries = () => Object.entries(TOOLS).map(([name, t]) => [name, t.summary] as const);

/**
 * The session's API credentials: $KUBECONFIG (the process runtime writes one with the agent's
 * token), else the pod's service account. Read without @kubernetes/client-node (src/kube/config.ts):
 * gt starts for every tool call and, under Claude Code, at every tool boundary, and loading
 * client-node cost each start about 90 MiB and most of its time (bench/agent-startup.ts).
 */
export async function sessionConnection(env: NodeJS.ProcessEnv = process.env): Promise<LoadedConnection> {
  if (!env.KUBECONFIG && !env.KUBERNETES_SERVICE_HOST && !existsSync(join(env.HOME ?? homedir(), ".kube", "config")))
    throw new Error("no API credentials: KUBECONFIG is not set and this is not a pod with a service account");
  return loadConnection(undefined, env);
}

async function defaultClient(s: SessionEnv): Promise<AgentClient> {
  return new AgentClient(await sessionConnection(), {
    namespace: s.namespace,
    town: s.town,
    agent: s.agent,
    session: s.session,
  });
}

/** Runs one tool; resolves to the exit status (0 ok, 1 refused or failed, 2 bad flags). */
export async function runTool(name: string, argv: string[], ctx: ToolContext): Promise<number> {
  const tool = TOOLS[name];
  if (!tool) throw new Error(`unknown tool ${name}`);
  const usageError = (message: string) => {
    ctx.err(`gt ${name}: ${message}\n\n${tool.usage}\n`);
    return 2;
  };
  let values: Values;
  try {
    values = parseArgs({
      args: argv,
      options: { ...tool.options, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: false,
    }).values as Values;
  } catch (e) {
    return usageError((e as Error).message);
  }
  if (values.help) {
    ctx.out(`gt ${name} — ${tool.summary}\n\n${tool.usage}\n`);
    return 0;
  }
  const problem = tool.check?.(values);
  if (problem) return usageError(problem);
  let session: SessionEnv;
  try {
    session = readSessionEnv(ctx.env);
  } catch (e) {
    ctx.err(`gt ${name}: ${(e as Error).message}\n`);
    return 1;
  }
  if (tool.refineryOnly && session.role !== "Refinery") {
    ctx.err(`gt ${name}: only a refinery may ${tool.refineryOnly}; this session's role is ${session.role}\n`);
    return 1;
  }
  const finished = markToolActivity(ctx.env[ACTIVITY_DIR_ENV], name);
  try {
    const client = await (ctx.client ?? defaultClient)(session);
    ctx.out(`${await tool.run(values, session, client, ctx)}\n`);
    return 0;
  } catch (e) {
    const why =
      e instanceof KubeApiError
        ? `the apiserver refused (${e.statusCode}): ${e.message}`
        : `${(e as Error).message}${(e as { code?: string }).code === "ECONNREFUSED" ? " (is the apiserver reachable?)" : ""}`;
    ctx.err(`gt ${name}: ${why.replace(/\s*\n\s*/g, " ")}\n`);
    return 1;
  } finally {
    finished();
  }
}

/** The context of a real process: its env, stdout/stderr and stdin. */
export function processToolContext(env: NodeJS.ProcessEnv = process.env): ToolContext {
  return {
    env,
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    readStdin,
  };
}
