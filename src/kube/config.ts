// Where the API server is and how to authenticate, without loading @kubernetes/client-node: its
// generated API models cost the operator process about 80 MiB of RSS and seconds of startup, and
// the operator needs none of them. Reads a kubeconfig file (or $KUBECONFIG, or ~/.kube/config), or
// the in-cluster service account. Kubeconfigs that authenticate through an exec plugin or an auth
// provider (cloud CLIs), or that $KUBECONFIG merges from several files, are handed to client-node,
// loaded only then. The shape matches client-node's KubeConfig where the shell uses it, so either
// can be passed wherever a KubeConnection is expected.
import { readFileSync, statSync } from "node:fs";
import type { RequestOptions } from "node:https";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { parse } from "yaml";

export interface ClusterInfo {
  name: string;
  server: string;
  caData?: string;
  caFile?: string;
  skipTLSVerify: boolean;
  tlsServerName?: string;
}

/** The part of a KubeConfig the shell uses: client-node's KubeConfig has the same shape. */
export interface KubeConnection {
  getCurrentCluster(): ClusterInfo | null;
  /** Adds TLS material and credentials to a request's options. */
  applyToHTTPSOptions(opts: RequestOptions): Promise<void>;
}

export interface LoadedConnection extends KubeConnection {
  /** The current context's namespace, if it names one. */
  readonly namespace: string | undefined;
  /** Where it came from, for logs: a file path, "in-cluster", or "client-node: <path>". */
  readonly source: string;
}

const SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount";
/** Bound service-account tokens rotate; client-go re-reads the file about once a minute. */
const TOKEN_FILE_TTL_MS = 60_000;

type RawConfig = {
  clusters?: { name: string; cluster: Record<string, unknown> }[];
  users?: { name: string; user: Record<string, unknown> }[];
  contexts?: { name: string; context: { cluster?: string; user?: string; namespace?: string } }[];
  "current-context"?: string;
};

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);
const base64 = (v: string) => Buffer.from(v, "base64");

function fileReader(path: string) {
  let cached: { text: string; at: number } | undefined;
  return () => {
    const now = Date.now();
    if (!cached || now - cached.at > TOKEN_FILE_TTL_MS) cached = { text: readFileSync(path, "utf8").trim(), at: now };
    return cached.text;
  };
}

class Connection implements LoadedConnection {
  readonly namespace: string | undefined;
  readonly source: string;
  private readonly cluster: ClusterInfo;
  private readonly tls: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  private readonly token: (() => string) | undefined;
  private readonly basic: string | undefined;

  constructor(o: {
    cluster: ClusterInfo;
    namespace?: string;
    source: string;
    ca?: Buffer;
    cert?: Buffer;
    key?: Buffer;
    token?: () => string;
    basic?: string;
  }) {
    this.cluster = o.cluster;
    this.namespace = o.namespace;
    this.source = o.source;
    this.tls = { ...(o.ca ? { ca: o.ca } : {}), ...(o.cert ? { cert: o.cert } : {}), ...(o.key ? { key: o.key } : {}) };
    this.token = o.token;
    this.basic = o.basic;
  }

  getCurrentCluster(): ClusterInfo {
    return this.cluster;
  }

  async applyToHTTPSOptions(opts: RequestOptions): Promise<void> {
    Object.assign(opts, this.tls);
    if (this.cluster.skipTLSVerify) opts.rejectUnauthorized = false;
    if (this.cluster.tlsServerName) opts.servername = this.cluster.tlsServerName;
    const headers = { ...(opts.headers as Record<string, string> | undefined) };
    if (this.token) headers.Authorization = `Bearer ${this.token()}`;
    else if (this.basic) headers.Authorization = `Basic ${this.basic}`;
    opts.headers = headers;
  }
}

/** The in-cluster connection of a pod's service account (KUBERNETES_SERVICE_HOST/PORT). */
export function inClusterConnection(env: NodeJS.ProcessEnv = process.env, dir = SERVICE_ACCOUNT): LoadedConnection {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) throw new Error("not running in a cluster: KUBERNETES_SERVICE_HOST/PORT are not set");
  const server = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  let namespace: string | undefined;
  try {
    namespace = readFileSync(join(dir, "namespace"), "utf8").trim();
  } catch {}
  return new Connection({
    cluster: { name: "in-cluster", server, caFile: join(dir, "ca.crt"), skipTLSVerify: false },
    ...(namespace ? { namespace } : {}),
    source: "in-cluster",
    ca: readFileSync(join(dir, "ca.crt")),
    token: fileReader(join(dir, "token")),
  });
}

function pick<T>(list: { name: string }[] | undefined, name: string | undefined, what: string, path: string): T {
  const found = list?.find((x) => x.name === name);
  if (!found) throw new Error(`${path}: ${what} ${JSON.stringify(name)} is not defined`);
  return found as T;
}

/** Parses a kubeconfig; undefined when only client-node can serve it (exec plugins, auth providers). */
export function connectionFromKubeconfig(text: string, path: string): LoadedConnection | undefined {
  const raw = (parse(text) ?? {}) as RawConfig;
  const context = pick<{ context: { cluster?: string; user?: string; namespace?: string } }>(
    raw.contexts,
    raw["current-context"],
    "current-context",
    path,
  ).context;
  const c = pick<{ name: string; cluster: Record<string, unknown> }>(raw.clusters, context.cluster, "cluster", path);
  const u = context.user
    ? pick<{ user: Record<string, unknown> }>(raw.users, context.user, "user", path).user
    : ({} as Record<string, unknown>);
  if (u.exec || u["auth-provider"]) return undefined;
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
  const file = (v: unknown) => {
    const p = str(v);
    return p ? readFileSync(p.startsWith("/") ? p : join(dir, p)) : undefined;
  };
  const server = str(c.cluster.server);
  if (!server) throw new Error(`${path}: cluster ${c.name} has no server`);
  const caData = str(c.cluster["certificate-authority-data"]);
  const caFile = str(c.cluster["certificate-authority"]);
  const token = str(u.token);
  const tokenFile = str(u.tokenFile);
  const username = str(u.username);
  const cert = str(u["client-certificate-data"])
    ? base64(u["client-certificate-data"] as string)
    : file(u["client-certificate"]);
  const key = str(u["client-key-data"]) ? base64(u["client-key-data"] as string) : file(u["client-key"]);
  const ca = caData ? base64(caData) : file(caFile);
  const tlsServerName = str(c.cluster["tls-server-name"]);
  return new Connection({
    cluster: {
      name: c.name,
      server,
      ...(caData ? { caData } : {}),
      ...(caFile ? { caFile } : {}),
      skipTLSVerify: c.cluster["insecure-skip-tls-verify"] === true,
      ...(tlsServerName ? { tlsServerName } : {}),
    },
    ...(context.namespace ? { namespace: context.namespace } : {}),
    source: path,
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(token ? { token: () => token } : tokenFile ? { token: fileReader(tokenFile) } : {}),
    ...(username ? { basic: Buffer.from(`${username}:${str(u.password) ?? ""}`).toString("base64") } : {}),
  });
}

async function viaClientNode(path: string | undefined): Promise<LoadedConnection> {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  const namespace = kc.getContextObject(kc.getCurrentContext())?.namespace;
  return Object.assign(kc, {
    namespace,
    source: `client-node: ${path ?? "$KUBECONFIG"}`,
  }) as unknown as LoadedConnection;
}

function exists(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * The connection to use: the given kubeconfig file; else $KUBECONFIG; else the in-cluster service
 * account when running in a pod; else ~/.kube/config (client-go's order for a controller).
 */
export async function loadConnection(file?: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConnection> {
  const fromFile = async (path: string) =>
    connectionFromKubeconfig(readFileSync(path, "utf8"), path) ?? (await viaClientNode(path));
  if (file) return fromFile(file);
  const list = (env.KUBECONFIG ?? "").split(delimiter).filter(Boolean);
  if (list.length > 1) return viaClientNode(undefined);
  if (list.length === 1) return fromFile(list[0] as string);
  if (env.KUBERNETES_SERVICE_HOST) return inClusterConnection(env);
  const home = join(env.HOME ?? homedir(), ".kube", "config");
  if (exists(home)) return fromFile(home);
  throw new Error("no kubeconfig: pass --kubeconfig, set $KUBECONFIG, or run in a cluster");
}
