// The agent contract (docs/agent-contract.md): the environment a session runs with. The runtimes write it (pod
// env, or a child process's env); `gt` reads it back through the same schema, so the two sides
// cannot drift.
import { z } from "zod";

export const SESSION_ENV = {
  namespace: "GT_NAMESPACE",
  town: "GT_TOWN",
  rig: "GT_RIG",
  agent: "GT_AGENT",
  role: "GT_ROLE",
  session: "GT_SESSION",
  bead: "GT_BEAD",
  beadTitle: "GT_BEAD_TITLE",
  beadDescription: "GT_BEAD_DESCRIPTION",
  branch: "GT_BRANCH",
  baseBranch: "GT_BASE_BRANCH",
  targetBranch: "GT_TARGET_BRANCH",
  repo: "GT_REPO",
  defaultBranch: "GT_DEFAULT_BRANCH",
  mergeStrategy: "GT_MERGE_STRATEGY",
  gates: "GT_GATES",
  reworkOf: "GT_REWORK_OF",
  feedback: "GT_FEEDBACK",
  files: "GT_FILES",
  checkpoint: "GT_CHECKPOINT",
  heartbeatPeriodSeconds: "GT_HEARTBEAT_PERIOD_SECONDS",
  agentCommand: "GT_AGENT_COMMAND",
  agentCli: "GT_AGENT_CLI",
  agentModel: "GT_AGENT_MODEL",
  agentArgs: "GT_AGENT_ARGS",
  agentMaxRetries: "GT_AGENT_MAX_RETRIES",
  modelBaseURL: "GT_MODEL_BASE_URL",
  modelApi: "GT_MODEL_API",
  modelKeySecret: "GT_MODEL_KEY_SECRET",
  cliSession: "GT_CLI_SESSION",
  workspace: "GT_WORKSPACE",
  gitCredentialsDir: "GT_GIT_CREDENTIALS_DIR",
} as const;

const jsonArray = z
  .string()
  .transform((s, ctx) => {
    try {
      const v: unknown = JSON.parse(s);
      if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v as string[];
    } catch {}
    ctx.addIssue({ code: "custom", message: "must be a JSON array of strings" });
    return z.NEVER;
  })
  .default([]);

export const SessionEnvSchema = z.object({
  namespace: z.string().min(1),
  town: z.string().min(1),
  rig: z.string().min(1),
  agent: z.string().min(1),
  role: z.enum(["Polecat", "Refinery"]),
  session: z.coerce.number().int().min(1),
  bead: z.string().min(1),
  beadTitle: z.string().default(""),
  beadDescription: z.string().default(""),
  branch: z.string().min(1),
  baseBranch: z.string().min(1),
  targetBranch: z.string().min(1),
  repo: z.string().min(1),
  defaultBranch: z.string().min(1),
  mergeStrategy: z.enum(["Direct", "PullRequest"]),
  gates: jsonArray,
  reworkOf: z.string().optional(),
  feedback: z.string().optional(),
  files: jsonArray,
  checkpoint: z.string().optional(),
  heartbeatPeriodSeconds: z.coerce.number().positive().default(30),
  agentCommand: jsonArray,
  agentCli: z.enum(["claude-code", "codex", "pi", "custom"]).default("custom"),
  agentModel: z.string().optional(),
  agentArgs: jsonArray,
  agentMaxRetries: z.coerce.number().int().min(0).max(10).default(4),
  modelBaseURL: z.string().optional(),
  modelApi: z.enum(["anthropic-messages", "openai-completions", "openai-responses"]).optional(),
  /** "<secret>/<key>" the API key came from, for messages that tell a person what to fix. */
  modelKeySecret: z.string().optional(),
  /** The CLI conversation an earlier session on this bead left (resumed where the CLI can). */
  cliSession: z.string().optional(),
  workspace: z.string().default("/workspace"),
  gitCredentialsDir: z.string().optional(),
});
export type SessionEnv = z.infer<typeof SessionEnvSchema>;

/**
 * The model API key, in its own variable and outside the schema: it is a secret, so nothing that
 * prints the session (errors, `gt prime`) can show it. The pod gets it from the Secret by
 * reference; the process runtime resolves it.
 */
export const MODEL_API_KEY_ENV = "GT_MODEL_API_KEY";

/** The env var assignments for a session (values JSON-encoded where they are lists). */
export function sessionEnvVars(env: z.input<typeof SessionEnvSchema>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, name] of Object.entries(SESSION_ENV) as [keyof typeof SESSION_ENV, string][]) {
    const value = env[key];
    if (value === undefined) continue;
    out[name] = Array.isArray(value) ? JSON.stringify(value) : String(value);
  }
  return out;
}

/**
 * Reads the session from the environment. The error names every missing or bad variable, because
 * the person reading it is debugging a pod.
 */
export function readSessionEnv(env: NodeJS.ProcessEnv): SessionEnv {
  const raw: Record<string, string | undefined> = {};
  for (const [key, name] of Object.entries(SESSION_ENV)) {
    const v = env[name];
    if (v !== undefined && v !== "") raw[key] = v;
  }
  const parsed = SessionEnvSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => {
    const key = i.path[0] as keyof typeof SESSION_ENV;
    return `${SESSION_ENV[key] ?? String(key)}: ${raw[key] === undefined ? "not set" : i.message}`;
  });
  throw new Error(`this is not a Gas Town session (${problems.join("; ")})`);
}
