// What became of a session, from the CLI's event stream, its exit and the reports the agent filed.
// The classes say what to do next: Completed needs nothing; AuthError is a configuration error no
// retry can fix (it names the Secret); RateLimited and Overloaded are transient (retry after a
// back-off); ModelUnreachable is the provider or the network; PermissionDenied is the wrong
// permission mode, which Claude Code reports only in its result while it exits 0; Lost is an agent
// that ended without a word — an exit 0 without `gt done` is still a lost session.
import type { AgentEvent } from "./presets/types.ts";
import type { Termination } from "./termination.ts";

export const OUTCOME_CLASSES = [
  "Completed",
  "AuthError",
  "RateLimited",
  "Overloaded",
  "ModelUnreachable",
  "PermissionDenied",
  "AgentError",
  "Interrupted",
  "Lost",
] as const;
export type OutcomeClass = (typeof OUTCOME_CLASSES)[number];

export interface Outcome {
  class: OutcomeClass;
  message: string;
  /** The status `gt run` exits with: 0 only for Completed. */
  exitCode: number;
}

/** sysexits(3): a configuration error, and a temporary failure; the operator reads them from the exit. */
export const EXIT_CONFIG = 78;
export const EXIT_TEMPFAIL = 75;

export interface SessionFacts {
  exitCode: number | null;
  signal: string | null;
  /** The report tools that succeeded in this session (Done, RequestChanges, ReviewFailed, …). */
  reported: readonly string[];
  events: readonly AgentEvent[];
  /** "<secret>/<key>" of the API key, for the message. */
  keySecret?: string;
  role: "Polecat" | "Refinery";
}

const UNREACHABLE =
  /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|fetch failed|Unable to connect|Connection error|error sending request|connection refused|stream disconnected/i;

const FINISHING = new Set(["Done", "ReviewFailed"]);

export function classifyOutcome(f: SessionFacts): Outcome {
  if (f.reported.some((r) => FINISHING.has(r)))
    return { class: "Completed", message: `reported ${f.reported.join(", ")}`, exitCode: 0 };
  const errors = f.events.filter((e): e is Extract<AgentEvent, { kind: "error" }> => e.kind === "error");
  const retries = f.events.filter((e): e is Extract<AgentEvent, { kind: "retry" }> => e.kind === "retry");
  const statuses = [...errors, ...retries].map((e) => e.status).filter((s): s is number => s !== undefined);
  const last = errors.at(-1) ?? retries.at(-1);
  const detail = last?.message ? `: ${last.message.slice(0, 300)}` : "";
  if (statuses.some((s) => s === 401 || s === 403)) {
    const secret = f.keySecret ? `the API key in Secret ${f.keySecret.replace("/", ", key ")}` : "the model API key";
    return {
      class: "AuthError",
      message: `the model API refused ${secret} (HTTP ${statuses.find((s) => s === 401 || s === 403)})${detail}; fix the Secret (Town.spec.agents.provider.apiKeySecret), then retry`,
      exitCode: EXIT_CONFIG,
    };
  }
  const denied = f.events.filter((e): e is Extract<AgentEvent, { kind: "denied" }> => e.kind === "denied");
  const signalled = f.signal !== null;
  if (signalled) return { class: "Interrupted", message: `stopped by ${f.signal}`, exitCode: f.exitCode ?? 143 };
  const lastStatus = statuses.at(-1);
  const failedRun = f.exitCode !== 0 || errors.length > 0 || f.events.some((e) => e.kind === "result" && e.isError);
  if (failedRun && (lastStatus === 529 || lastStatus === 503))
    return {
      class: "Overloaded",
      message: `the model is overloaded (HTTP ${lastStatus})${detail}`,
      exitCode: EXIT_TEMPFAIL,
    };
  if (failedRun && lastStatus === 429)
    return {
      class: "RateLimited",
      message: `rate limited by the model API (HTTP 429)${detail}`,
      exitCode: EXIT_TEMPFAIL,
    };
  if (failedRun && last?.message && UNREACHABLE.test(last.message))
    return { class: "ModelUnreachable", message: `the model API is unreachable${detail}`, exitCode: EXIT_TEMPFAIL };
  if (denied.length > 0) {
    const tools = [...new Set(denied.map((d) => d.tool))].join(", ");
    return {
      class: "PermissionDenied",
      message: `the agent was denied ${tools} ${denied.length} time(s) and did not finish; the permission mode does not let it work (check agents.args)`,
      exitCode: EXIT_CONFIG,
    };
  }
  if (failedRun) {
    const code = f.exitCode === 0 || f.exitCode === null ? 1 : f.exitCode;
    return { class: "AgentError", message: `the agent failed (exit ${f.exitCode})${detail}`, exitCode: code };
  }
  const what = f.role === "Refinery" ? "gt done or gt review-failed" : "gt done";
  const asked = f.reported.length > 0 ? ` (it reported ${f.reported.join(", ")})` : "";
  return {
    class: "Lost",
    message: `the agent exited 0 without calling ${what}${asked}; the work is not reported`,
    exitCode: 1,
  };
}

/**
 * What the operator is told about an outcome (the session's termination line): Configuration holds
 * the work until the Town changes (a refused key, a permission mode that cannot work); Transient fails
 * the attempt with the normal back-off. Completed and a stop explain nothing.
 */
const TERMINATIONS: Partial<Record<OutcomeClass, Omit<Termination, "message">>> = {
  AuthError: { reason: "ModelAuthFailed", kind: "Configuration" },
  PermissionDenied: { reason: "ToolPermissionDenied", kind: "Configuration" },
  RateLimited: { reason: "ModelRateLimited", kind: "Transient" },
  Overloaded: { reason: "ModelOverloaded", kind: "Transient" },
  ModelUnreachable: { reason: "ModelUnreachable", kind: "Transient" },
  AgentError: { reason: "AgentFailed", kind: "Transient" },
  Lost: { reason: "AgentExitedWithoutDone", kind: "Transient" },
};

export function outcomeTermination(o: Outcome): Termination | undefined {
  const t = TERMINATIONS[o.class];
  return t ? { ...t, message: o.message } : undefined;
}
