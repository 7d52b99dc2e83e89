// A keyed work queue with client-go's guarantees: a key is queued at most once, a key being
// processed is never handed to a second worker, and a key added while being processed runs again
// after `done`. Delays (deadlines, back-off) are per-key timers on the injected clock.
import type { Clock, TimerHandle } from "./clock.ts";
import { systemClock } from "./clock.ts";
import type { WorkQueueMetrics } from "./metrics.ts";
import { createKeyedBackoff, createTokenBucket } from "./rate-limit.ts";

export interface WorkQueue {
  /** Queues the key now, unless it is already queued. */
  add(key: string): void;
  /** Queues the key after the delay; an earlier pending schedule for the key wins over a later one. */
  addAfter(key: string, delayMs: number): void;
  /** Queues the key after its back-off (per-key exponential, combined with the global token bucket). */
  addRateLimited(key: string): void;
  /** Resets the key's back-off; call after a successful reconcile. */
  forget(key: string): void;
  /** Failures counted for the key since the last forget. */
  numRequeues(key: string): number;
  /** The next ready key, waiting until one is ready; undefined once the queue is shut down. */
  get(): Promise<string | undefined>;
  /** Marks the key as processed; if it was added meanwhile it is queued again. */
  done(key: string): void;
  /** Stops handing out keys: pending and future get() calls resolve undefined, timers are cancelled. */
  shutDown(): void;
  isShuttingDown(): boolean;
  /** Resolves once no key is being processed (after shutDown, this is "workers have finished"). */
  idle(): Promise<void>;
  /** Keys ready to be handed out (not counting delayed or in-process keys). */
  len(): number;
}

export interface WorkQueueOptions {
  /** The `name` label of the workqueue metrics. */
  name: string;
  clock?: Clock;
  metrics?: WorkQueueMetrics;
  /** Per-key back-off: starts at baseDelayMs and doubles up to maxDelayMs (client-go: 5 ms, 1000 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Global token bucket shared by all keys (client-go: 10 qps, burst 100). */
  qps?: number;
  burst?: number;
}

export function createWorkQueue(options: WorkQueueOptions): WorkQueue {
  const { name, metrics } = options;
  // controller-runtime labels its queues' series with both the queue and the controller name.
  const labels = { name, controller: name };
  const clock = options.clock ?? systemClock;
  const backoff = createKeyedBackoff({ baseMs: options.baseDelayMs ?? 5, maxMs: options.maxDelayMs ?? 1_000_000 });
  const bucket = createTokenBucket({ perSecond: options.qps ?? 10, burst: options.burst ?? 100, clock });

  // A Set keeps insertion order, so it doubles as the FIFO and as the "is it queued" index.
  const queue = new Set<string>();
  const dirty = new Set<string>();
  const processing = new Map<string, number>(); // key → when its worker got it
  const queuedAt = new Map<string, number>();
  const delayed = new Map<string, { readyAt: number; timer: TimerHandle }>();
  const waiters: Array<(key: string | undefined) => void> = [];
  let idleWaiters: Array<() => void> = [];
  let shuttingDown = false;

  const untrack = metrics?.trackInFlight(name, () => {
    const now = clock.now();
    let unfinished = 0;
    let longest = 0;
    for (const started of processing.values()) {
      const running = (now - started) / 1000;
      unfinished += running;
      longest = Math.max(longest, running);
    }
    return { unfinishedSeconds: unfinished, longestRunningSeconds: longest };
  });

  const take = (): string => {
    const key = queue.values().next().value as string;
    queue.delete(key);
    dirty.delete(key);
    const now = clock.now();
    processing.set(key, now);
    metrics?.depth.dec(labels);
    metrics?.queueDuration.observe(labels, (now - (queuedAt.get(key) ?? now)) / 1000);
    queuedAt.delete(key);
    return key;
  };

  const handOut = () => {
    while (waiters.length > 0 && queue.size > 0) waiters.shift()!(take());
  };

  const enqueue = (key: string) => {
    queue.add(key);
    queuedAt.set(key, clock.now());
    metrics?.depth.inc(labels);
    handOut();
  };

  const add = (key: string) => {
    if (shuttingDown || dirty.has(key)) return;
    dirty.add(key);
    metrics?.adds.inc(labels);
    // A key in process is only marked dirty; done() queues it, so no second worker sees it.
    if (!processing.has(key)) enqueue(key);
  };

  const addAfter = (key: string, delayMs: number) => {
    if (shuttingDown) return;
    if (delayMs <= 0) return add(key);
    const readyAt = clock.now() + delayMs;
    const pending = delayed.get(key);
    if (pending !== undefined) {
      if (pending.readyAt <= readyAt) return;
      clock.clearTimeout(pending.timer);
    }
    const timer = clock.setTimeout(() => {
      delayed.delete(key);
      add(key);
    }, delayMs);
    delayed.set(key, { readyAt, timer });
  };

  return {
    add,
    addAfter,
    addRateLimited(key) {
      if (shuttingDown) return;
      metrics?.retries.inc(labels);
      addAfter(key, Math.max(backoff.next(key), bucket.reserve()));
    },
    forget: (key) => backoff.forget(key),
    numRequeues: (key) => backoff.failures(key),
    get() {
      if (queue.size > 0 && !shuttingDown) return Promise.resolve(take());
      if (shuttingDown) return Promise.resolve(undefined);
      return new Promise((resolve) => waiters.push(resolve));
    },
    done(key) {
      const started = processing.get(key);
      if (started === undefined) return;
      processing.delete(key);
      metrics?.workDuration.observe(labels, (clock.now() - started) / 1000);
      if (dirty.has(key) && !shuttingDown) enqueue(key);
      if (processing.size === 0) {
        const resolvers = idleWaiters;
        idleWaiters = [];
        for (const resolve of resolvers) resolve();
      }
    },
    shutDown() {
      if (shuttingDown) return;
      shuttingDown = true;
      for (const { timer } of delayed.values()) clock.clearTimeout(timer);
      delayed.clear();
      metrics?.depth.dec(labels, queue.size);
      queue.clear();
      dirty.clear();
      queuedAt.clear();
      for (const resolve of waiters.splice(0)) resolve(undefined);
      untrack?.();
    },
    isShuttingDown: () => shuttingDown,
    idle() {
      if (processing.size === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    len: () => queue.size,
  };
}
