// A list+watch cache for one resource, client-go's reflector and indexer in one module. It lists,
// then watches from the list's resourceVersion; a 410 (our version was compacted away) means
// "list again", any other failure means "watch again from where we were, after a back-off". It
// never gives up while started: a controller with a dead cache would plan from stale facts.
//
// Handlers run synchronously on the informer's loop, so they must only enqueue.
import type { Clock } from "../controller/clock.ts";
import { sleep, systemClock } from "../controller/clock.ts";
import type { Logger } from "../controller/logger.ts";
import { silentLogger } from "../controller/logger.ts";
import { createBackoff } from "../controller/rate-limit.ts";
import { type ApiStatus, isGone } from "./errors.ts";

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

/** Any object as the API returned it (minus managedFields), deep-frozen: the cache's copy is shared. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export type WatchEvent =
  | { type: "ADDED" | "MODIFIED" | "DELETED"; object: KubeObject }
  | { type: "BOOKMARK"; resourceVersion: string }
  | { type: "ERROR"; status: ApiStatus };

export interface ListResult {
  items: KubeObject[];
  resourceVersion: string;
}

export interface WatchHandle {
  /** Ends the watch; onDone is not called afterwards. */
  stop(): void;
}

/** What the informer needs from the API; the default implementation is in list-watch.ts. */
export interface ListWatch {
  list(signal: AbortSignal): Promise<ListResult>;
  /** Calls onDone exactly once: without an error when the server closed the watch, else with it. */
  watch(resourceVersion: string, onEvent: (event: WatchEvent) => void, onDone: (error?: unknown) => void): WatchHandle;
}

export interface InformerHandlers {
  onAdd?(object: KubeObject): void;
  onUpdate?(previous: KubeObject, current: KubeObject): void;
  onDelete?(object: KubeObject): void;
}

export type IndexFunction = (object: KubeObject) => string[];

export interface Informer {
  readonly name: string;
  start(): void;
  stop(): void;
  /** True once the first list has been stored and its handlers have run. */
  hasSynced(): boolean;
  /** Resolves true when synced, false if the informer is stopped or the signal aborts first. */
  waitForSync(signal?: AbortSignal): Promise<boolean>;
  get(namespace: string | undefined, name: string): KubeObject | undefined;
  list(): KubeObject[];
  addIndex(name: string, fn: IndexFunction): void;
  byIndex(name: string, value: string): KubeObject[];
  /** Registers handlers (replaying cached objects as adds); returns the unregister function. */
  addHandlers(handlers: InformerHandlers): () => void;
}

export interface InformerOptions {
  /** For logs: e.g. "pods" or "beads.gastown.dev". */
  name: string;
  listWatch: ListWatch;
  clock?: Clock;
  random?: () => number;
  logger?: Logger;
  /** Restart back-off (client-go's reflector: 800 ms doubling to 30 s, jitter 1.0). */
  backoff?: { initialMs?: number; maxMs?: number; jitter?: number };
  /** A watch that ends sooner than this without delivering anything counts as a failure. */
  minWatchMs?: number;
  /** A watch that lasted this long counts as healthy even if it delivered nothing (default 2 min). */
  healthyWatchMs?: number;
  /**
   * What the cache keeps of each object (client-go's TransformFunc): called once per version,
   * before the object is stored and handlers see it, with managedFields already dropped. Keep
   * only what readers need; the result is frozen.
   */
  transform?: (object: KubeObject) => KubeObject;
}

export function objectKey(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

const keyOf = (object: KubeObject) => objectKey(object.metadata.namespace, object.metadata.name);

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** The cached form: managedFields dropped (large, and nothing here reads them), then frozen. */
export function toCached(object: KubeObject): KubeObject {
  const { managedFields: _dropped, ...metadata } = object.metadata;
  return deepFreeze({ ...object, metadata: metadata as ObjectMeta });
}

type WatchOutcome = { kind: "closed" | "gone" | "failed" | "stopped"; error?: unknown; delivered: number };

export function createInformer(options: InformerOptions): Informer {
  const { name, listWatch } = options;
  const clock = options.clock ?? systemClock;
  const logger = (options.logger ?? silentLogger()).child({ informer: name });
  const minWatchMs = options.minWatchMs ?? 1000;
  const healthyWatchMs = options.healthyWatchMs ?? 120_000;
  const backoff = createBackoff({
    initialMs: options.backoff?.initialMs ?? 800,
    maxMs: options.backoff?.maxMs ?? 30_000,
    jitter: options.backoff?.jitter ?? 1.0,
    random: options.random ?? Math.random,
  });

  const store = new Map<string, KubeObject>();
  const indexes = new Map<string, { fn: IndexFunction; values: Map<string, Set<string>> }>();
  const indexedUnder = new Map<string, Map<string, string[]>>(); // index → object key → values
  const handlers = new Set<InformerHandlers>();
  let synced = false;
  let syncWaiters: Array<(synced: boolean) => void> = [];
  let running: AbortController | undefined;
  let stopCurrentWatch: (() => void) | undefined;

  const indexValues = (index: string, fn: IndexFunction, object: KubeObject): string[] => {
    try {
      return fn(object);
    } catch (err) {
      logger.error({ err, index, object: keyOf(object) }, "index function failed; object left out of the index");
      return [];
    }
  };

  const unindex = (key: string) => {
    for (const [index, { values }] of indexes) {
      for (const value of indexedUnder.get(index)?.get(key) ?? []) {
        const keys = values.get(value);
        keys?.delete(key);
        if (keys?.size === 0) values.delete(value);
      }
      indexedUnder.get(index)?.delete(key);
    }
  };

  const indexObject = (key: string, object: KubeObject) => {
    for (const [index, { fn, values }] of indexes) {
      const found = [...new Set(indexValues(index, fn, object))];
      indexedUnder.get(index)?.set(key, found);
      for (const value of found) {
        const keys = values.get(value) ?? new Set<string>();
        keys.add(key);
        values.set(value, keys);
      }
    }
  };

  const notify = (call: (h: InformerHandlers) => void) => {
    for (const h of handlers) {
      try {
        call(h);
      } catch (err) {
        logger.error({ err }, "informer handler threw; handlers must only enqueue");
      }
    }
  };

  const cached = (incoming: KubeObject): KubeObject => {
    const object = toCached(incoming);
    if (!options.transform) return object;
    try {
      return deepFreeze(options.transform(object));
    } catch (err) {
      logger.error({ err, object: keyOf(object) }, "transform failed; caching the object whole");
      return object;
    }
  };

  const upsert = (incoming: KubeObject, onlyIfChanged: boolean) => {
    const key = keyOf(incoming);
    const previous = store.get(key);
    if (previous && onlyIfChanged && previous.metadata.resourceVersion === incoming.metadata.resourceVersion) return;
    const object = cached(incoming);
    unindex(key);
    store.set(key, object);
    indexObject(key, object);
    if (previous) notify((h) => h.onUpdate?.(previous, object));
    else notify((h) => h.onAdd?.(object));
  };

  const remove = (key: string, finalState: KubeObject) => {
    if (!store.has(key)) return;
    unindex(key);
    store.delete(key);
    notify((h) => h.onDelete?.(finalState));
  };

  /** A list replaces the store: objects that vanished while we were not watching become deletes. */
  const replace = (items: KubeObject[]) => {
    const listed = new Set(items.map(keyOf));
    for (const [key, object] of [...store]) if (!listed.has(key)) remove(key, object);
    for (const item of items) upsert(item, true);
  };

  const watchOnce = (resourceVersion: string, onVersion: (rv: string) => void): Promise<WatchOutcome> =>
    new Promise((resolve) => {
      let delivered = 0;
      let finished = false;
      let handle: WatchHandle | undefined;
      const finish = (outcome: Omit<WatchOutcome, "delivered">) => {
        if (finished) return;
        finished = true;
        stopCurrentWatch = undefined;
        handle?.stop();
        resolve({ ...outcome, delivered });
      };
      stopCurrentWatch = () => finish({ kind: "stopped" });
      handle = listWatch.watch(
        resourceVersion,
        (event) => {
          if (finished) return;
          if (event.type === "ERROR") {
            return finish({ kind: event.status.code === 410 ? "gone" : "failed", error: event.status });
          }
          delivered += 1;
          try {
            if (event.type === "BOOKMARK") return onVersion(event.resourceVersion);
            if (event.type === "DELETED") remove(keyOf(event.object), cached(event.object));
            else upsert(event.object, false);
            if (event.object.metadata.resourceVersion) onVersion(event.object.metadata.resourceVersion);
          } catch (err) {
            // Skipping beats failing the watch: resuming it would replay the same event forever.
            logger.error({ err, type: event.type }, "malformed watch event skipped");
          }
        },
        (error) => {
          if (error === undefined) finish({ kind: "closed" });
          else finish({ kind: isGone(error) ? "gone" : "failed", error });
        },
      );
      if (finished) handle.stop();
    });

  const run = async (signal: AbortSignal) => {
    let resourceVersion: string | undefined;
    let fruitlessRelists = 0;
    while (!signal.aborted) {
      if (resourceVersion === undefined) {
        try {
          const result = await listWatch.list(signal);
          if (signal.aborted) return;
          replace(result.items);
          resourceVersion = result.resourceVersion;
          if (!synced) {
            synced = true;
            for (const resolve of syncWaiters.splice(0)) resolve(true);
          }
          logger.debug({ resourceVersion, objects: store.size }, "listed");
        } catch (err) {
          if (signal.aborted) return;
          const delayMs = backoff.next();
          logger.warn({ err, delayMs }, "list failed; retrying");
          await sleep(clock, delayMs, signal);
          continue;
        }
      }
      const started = clock.now();
      const outcome = await watchOnce(resourceVersion, (rv) => {
        resourceVersion = rv;
      });
      if (outcome.kind === "stopped" || signal.aborted) return;
      const short = outcome.delivered === 0 && clock.now() - started < minWatchMs;
      // A watch that delivered, or stayed up a while, was healthy: whatever ended it is a new
      // failure, retried after the initial delay, not after the back-off an earlier outage grew
      // (like client-go's reflector, which resets its back-off after two quiet minutes).
      if (outcome.delivered > 0 || clock.now() - started >= healthyWatchMs) backoff.reset();
      if (outcome.kind === "gone") {
        logger.info({ resourceVersion }, "resource version too old; listing again");
        resourceVersion = undefined;
        // Resuming after a long disconnect is Gone at once, and relisting straight away is right.
        // A fresh list whose version is too old again at once would spin, so that one waits.
        fruitlessRelists = outcome.delivered === 0 ? fruitlessRelists + 1 : 1;
        if (fruitlessRelists > 1) await sleep(clock, backoff.next(), signal);
      } else if (outcome.kind === "failed" || short) {
        fruitlessRelists = 0;
        const delayMs = backoff.next();
        logger.warn({ err: outcome.error, delayMs, resourceVersion }, "watch failed; resuming after back-off");
        await sleep(clock, delayMs, signal);
      } else {
        fruitlessRelists = 0;
        backoff.reset(); // the server closed a healthy watch (timeoutSeconds): resume at once
      }
    }
  };

  return {
    name,
    start() {
      if (running) return;
      running = new AbortController();
      const { signal } = running;
      void run(signal).catch((err: unknown) => logger.error({ err }, "informer loop crashed"));
    },
    stop() {
      running?.abort();
      running = undefined;
      stopCurrentWatch?.();
      for (const resolve of syncWaiters.splice(0)) resolve(false);
    },
    hasSynced: () => synced,
    waitForSync(signal) {
      if (synced) return Promise.resolve(true);
      if (signal?.aborted) return Promise.resolve(false);
      return new Promise((resolve) => {
        const onAbort = () => {
          syncWaiters = syncWaiters.filter((w) => w !== settle);
          resolve(false);
        };
        const settle = (ok: boolean) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(ok);
        };
        syncWaiters.push(settle);
        signal?.addEventListener("abort", onAbort, { once: true });
      });
    },
    get: (namespace, objectName) => store.get(objectKey(namespace, objectName)),
    list: () => [...store.values()],
    addIndex(index, fn) {
      if (indexes.has(index)) throw new Error(`index ${index} already exists on informer ${name}`);
      indexes.set(index, { fn, values: new Map() });
      indexedUnder.set(index, new Map());
      const values = indexes.get(index)!.values;
      for (const [key, object] of store) {
        const found = [...new Set(indexValues(index, fn, object))];
        indexedUnder.get(index)!.set(key, found);
        for (const value of found) values.set(value, (values.get(value) ?? new Set()).add(key));
      }
    },
    byIndex(index, value) {
      const entry = indexes.get(index);
      if (!entry) throw new Error(`no index ${index} on informer ${name}`);
      return [...(entry.values.get(value) ?? [])].map((key) => store.get(key)!);
    },
    addHandlers(h) {
      handlers.add(h);
      // Like client-go, a late handler first hears about everything already cached.
      for (const object of store.values()) {
        try {
          h.onAdd?.(object);
        } catch (err) {
          logger.error({ err }, "informer handler threw; handlers must only enqueue");
        }
      }
      return () => {
        handlers.delete(h);
      };
    },
  };
}
