// How `gt run` says why a session failed: one JSON line in the container's termination message
// (the Pod's terminationMessagePath, /dev/termination-log; the process runtime points
// GT_TERMINATION_LOG at a file of its own). The operator reads it and records the reason on the
// Bead, the Agent and the Town; `kind` says whether a retry can help (docs/agent-contract.md).
import { writeFileSync } from "node:fs";

export const TERMINATION_LOG_ENV = "GT_TERMINATION_LOG";
const DEFAULT_TERMINATION_LOG = "/dev/termination-log";

export interface Termination {
  /** CamelCase, e.g. GitAuthFailed. */
  reason: string;
  /** Configuration: no retry can fix it (the work is held); Transient: the attempt fails and is retried. */
  kind: "Configuration" | "Transient";
  /** The tool's own words. */
  message: string;
}

/** Writes the reason where the runtime reads it; a session without such a file (a test) just logs. */
export function writeTermination(t: Termination, env: NodeJS.ProcessEnv = process.env): void {
  const path = env[TERMINATION_LOG_ENV] || DEFAULT_TERMINATION_LOG;
  try {
    writeFileSync(path, `${JSON.stringify({ ...t, message: t.message.slice(0, 1024) })}\n`);
  } catch {
    // Not a pod and not the process runtime: stderr already has the message.
  }
}

const GIT_FAILURES: { pattern: RegExp; reason: string; kind: Termination["kind"] }[] = [
  {
    pattern:
      /Authentication failed|could not read (Username|Password)|Permission denied \(publickey|terminal prompts disabled|returned error: 40[13]/i,
    reason: "GitAuthFailed",
    kind: "Configuration",
  },
  {
    pattern:
      /repository .* (not found|does not exist)|does not appear to be a git repository|not a git repository|returned error: 404/i,
    reason: "RepositoryNotFound",
    kind: "Configuration",
  },
  {
    pattern: /couldn't find remote ref|remote branch .* not found|invalid reference/i,
    reason: "BranchNotFound",
    kind: "Configuration",
  },
  {
    pattern: /Could not resolve host|Connection refused|Connection reset|timed out|Temporary failure|unable to access/i,
    reason: "GitUnreachable",
    kind: "Transient",
  },
];

/** Classifies a failed clone, fetch, checkout or push by git's own message. */
export function gitFailure(message: string): Termination {
  const known = GIT_FAILURES.find((f) => f.pattern.test(message));
  return { reason: known?.reason ?? "GitFailed", kind: known?.kind ?? "Transient", message };
}
