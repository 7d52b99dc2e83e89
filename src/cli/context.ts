// The connection a command works through, from the flags kubectl users expect: --kubeconfig, --context
// and -n/--namespace, falling back to $KUBECONFIG, the current context and its namespace, exactly as
// kubectl resolves them (client-node's KubeConfig implements the same loading rules). client-node
// is the slowest module to load by far, so it is imported only when a command connects.
import type { KubeConfig } from "@kubernetes/client-node";
import { createKubeHttp, type KubeHttp } from "../controller/kube-http.ts";
import { CliError, EXIT, usageError } from "./errors.ts";

export interface GlobalFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}

export interface Output {
  out(text: string): void;
  err(text: string): void;
  /** stdout is a terminal: colours and redrawing are allowed. */
  isTTY: boolean;
  columns: number;
}

export interface Cli {
  kubeConfig: KubeConfig;
  http: KubeHttp;
  /** From -n, else the context's, else "default"; errors name it. */
  namespace: string;
  now(): number;
  io: Output;
}

export async function loadKubeConfig(flags: GlobalFlags): Promise<KubeConfig> {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  try {
    if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig);
    else kc.loadFromDefault();
  } catch (e) {
    throw new CliError(
      `cannot load the kubeconfig ${flags.kubeconfig ?? process.env.KUBECONFIG ?? "~/.kube/config"}: ${(e as Error).message}`,
      {
        exitCode: EXIT.unreachable,
        hint: "pass --kubeconfig PATH or set KUBECONFIG",
      },
    );
  }
  if (flags.context) {
    if (!kc.getContextObject(flags.context)) {
      const known = kc.contexts.map((c) => c.name);
      throw usageError(
        `context "${flags.context}" is not in the kubeconfig`,
        known.length > 0 ? `known contexts: ${known.join(", ")}` : "the kubeconfig has no contexts",
      );
    }
    kc.setCurrentContext(flags.context);
  }
  if (!kc.getCurrentCluster()) {
    throw new CliError("the kubeconfig has no current cluster", {
      exitCode: EXIT.unreachable,
      hint: "select a context with --context NAME or kubectl config use-context NAME",
    });
  }
  return kc;
}

export function namespaceOf(kc: KubeConfig, flags: GlobalFlags): string {
  if (flags.namespace) return flags.namespace;
  const ctx = kc.getContextObject(kc.getCurrentContext());
  return ctx?.namespace || "default";
}

export function processOutput(): Output {
  return {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    isTTY: process.stdout.isTTY === true,
    // Only a terminal has a width; a pipe or a file gets whole lines.
    columns: process.stdout.isTTY ? process.stdout.columns || 100 : Number.POSITIVE_INFINITY,
  };
}

export async function connect(flags: GlobalFlags, io: Output): Promise<Cli> {
  const kubeConfig = await loadKubeConfig(flags);
  return {
    kubeConfig,
    http: createKubeHttp(kubeConfig),
    namespace: namespaceOf(kubeConfig, flags),
    now: () => Date.now(),
    io,
  };
}
