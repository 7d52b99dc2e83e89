// What a session says about its own end: `gt run` writes why it failed as one JSON line to its
// termination message (the Pod's terminationMessagePath, or the process runtime's file), and both
// runtimes read it back the same way (docs/agent-contract.md).
import type { SessionObservation } from "../core/snapshot.ts";

/** The last line of a termination message, when it is gt's JSON; anything else is not ours. */
export function parseTermination(text: string | undefined): SessionObservation["termination"] {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text.trim().split("\n").pop() ?? "") as Record<string, unknown>;
    const kind = v.kind === "Configuration" ? "Configuration" : v.kind === "Transient" ? "Transient" : undefined;
    if (typeof v.reason !== "string" || !kind) return undefined;
    return { reason: v.reason, kind, message: typeof v.message === "string" ? v.message.slice(0, 1024) : "" };
  } catch {
    return undefined;
  }
}

/**
 * A session whose configuration names something that does not exist (a Secret, a key): what the
 * kubelet reports as CreateContainerConfigError, in its words. The process runtime throws it.
 */
export class SessionConfigError extends Error {}
