// What goes wrong in `kubectl gt`, as one line a person can act on: which object, what is wrong,
// and the command or edit that fixes it. Exit codes are part of the interface (scripts read them).
import { KubeApiError } from "../controller/kube-http.ts";

export const EXIT = {
  ok: 0,
  /** The request failed: the cluster refused it, or a check (doctor) found a problem. */
  failed: 1,
  /** Bad flags or arguments: nothing was sent to the cluster. */
  usage: 2,
  /** The named object does not exist. */
  notFound: 3,
  /** The cluster could not be reached (or credentials were refused). */
  unreachable: 4,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export class CliError extends Error {
  readonly exitCode: ExitCode;
  /** What to do about it, e.g. "list them with: kubectl get beads -n demo". */
  readonly hint: string | undefined;

  constructor(message: string, opts: { exitCode?: ExitCode; hint?: string } = {}) {
    super(message);
    this.name = "CliError";
    this.exitCode = opts.exitCode ?? EXIT.failed;
    this.hint = opts.hint;
  }
}

export const usageError = (message: string, hint?: string) =>
  new CliError(message, { exitCode: EXIT.usage, ...(hint ? { hint } : {}) });

export function notFound(kind: string, name: string, namespace: string, hint?: string): CliError {
  return new CliError(`${kind.toLowerCase()} "${name}" not found in namespace "${namespace}"`, {
    exitCode: EXIT.notFound,
    hint: hint ?? `list them with: kubectl get ${kind.toLowerCase()}s -n ${namespace}`,
  });
}

const NETWORK_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EHOSTUNREACH", "ETIMEDOUT", "ECONNRESET", "EAI_AGAIN"]);

/** Turns anything thrown into a CliError; `what` names the object or request, e.g. "bead/x". */
export function explain(err: unknown, what?: string): CliError {
  if (err instanceof CliError) return err;
  const prefix = what ? `${what}: ` : "";
  if (err instanceof KubeApiError) {
    switch (err.statusCode) {
      case 401:
        return new CliError(`${prefix}the cluster refused the credentials (401 Unauthorized)`, {
          exitCode: EXIT.unreachable,
          hint: "check the user of your kubeconfig context (kubectl config view --minify), or log in again",
        });
      case 403:
        return new CliError(`${prefix}${err.message}`, {
          hint: "ask for RBAC access to gastown.dev resources in this namespace (kubectl auth can-i --list -n <ns>)",
        });
      case 404:
        return new CliError(`${prefix}${err.message}`, { exitCode: EXIT.notFound });
      case 422:
        return new CliError(`${prefix}the cluster rejected the change: ${err.message}`);
      default:
        return new CliError(`${prefix}${err.message}`);
    }
  }
  const code =
    (err as { code?: string; cause?: { code?: string } })?.code ?? (err as { cause?: { code?: string } })?.cause?.code;
  if (code && NETWORK_CODES.has(code)) {
    return new CliError(`${prefix}cannot reach the cluster (${code}): ${(err as Error).message}`, {
      exitCode: EXIT.unreachable,
      hint: "is the cluster up, and is the right context selected? (kubectl config current-context, --context, --kubeconfig)",
    });
  }
  if ((err as Error)?.name === "TimeoutError" || (err as Error)?.name === "AbortError") {
    return new CliError(`${prefix}the cluster did not answer in time`, { exitCode: EXIT.unreachable });
  }
  return new CliError(`${prefix}${(err as Error)?.message ?? String(err)}`);
}
