// The informer's real transport: paginated lists and streaming watches against the apiserver.
import type { KubeConnection } from "./config.ts";
import type { ApiStatus } from "./errors.ts";
import { createKubeHttp, type KubeHttp } from "./http.ts";
import type { KubeObject, ListResult, ListWatch, WatchEvent } from "./informer.ts";
import { collectionPath } from "./paths.ts";

export interface ResourceSelector {
  /** "" for the core group. */
  group: string;
  version: string;
  plural: string;
  /** Omit to list and watch across all namespaces. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export interface KubeListWatchOptions {
  /** Objects per list page (client-go's pager: 500). */
  pageSize?: number;
  /**
   * The server-side watch timeout for each watch, in seconds. client-go picks 5–10 minutes at
   * random so that a fleet of watchers does not reconnect in step; tests pass a few seconds.
   */
  watchTimeoutSeconds?: () => number;
}

interface WireList {
  kind?: string;
  apiVersion?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items?: KubeObject[];
}

function toWatchEvent(line: string): WatchEvent | undefined {
  let parsed: { type?: string; object?: unknown };
  try {
    parsed = JSON.parse(line) as typeof parsed;
  } catch {
    return undefined;
  }
  switch (parsed.type) {
    case "ADDED":
    case "MODIFIED":
    case "DELETED":
      return { type: parsed.type, object: parsed.object as KubeObject };
    case "BOOKMARK": {
      const rv = (parsed.object as KubeObject | undefined)?.metadata?.resourceVersion;
      return rv ? { type: "BOOKMARK", resourceVersion: rv } : undefined;
    }
    case "ERROR":
      return { type: "ERROR", status: (parsed.object ?? {}) as ApiStatus };
    default:
      return undefined;
  }
}

export function createKubeListWatch(
  client: KubeConnection | KubeHttp,
  resource: ResourceSelector,
  options: KubeListWatchOptions = {},
): ListWatch {
  const api = "json" in client ? client : createKubeHttp(client);
  const path = collectionPath(resource);
  const selectors = { labelSelector: resource.labelSelector, fieldSelector: resource.fieldSelector };
  const pageSize = options.pageSize ?? 500;
  const watchTimeoutSeconds = options.watchTimeoutSeconds ?? (() => Math.floor(300 * (1 + Math.random())));

  return {
    async list(signal) {
      const items: KubeObject[] = [];
      let token: string | undefined;
      let resourceVersion = "";
      do {
        const page = await api.json<WireList>({
          method: "GET",
          path,
          query: { ...selectors, limit: pageSize, continue: token },
          signal,
          timeoutMs: 60_000,
        });
        // Items of a list carry no apiVersion/kind; restore them so cached objects look like watched ones.
        const kind = page.kind?.replace(/List$/, "");
        for (const item of page.items ?? []) {
          items.push({ apiVersion: page.apiVersion, kind, ...item });
        }
        // Every page is served from the snapshot of the first, so the last one's version is the list's.
        resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
        token = page.metadata?.continue || undefined;
      } while (token !== undefined);
      return { items, resourceVersion } satisfies ListResult;
    },

    watch(resourceVersion, onEvent, onDone) {
      const abort = new AbortController();
      const timeoutSeconds = watchTimeoutSeconds();
      // The server ends the watch after timeoutSeconds; this guard covers a connection that died
      // silently (no FIN, no RST), which would otherwise leave the cache frozen forever.
      const guard = setTimeout(
        () => abort.abort(new Error("watch outlived its timeout")),
        (timeoutSeconds + 30) * 1000,
      );
      guard.unref();
      let stopped = false;
      api
        .lines(
          {
            method: "GET",
            path,
            query: { ...selectors, watch: 1, resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
            signal: abort.signal,
          },
          (line) => {
            const event = toWatchEvent(line);
            if (event !== undefined && !stopped) onEvent(event);
          },
        )
        .then(
          () => {
            clearTimeout(guard);
            if (stopped) return;
            if (abort.signal.aborted) onDone(abort.signal.reason);
            else onDone();
          },
          (err: unknown) => {
            clearTimeout(guard);
            if (!stopped) onDone(err);
          },
        );
      return {
        stop() {
          stopped = true;
          clearTimeout(guard);
          abort.abort();
        },
      };
    },
  };
}
