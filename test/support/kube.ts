// Helpers for tests that talk to the cluster of the run (see cluster-setup.ts).
//
// Waiting is driven by watches: waitFor/waitForList list once, then re-check on every watch event
// (re-listing when a watch ends), so a test resumes the moment the cluster changes and never
// sleeps a fixed time. A timeout names what was awaited and shows the last state seen.
import { randomBytes } from "node:crypto";
import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  Watch,
} from "@kubernetes/client-node";
import { afterAll, inject } from "vitest";
import { parseAllDocuments } from "yaml";
import { kubectl } from "../../hack/local-cluster.ts";

export const FIELD_MANAGER = "gastown-test";

/** An admin KubeConfig for the cluster of this test run. */
export function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath());
  return kc;
}

export function kubeconfigPath(): string {
  return inject("kubeconfigPath");
}

/** hack/bin/kubectl against the test cluster; resolves to stdout, rejects with stderr. */
export function runKubectl(args: string[], input?: string): Promise<string> {
  return kubectl(kubeconfigPath(), args, { input });
}

const namespaces: { kc: KubeConfig; name: string }[] = [];

/**
 * Creates a namespace named `<prefix>-<random>` and returns its name. Every namespace created in
 * a test file is deleted after that file (the afterAll below is registered when the file imports
 * this module); deletion is not awaited to completion, the namespace controller finishes it.
 */
export async function createNamespace(
  prefix: string,
  opts: { kc?: KubeConfig; labels?: Record<string, string> } = {},
): Promise<string> {
  const kc = opts.kc ?? kubeConfig();
  const base = prefix
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 50);
  const name = `${base || "test"}-${randomBytes(3).toString("hex")}`;
  await kc.makeApiClient(CoreV1Api).createNamespace({
    body: { metadata: { name, labels: { "gastown.dev/test": "true", ...opts.labels } } },
  });
  namespaces.push({ kc, name });
  return name;
}

export async function deleteNamespace(kc: KubeConfig, name: string): Promise<void> {
  try {
    await kc.makeApiClient(CoreV1Api).deleteNamespace({ name });
  } catch (err) {
    if (apiError(err)?.code !== 404) throw err;
  }
}

afterAll(async () => {
  const all = namespaces.splice(0);
  await Promise.all(all.map(({ kc, name }) => deleteNamespace(kc, name)));
});

/** Every YAML document in `text`, as plain objects (empty documents dropped). */
export function parseYamlDocuments(text: string): KubernetesObject[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`invalid YAML: ${doc.errors[0]?.message}`);
      return doc.toJS() as KubernetesObject | null;
    })
    .filter((doc): doc is KubernetesObject => doc !== null && typeof doc === "object");
}

/** Server-side applies every document of `text` into `namespace`; returns the objects as stored. */
export async function applyYaml(kc: KubeConfig, namespace: string, text: string): Promise<KubernetesObject[]> {
  const client = KubernetesObjectApi.makeApiClient(kc);
  const applied: KubernetesObject[] = [];
  for (const doc of parseYamlDocuments(text)) {
    doc.metadata = { ...doc.metadata, namespace };
    applied.push(
      plain(await client.patch(doc, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply)),
    );
  }
  return applied;
}

export interface ApiError {
  code: number;
  /** The apiserver's Status.message (the human-readable part a user sees in kubectl). */
  message: string;
  reason?: string;
}

/** The apiserver's Status from a client-node error, or undefined for other errors. */
export function apiError(err: unknown): ApiError | undefined {
  if (!(err instanceof ApiException)) return undefined;
  let body: unknown = err.body;
  if (typeof body === "string") {
    try {
      body = JSON.parse(body);
    } catch {}
  }
  const status = (typeof body === "object" && body !== null ? body : {}) as { message?: string; reason?: string };
  return { code: err.code, message: status.message ?? String(err.body), reason: status.reason };
}

/** Resolves to the ApiError a call failed with; fails if the call succeeded or failed otherwise. */
export async function expectApiError(call: Promise<unknown>): Promise<ApiError> {
  let result: unknown;
  try {
    result = await call;
  } catch (err) {
    const api = apiError(err);
    if (api) return api;
    throw err;
  }
  throw new Error(`expected the apiserver to refuse, but it accepted: ${JSON.stringify(result).slice(0, 800)}`);
}

/** Drops client-node's model classes (Date fields and all): objects as the apiserver sent them. */
export function plain<T>(obj: T): T {
  return JSON.parse(JSON.stringify(obj)) as T;
}

// --- waiting -------------------------------------------------------------------------------------

export interface WatchTarget {
  apiVersion: string;
  kind: string;
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export interface WaitOptions {
  /** What is awaited, for the timeout message, e.g. "pod web to be Running". */
  description: string;
  timeoutMs?: number;
}

/** Exposes the collection path KubernetesObjectApi resolves through discovery, for Watch. */
class PathResolver extends KubernetesObjectApi {
  async collectionPath(apiVersion: string, kind: string, namespace?: string): Promise<string> {
    const resource = await this.resource(apiVersion, kind);
    if (!resource) throw new Error(`the apiserver does not serve ${kind} in ${apiVersion}`);
    const parts = [this.apiVersionPath(apiVersion)];
    if (resource.namespaced && namespace) parts.push("namespaces", encodeURIComponent(namespace));
    parts.push(resource.name);
    return parts.join("/");
  }
}

/**
 * Waits until `check` accepts the objects matching `target`, then returns them. `check` runs on
 * the initial list and again after every watch event.
 */
export function waitForList<T extends KubernetesObject = KubernetesObject>(
  kc: KubeConfig,
  target: WatchTarget,
  check: (items: T[]) => boolean,
  opts: WaitOptions,
): Promise<T[]> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const objects = kc.makeApiClient(KubernetesObjectApi);
  const resolver = kc.makeApiClient(PathResolver);
  const items = new Map<string, T>();
  const current = () => [...items.values()];
  let lastError: string | undefined;
  let listed = false;

  return new Promise<T[]>((resolve, reject) => {
    let finished = false;
    let watch: AbortController | undefined;
    const finish = (err: Error | undefined) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      watch?.abort();
      if (err) reject(err);
      else resolve(current());
    };
    const evaluate = () => {
      try {
        if (check(current())) finish(undefined);
      } catch (err) {
        finish(err as Error);
      }
    };
    const timer = setTimeout(() => {
      const seen = listed ? describeItems(current()) : "(nothing: the initial list never succeeded)";
      const error = lastError ? `; last error: ${lastError}` : "";
      finish(new Error(`timed out after ${timeoutMs}ms waiting for ${opts.description}; last seen: ${seen}${error}`));
    }, timeoutMs);

    const listAndWatch = async (): Promise<void> => {
      if (finished) return;
      try {
        const list = await objects.list<T>(
          target.apiVersion,
          target.kind,
          target.namespace,
          undefined,
          undefined,
          undefined,
          target.fieldSelector,
          target.labelSelector,
        );
        items.clear();
        for (const item of list.items) items.set(key(item), plain(item));
        listed = true;
        evaluate();
        if (finished) return;
        const path = await resolver.collectionPath(target.apiVersion, target.kind, target.namespace);
        watch = await new Watch(kc).watch(
          path,
          {
            resourceVersion: list.metadata?.resourceVersion,
            allowWatchBookmarks: true,
            labelSelector: target.labelSelector,
            fieldSelector: target.fieldSelector,
          },
          (type: string, obj: T) => {
            if (type === "ADDED" || type === "MODIFIED") items.set(key(obj), obj);
            else if (type === "DELETED") items.delete(key(obj));
            else if (type === "ERROR") lastError = JSON.stringify(obj);
            if (type !== "BOOKMARK") evaluate();
          },
          // A watch ends on server timeouts and "resource version too old": list again.
          (err: unknown) => {
            // The client ends quiet watches after 30 s (TimeoutError): routine, not worth reporting.
            if (err && (err as Error).name !== "TimeoutError") lastError = String((err as Error).message ?? err);
            if (!finished) setTimeout(() => void listAndWatch(), err ? 100 : 0);
          },
        );
        if (finished) watch.abort();
      } catch (err) {
        lastError = apiError(err)?.message ?? (err as Error).message;
        if (!finished) setTimeout(() => void listAndWatch(), 200);
      }
    };
    void listAndWatch();
  });
}

/**
 * Waits until `check` accepts the named object (`undefined` while it does not exist, so
 * `(o) => o === undefined` waits for a deletion), then returns it.
 */
export async function waitFor<T extends KubernetesObject = KubernetesObject>(
  kc: KubeConfig,
  target: WatchTarget & { name: string },
  check: (obj: T | undefined) => boolean,
  opts: WaitOptions,
): Promise<T | undefined> {
  const byName = `metadata.name=${target.name}`;
  const fieldSelector = target.fieldSelector ? `${target.fieldSelector},${byName}` : byName;
  const items = await waitForList<T>(kc, { ...target, fieldSelector }, (list) => check(list[0]), opts);
  return items[0];
}

function key(obj: KubernetesObject): string {
  return `${obj.metadata?.namespace ?? ""}/${obj.metadata?.name ?? ""}`;
}

/** The objects without the metadata noise (managedFields, annotations), short enough for an error. */
function describeItems(items: KubernetesObject[]): string {
  if (items.length === 0) return "(no such object)";
  const brief = items.map(({ apiVersion: _a, kind: _k, metadata, ...rest }) => ({
    name: metadata?.name,
    resourceVersion: metadata?.resourceVersion,
    ...(metadata?.deletionTimestamp ? { deletionTimestamp: metadata.deletionTimestamp } : {}),
    ...rest,
  }));
  const text = JSON.stringify(brief.length === 1 ? brief[0] : brief);
  return text.length > 3000 ? `${text.slice(0, 3000)}…` : text;
}

/**
 * Retries `attempt` with exponential back-off until it resolves. Only for effects no watch can
 * show, such as an admission policy or an RBAC binding reaching the apiserver's own caches.
 */
export async function retryUntil<T>(description: string, attempt: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let wait = 25;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() + wait > deadline) {
        const why = apiError(err)?.message ?? (err as Error).message;
        throw new Error(`timed out after ${timeoutMs}ms waiting for ${description}; last failure: ${why}`);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
    wait = Math.min(wait * 2, 1000);
  }
}
