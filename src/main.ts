// The operator's entry point: flags, kubeconfig, logger, runtime; then run until SIGTERM/SIGINT and
// shut down gracefully (release leadership, finish in-flight reconciles, flush Events).
import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { createLogger } from "./controller/logger.ts";
import { startOperator } from "./controller/operator.ts";
import { type LoadedConnection, loadConnection } from "./kube/config.ts";
import { parseSelector } from "./kube/selector.ts";
import { createPodRuntime } from "./runtime/pod-runtime.ts";

const HELP = `gastown-operator — reconciles Gas Town resources (towns, convoys, beads, agents)

Usage: node src/main.ts [flags]

  --kubeconfig PATH            kubeconfig to use (default: $KUBECONFIG, then in-cluster)
  --namespace NS               watch only this namespace (default: $WATCH_NAMESPACE, else all)
  --runtime pod|process        run sessions as Pods (default) or as local processes
  --process-dir DIR            process runtime: where workspaces and session logs go (default .run/sessions)
  --leader-elect               use leader election (run several replicas safely)
  --leader-election-namespace  namespace of the leader Lease (default: $POD_NAMESPACE or --namespace)
  --leader-election-id NAME    name of the leader Lease, and of this shard (default gastown-operator)
  --town-selector SELECTOR     shard: reconcile only Towns with matching labels (e.g. shard=eu); every
                               shard needs its own --leader-election-id (see README, Sharding)
  --metrics-port N             serve /metrics, /healthz, /readyz on this port (default 8080; -1 disables)
  --metrics-secure             HTTPS, and /metrics only for tokens allowed to get /metrics
                               (TokenReview + SubjectAccessReview); default plain HTTP, for local use
  --metrics-cert-dir DIR       with --metrics-secure: tls.crt and tls.key (default: self-signed)
  --workers N                  towns reconciled in parallel (default 4)
  --forge-allowed-hosts LIST   comma-separated forge API hosts PRs may be polled on
                               (default api.github.com,gitlab.com)
  --log-level LEVEL            trace|debug|info|warn|error (default info)
  --log-format json|text       text prints one short line per transition (default json)
  --identity NAME              this replica's identity (default: hostname-pid)
  -h, --help                   show this help`;

function fail(message: string): never {
  process.stderr.write(`error: ${message}\n\n${HELP}\n`);
  process.exit(2);
}

function flags() {
  try {
    return parseArgs({
      options: {
        kubeconfig: { type: "string" },
        namespace: { type: "string" },
        runtime: { type: "string", default: "pod" },
        "process-dir": { type: "string", default: ".run/sessions" },
        "leader-elect": { type: "boolean", default: false },
        "leader-election-namespace": { type: "string" },
        "leader-election-id": { type: "string", default: "gastown-operator" },
        "town-selector": { type: "string" },
        "metrics-port": { type: "string", default: "8080" },
        "metrics-secure": { type: "boolean", default: false },
        "metrics-cert-dir": { type: "string" },
        workers: { type: "string", default: "4" },
        "forge-allowed-hosts": { type: "string", default: "api.github.com,gitlab.com" },
        "log-level": { type: "string", default: process.env.LOG_LEVEL ?? "info" },
        "log-format": { type: "string", default: "json" },
        identity: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
    }).values;
  } catch (e) {
    return fail((e as Error).message);
  }
}

function integer(name: string, text: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) fail(`--${name} must be an integer >= ${min}, got ${JSON.stringify(text)}`);
  return n;
}

async function main(): Promise<void> {
  const f = flags();
  if (f.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  if (f.runtime !== "pod" && f.runtime !== "process")
    fail(`--runtime must be pod or process, got ${JSON.stringify(f.runtime)}`);
  if (f["log-format"] !== "json" && f["log-format"] !== "text") fail(`--log-format must be json or text`);
  let kc: LoadedConnection;
  try {
    kc = await loadConnection(f.kubeconfig);
  } catch (e) {
    return fail(`cannot load the kubeconfig: ${(e as Error).message}`);
  }
  const namespace = f.namespace ?? process.env.WATCH_NAMESPACE ?? undefined;
  const logger = createLogger({ level: f["log-level"], component: "operator", format: f["log-format"] });
  const leaseNamespace = f["leader-election-namespace"] ?? process.env.POD_NAMESPACE ?? namespace;
  if (f["leader-elect"] && !leaseNamespace)
    fail("--leader-elect needs --leader-election-namespace (or $POD_NAMESPACE, or --namespace)");
  const metricsPort = integer("metrics-port", f["metrics-port"], -1);
  if (f["metrics-cert-dir"] && !f["metrics-secure"]) fail("--metrics-cert-dir needs --metrics-secure");
  const secureMetrics = f["metrics-secure"]
    ? {
        tls: await (async () => {
          const { readServingCert, selfSignedServingCert } = await import("./controller/serving-cert.ts");
          try {
            return f["metrics-cert-dir"] ? readServingCert(f["metrics-cert-dir"]) : await selfSignedServingCert();
          } catch (e) {
            return fail((e as Error).message);
          }
        })(),
      }
    : undefined;
  const townSelector = f["town-selector"];
  if (townSelector !== undefined) {
    try {
      parseSelector(townSelector);
    } catch (e) {
      fail(`--town-selector: ${(e as Error).message}`);
    }
  }
  const electionId = f["leader-election-id"];
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(electionId) || electionId.length > 63)
    fail(
      `--leader-election-id must be a DNS label (lowercase letters, digits, '-'), got ${JSON.stringify(electionId)}`,
    );
  const processDir = f["process-dir"];
  // Loaded only when asked for: a cluster deployment never needs the local process runtime.
  const processRuntime =
    f.runtime === "process" ? (await import("./runtime/process-runtime.ts")).createProcessRuntime : undefined;
  const operator = await startOperator({
    kubeConfig: kc,
    ...(namespace ? { namespace } : {}),
    runtime: (http) =>
      processRuntime
        ? processRuntime({ http, kubeConfig: kc, dir: processDir, logger })
        : createPodRuntime({ http, ...(namespace ? { namespace } : {}), logger }),
    identity: f.identity ?? `${hostname()}-${process.pid}`,
    ...(f["leader-elect"] && leaseNamespace ? { leaderElection: { namespace: leaseNamespace, name: electionId } } : {}),
    ...(townSelector ? { townSelector, shardId: electionId } : {}),
    workers: integer("workers", f.workers, 1),
    ...(metricsPort >= 0 ? { port: metricsPort } : {}),
    ...(secureMetrics ? { secureMetrics } : {}),
    forgeAllowedHosts: f["forge-allowed-hosts"]
      .split(",")
      .map((h) => h.trim())
      .filter(Boolean),
    logger,
  });
  logger.info({ namespace: namespace ?? "(all)", runtime: f.runtime, port: operator.port }, "operator started");
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    operator.stop().then(
      () => process.exit(0),
      (e) => {
        logger.error({ err: (e as Error).message }, "unclean shutdown");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

await main();
