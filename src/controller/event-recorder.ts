// events.k8s.io/v1 Events, so `kubectl describe` tells the story of an object. record() never
// blocks or fails the reconcile: events go through a bounded queue to a few writers (one write per
// Event at a time, so an Event's create always precedes its series updates). Repetition is
// aggregated, not flooded: an identical event within the window bumps the existing Event's series,
// and series writes for one Event are coalesced to at most one per interval (the count written is
// always the exact total so far). A token bucket per regarding object caps new Events.

import { isNotFound, isTransient } from "../kube/errors.ts";
import type { Clock, TimerHandle } from "./clock.ts";
import { formatMicroTime, systemClock } from "./clock.ts";
import type { Logger } from "./logger.ts";
import { silentLogger } from "./logger.ts";
import type { EventRecorderMetrics } from "./metrics.ts";
import { createTokenBucket, type TokenBucket } from "./rate-limit.ts";

export interface ObjectReference {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
  uid: string;
}

export interface EventInput {
  regarding: ObjectReference;
  related?: ObjectReference;
  type: "Normal" | "Warning";
  /** CamelCase, machine-readable: why (e.g. "Dispatched", "HeartbeatExpired"). */
  reason: string;
  /** What was done (e.g. "Dispatch", "Nudge"). */
  action: string;
  /** Human-readable; never put secrets here. Truncated to the API's 1 KB. */
  note: string;
}

export interface EventSeries {
  count: number;
  lastObservedTime: string;
}

export interface EventObject {
  apiVersion: "events.k8s.io/v1";
  kind: "Event";
  metadata: { name: string; namespace: string };
  eventTime: string;
  series?: EventSeries;
  reportingController: string;
  reportingInstance: string;
  regarding: ObjectReference;
  related?: ObjectReference;
  type: "Normal" | "Warning";
  reason: string;
  action: string;
  note: string;
}

/** Where Events go; the default implementation (event-sink.ts) writes them to the apiserver. */
export interface EventSink {
  create(event: EventObject): Promise<void>;
  /** Fails with a 404 KubeApiError when the Event is gone (the apiserver expires Events after ~1 h). */
  patchSeries(namespace: string, name: string, series: EventSeries): Promise<void>;
}

export interface EventRecorder {
  record(input: EventInput): void;
  /** Writes every pending count now, ignoring the coalescing interval, and waits for the writer. */
  flush(): Promise<void>;
}

export interface EventRecorderOptions {
  sink: EventSink;
  /** This replica, e.g. the pod name. */
  reportingInstance: string;
  reportingController?: string;
  clock?: Clock;
  logger?: Logger;
  metrics?: EventRecorderMetrics;
  /** An identical event within this long of the last one joins its series (default 10 min). */
  aggregationWindowMs?: number;
  /** At most one series write per Event per interval (default 30 s). */
  seriesIntervalMs?: number;
  /** New Events per regarding object: a burst, refilled at perObjectPerSecond (default 25, 1/10 s). */
  perObjectBurst?: number;
  perObjectPerSecond?: number;
  /** Writes waiting for a writer; beyond this, events are dropped (default 1000). */
  /** Writers working the queue at once (default 4): a burst of dispatches makes a burst of Events. */
  writers?: number;
  maxQueue?: number;
  /**
   * A create that failed transiently (the apiserver unreachable, 5xx, 429) is tried again after
   * retryMs, doubling up to 30 s, at most maxRetries times (default 1 s, 8: about two minutes).
   */
  retryMs?: number;
  maxRetries?: number;
}

const NOTE_LIMIT_BYTES = 1024;
const FIELD_LIMIT = 128;
const NAME_LIMIT = 253;

/** Cuts text to a UTF-8 byte budget on a character boundary, marking the cut. */
export function truncateUtf8(text: string, limitBytes: number): string {
  if (Buffer.byteLength(text, "utf8") <= limitBytes) return text;
  const marker = "…";
  let budget = limitBytes - Buffer.byteLength(marker, "utf8");
  let out = "";
  for (const char of text) {
    const size = Buffer.byteLength(char, "utf8");
    if (size > budget) break;
    budget -= size;
    out += char;
  }
  return out + marker;
}

interface Entry {
  key: string;
  input: EventInput;
  namespace: string;
  name: string;
  firstTime: number;
  lastObservedTime: number;
  count: number;
  written: number;
  created: boolean;
  /** The create failed for good; the next occurrence starts a new entry. */
  abandoned: boolean;
  /** Failed create attempts so far. */
  failures: number;
  queued: boolean;
  /** A writer is writing it; `again` asks for one more write once that one is done. */
  writing: boolean;
  again: boolean;
  timer?: TimerHandle;
}

export function createEventRecorder(options: EventRecorderOptions): EventRecorder {
  const { sink, metrics } = options;
  const clock = options.clock ?? systemClock;
  const logger = (options.logger ?? silentLogger()).child({ component: "event-recorder" });
  const controller = options.reportingController ?? "gastown.dev/operator";
  const windowMs = options.aggregationWindowMs ?? 10 * 60_000;
  const intervalMs = options.seriesIntervalMs ?? 30_000;
  const burst = options.perObjectBurst ?? 25;
  const perSecond = options.perObjectPerSecond ?? 0.1;
  const maxQueue = options.maxQueue ?? 1000;
  const retryMs = options.retryMs ?? 1000;
  const maxRetries = options.maxRetries ?? 8;

  const entries = new Map<string, Entry>();
  const buckets = new Map<string, { bucket: TokenBucket; lastUsed: number }>();
  const queue: Entry[] = [];
  const writers = new Set<Promise<void>>();
  const maxWriters = Math.max(1, options.writers ?? 4);
  let sequence = 0;
  let lastSweep = clock.now();
  let droppedSinceLog = 0;
  let lastDropLog = Number.NEGATIVE_INFINITY;

  const drop = (reason: "queue_full" | "rate_limited" | "write_failed", input: EventInput) => {
    metrics?.dropped.inc({ reason });
    droppedSinceLog += 1;
    // One line per minute at most: the drops themselves are what a flood looks like.
    if (clock.now() - lastDropLog >= 60_000) {
      logger.warn(
        { reason, dropped: droppedSinceLog, regarding: input.regarding, eventReason: input.reason },
        "dropping Kubernetes Events",
      );
      lastDropLog = clock.now();
      droppedSinceLog = 0;
    }
  };

  const eventName = (regardingName: string) => {
    // Like upstream, <name>.<hex timestamp>; a sequence number keeps names unique within one millisecond.
    const suffix = (BigInt(clock.now()) * 1_000_000n + BigInt(sequence++ % 1_000_000)).toString(16);
    const head = regardingName.slice(0, NAME_LIMIT - suffix.length - 1).replace(/[^a-z0-9]+$/, "");
    return `${head || "object"}.${suffix}`;
  };

  const bucketFor = (uid: string) => {
    let slot = buckets.get(uid);
    if (!slot) {
      slot = { bucket: createTokenBucket({ perSecond, burst, clock }), lastUsed: clock.now() };
      buckets.set(uid, slot);
    }
    slot.lastUsed = clock.now();
    return slot.bucket;
  };

  const sweep = () => {
    const now = clock.now();
    if (now - lastSweep < 60_000) return;
    lastSweep = now;
    for (const [key, e] of entries) {
      if (now - e.lastObservedTime > windowMs && !e.queued && e.timer === undefined) entries.delete(key);
    }
    const refillMs = (burst / perSecond) * 1000;
    for (const [uid, slot] of buckets) if (now - slot.lastUsed > refillMs) buckets.delete(uid);
  };

  const toEvent = (e: Entry, count: number): EventObject => ({
    apiVersion: "events.k8s.io/v1",
    kind: "Event",
    metadata: { name: e.name, namespace: e.namespace },
    eventTime: formatMicroTime(e.firstTime),
    ...(count > 1 ? { series: { count, lastObservedTime: formatMicroTime(e.lastObservedTime) } } : {}),
    reportingController: controller,
    reportingInstance: options.reportingInstance,
    regarding: e.input.regarding,
    ...(e.input.related ? { related: e.input.related } : {}),
    type: e.input.type,
    reason: e.input.reason,
    action: e.input.action,
    note: e.input.note,
  });

  const write = async (e: Entry): Promise<void> => {
    const count = e.count;
    if (e.abandoned || (e.created && count <= e.written)) return;
    try {
      if (!e.created) {
        await sink.create(toEvent(e, count));
        e.created = true;
      } else {
        const series = { count, lastObservedTime: formatMicroTime(e.lastObservedTime) };
        await sink.patchSeries(e.namespace, e.name, series);
      }
      e.written = count;
    } catch (err) {
      if (e.created && isNotFound(err)) {
        // The apiserver expired the Event while its series went on: start a new one, count intact.
        e.created = false;
        e.name = eventName(e.input.regarding.name);
        return write(e);
      }
      if (!e.created && isTransient(err) && e.failures < maxRetries) {
        // An apiserver blip must not lose the story of what happened just before it.
        const delayMs = Math.min(30_000, retryMs * 2 ** e.failures);
        e.failures += 1;
        e.timer = clock.setTimeout(() => {
          e.timer = undefined;
          enqueue(e);
        }, delayMs);
        logger.warn({ err, event: e.name, delayMs }, "creating an Event failed; retrying");
        return;
      }
      if (!e.created) {
        e.abandoned = true;
        if (entries.get(e.key) === e) entries.delete(e.key);
        drop("write_failed", e.input);
      }
      logger.warn({ err, event: e.name, created: e.created }, "writing an Event failed");
    }
  };

  const runWriter = async () => {
    for (let e = queue.shift(); e !== undefined; e = queue.shift()) {
      e.queued = false;
      e.writing = true;
      try {
        await write(e);
      } finally {
        e.writing = false;
      }
      if (e.again) {
        e.again = false;
        enqueue(e);
      } else if (e.count > e.written && entries.get(e.key) === e) scheduleSeries(e);
    }
  };

  const startWriter = () => {
    if (writers.size >= maxWriters) return;
    const w: Promise<void> = runWriter().finally(() => {
      writers.delete(w);
    });
    writers.add(w);
  };

  const enqueue = (e: Entry): boolean => {
    // One write per Event at a time: its create must land before its series updates.
    if (e.writing) {
      e.again = true;
      return true;
    }
    if (e.queued) return true;
    if (queue.length >= maxQueue) {
      drop("queue_full", e.input);
      return false;
    }
    e.queued = true;
    queue.push(e);
    startWriter();
    return true;
  };

  function scheduleSeries(e: Entry) {
    if (e.timer !== undefined || e.queued) return;
    e.timer = clock.setTimeout(() => {
      e.timer = undefined;
      if (e.count > e.written) enqueue(e);
    }, intervalMs);
  }

  return {
    record(input) {
      const now = clock.now();
      sweep();
      const note = truncateUtf8(input.note, NOTE_LIMIT_BYTES);
      const reason = input.reason.slice(0, FIELD_LIMIT);
      const action = input.action.slice(0, FIELD_LIMIT);
      const identity =
        input.regarding.uid || `${input.regarding.kind}/${input.regarding.namespace}/${input.regarding.name}`;
      // The related object is part of what happened: the same step by another agent is another Event.
      const related = input.related ? input.related.uid || `${input.related.kind}/${input.related.name}` : "";
      const key = JSON.stringify([identity, related, input.type, reason, action, note]);
      const existing = entries.get(key);
      if (existing && now - existing.lastObservedTime <= windowMs) {
        existing.count += 1;
        existing.lastObservedTime = now;
        // Never sooner than the interval after creation: the burst right after an event is the common case.
        if (existing.created || existing.queued) scheduleSeries(existing);
        return;
      }
      if (existing) {
        // The old series ended; make sure its last count is written before it is forgotten.
        if (existing.timer !== undefined) clock.clearTimeout(existing.timer);
        existing.timer = undefined;
        if (existing.count > existing.written) enqueue(existing);
      }
      if (!bucketFor(identity).tryTake()) {
        drop("rate_limited", input);
        return;
      }
      const entry: Entry = {
        key,
        input: { ...input, note, reason, action },
        namespace: input.regarding.namespace || "default",
        name: eventName(input.regarding.name),
        firstTime: now,
        lastObservedTime: now,
        count: 1,
        written: 0,
        created: false,
        abandoned: false,
        failures: 0,
        queued: false,
        writing: false,
        again: false,
      };
      entries.set(key, entry);
      if (!enqueue(entry)) entries.delete(key);
    },

    async flush() {
      // A few rounds, because counts can arrive while the previous round's writes are in flight.
      for (let round = 0; round < 3; round++) {
        let pending = false;
        for (const e of entries.values()) {
          if (e.timer !== undefined) clock.clearTimeout(e.timer);
          e.timer = undefined;
          if (e.count > e.written && !e.queued) pending = enqueue(e) || pending;
        }
        if (!pending && writers.size === 0) return;
        while (writers.size > 0) await Promise.all([...writers]);
      }
    },
  };
}
