// Write accounting for the operator benchmark, from two independent sources:
//
// 1. the apiserver: apiserver_request_total from /metrics, mutating verbs only, summed per
//    group/resource/subresource/verb. It has no user label, so on its own it cannot say who wrote;
//    attributeByResource() splits it by what each component is known to write.
// 2. this process: every in-process client (the operator, the simulated agents, the crew's kubelet
//    stand-in, the bench itself) goes through node:https, and the hook below counts its mutating
//    requests per client (a KubeConfig subclass tags each client's requests with a header that is
//    removed before the request leaves). Whatever the apiserver counted beyond these is out of
//    process: kwok, kube-scheduler, kube-controller-manager and the apiserver itself.
import { createRequire, syncBuiltinESMExports } from "node:module";
import { KubeConfig } from "@kubernetes/client-node";
import { kubectl } from "../hack/local-cluster.ts";

export type Client = "operator" | "agents" | "kubelet-sim" | "bench";
export const CLIENTS: readonly Client[] = ["operator", "agents", "kubelet-sim", "bench"];
const HEADER = "x-gastown-bench-client";
const MUTATING = new Set(["POST", "PUT", "PATCH", "DELETE", "APPLY"]);

/** "group/resource[/subresource] VERB"; the core group is "core". */
export type WriteKey = string;
export type Counts = Map<WriteKey, number>;

export const writeKey = (group: string, resource: string, subresource: string, verb: string): WriteKey =>
  `${group || "core"}/${resource}${subresource ? `/${subresource}` : ""} ${verb}`;

export function parseKey(key: WriteKey): { group: string; resource: string; subresource: string; verb: string } {
  const [path = "", verb = ""] = key.split(" ");
  const [group = "", resource = "", subresource = ""] = path.split("/");
  return { group, resource, subresource, verb };
}

/** A KubeConfig whose requests the hook counts as `client`'s. */
export class TaggedKubeConfig extends KubeConfig {
  client: Client = "bench";

  static from(source: KubeConfig, client: Client): TaggedKubeConfig {
    const kc = new TaggedKubeConfig();
    kc.loadFromString(source.exportConfig());
    kc.client = client;
    return kc;
  }

  override async applyToHTTPSOptions(opts: Parameters<KubeConfig["applyToHTTPSOptions"]>[0]): Promise<void> {
    await super.applyToHTTPSOptions(opts);
    opts.headers = { ...(opts.headers as Record<string, string>), [HEADER]: this.client };
  }
}

/** group, resource, subresource of an API path (/api/v1/namespaces/ns/pods/p/status → "", pods, status). */
export function classifyPath(pathname: string): { group: string; resource: string; subresource: string } {
  const parts = pathname.split("/").filter(Boolean);
  let rest: string[];
  let group = "";
  if (parts[0] === "api") rest = parts.slice(2);
  else {
    group = parts[1] ?? "";
    rest = parts.slice(3);
  }
  if (rest[0] === "namespaces" && rest.length >= 3) rest = rest.slice(2);
  return { group, resource: rest[0] ?? "", subresource: rest[2] ?? "" };
}

export interface ClientWriteCounter {
  /** Mutating requests sent so far, per client (a copy). */
  snapshot(): Map<Client, Counts>;
  /** Requests the apiserver answered with >= 400, per client (e.g. AlreadyExists on an idempotent create). */
  failures(): Map<Client, Counts>;
  total(client: Client): number;
  /** Summed round trip (request sent to response headers) of `client`'s mutating requests, in ms. */
  roundTripMs(client: Client): number;
  uninstall(): void;
}

/** Installs the node:https hook (see the header comment); uninstall() restores node:https. */
export function installClientWriteCounter(): ClientWriteCounter {
  const require = createRequire(import.meta.url);
  const https = require("node:https") as typeof import("node:https");
  const original = https.request;
  const sent = new Map<Client, Counts>(CLIENTS.map((c) => [c, new Map()]));
  const failed = new Map<Client, Counts>(CLIENTS.map((c) => [c, new Map()]));
  const bump = (m: Counts, key: string) => m.set(key, (m.get(key) ?? 0) + 1);
  const totals = new Map<Client, number>();
  const roundTrips = new Map<Client, number>();

  const hooked = ((...args: unknown[]) => {
    const url = args[0] instanceof URL ? args[0] : undefined;
    const options = (url ? args[1] : args[0]) as { method?: string; headers?: Record<string, string> } | undefined;
    const client = options?.headers?.[HEADER] as Client | undefined;
    if (!client || !options?.headers) return (original as (...a: unknown[]) => unknown)(...args);
    delete options.headers[HEADER];
    const method = (options.method ?? "GET").toUpperCase();
    const req = (original as (...a: unknown[]) => import("node:http").ClientRequest)(...args);
    if (MUTATING.has(method) && url) {
      const contentType = options.headers["Content-Type"] ?? "";
      const verb = method === "PATCH" && contentType.includes("apply-patch") ? "APPLY" : method;
      const { group, resource, subresource } = classifyPath(url.pathname);
      const key = writeKey(group, resource, subresource, verb);
      bump(sent.get(client) as Counts, key);
      totals.set(client, (totals.get(client) ?? 0) + 1);
      const sentAt = performance.now();
      req.once("response", (res) => {
        roundTrips.set(client, (roundTrips.get(client) ?? 0) + performance.now() - sentAt);
        if ((res.statusCode ?? 0) >= 400) bump(failed.get(client) as Counts, `${key} ${res.statusCode}`);
      });
    }
    return req;
  }) as typeof https.request;

  https.request = hooked;
  syncBuiltinESMExports();
  const copy = (m: Map<Client, Counts>) => new Map([...m].map(([c, counts]) => [c, new Map(counts)]));
  return {
    snapshot: () => copy(sent),
    failures: () => copy(failed),
    total: (client) => totals.get(client) ?? 0,
    roundTripMs: (client) => roundTrips.get(client) ?? 0,
    uninstall() {
      if (https.request === hooked) {
        https.request = original;
        syncBuiltinESMExports();
      }
    },
  };
}

/** Mutating apiserver_request_total per key (all response codes), from the apiserver's /metrics. */
export async function scrapeApiserverWrites(kubeconfigPath: string): Promise<{ counts: Counts; verbs: Set<string> }> {
  const text = await kubectl(kubeconfigPath, ["get", "--raw", "/metrics"], { timeoutMs: 30_000 });
  const counts: Counts = new Map();
  const verbs = new Set<string>();
  for (const line of text.split("\n")) {
    if (!line.startsWith("apiserver_request_total{")) continue;
    const labels: Record<string, string> = {};
    for (const m of line.slice(0, line.lastIndexOf("}")).matchAll(/(\w+)="([^"]*)"/g))
      labels[m[1] as string] = m[2] as string;
    const verb = labels.verb ?? "";
    verbs.add(verb);
    if (!MUTATING.has(verb)) continue;
    const key = writeKey(labels.group ?? "", labels.resource ?? "", labels.subresource ?? "", verb);
    counts.set(key, (counts.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(" ") + 1)));
  }
  return { counts, verbs };
}

export function diff(after: Counts, before: Counts): Counts {
  const out: Counts = new Map();
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d !== 0) out.set(k, d);
  }
  return out;
}

export const sum = (c: Counts, keep: (key: WriteKey) => boolean = () => true) =>
  [...c].reduce((n, [k, v]) => (keep(k) ? n + v : n), 0);

/** The resources the benchmark accounts for: the gastown.dev group and what sessions are made of. */
export function inScope(key: WriteKey): boolean {
  const { group, resource } = parseKey(key);
  if (group === "gastown.dev") return true;
  if (group === "core") return ["pods", "serviceaccounts", "events"].includes(resource);
  if (group === "rbac.authorization.k8s.io") return resource === "roles" || resource === "rolebindings";
  if (group === "coordination.k8s.io") return resource === "leases";
  if (group === "events.k8s.io") return resource === "events";
  return false;
}

/**
 * Who writes a key, judged by resource/subresource/verb alone (what an apiserver-only view can
 * do). The bench's own writes are subtracted before this is applied.
 */
export function ownerByResource(key: WriteKey): string {
  const { group, resource, subresource, verb } = parseKey(key);
  if (group === "gastown.dev") {
    if ((resource === "towns" || resource === "convoys") && !subresource && verb === "POST") return "user (the bench)";
    return resource === "agentreports" && !subresource ? "agents" : "operator";
  }
  if (resource === "pods") {
    if (subresource === "status") return "kubelet (kwok; crew's exit stand-in)";
    if (subresource === "binding") return "scheduler";
    if (verb === "DELETE") return "operator (StopSession) + kwok/GC final delete";
    return "operator";
  }
  if (resource === "serviceaccounts")
    return subresource === "token" ? "kubelet (TokenRequest; crew stand-in)" : "operator";
  if (resource === "roles" || resource === "rolebindings") return "operator";
  if (resource === "leases") {
    if (verb === "PATCH") return "agents (heartbeat)";
    if (verb === "POST") return "operator";
    return "kwok node leases + apiserver identity lease";
  }
  if (resource === "events") return "operator + scheduler (one Scheduled per pods/binding)";
  return "other";
}
