import { describe, expect, it } from "vitest";
import {
  createEventRecorder,
  type EventInput,
  type EventObject,
  type EventSeries,
  type EventSink,
  truncateUtf8,
} from "../../../src/controller/event-recorder.ts";
import { createLogger } from "../../../src/controller/logger.ts";
import { createMetrics } from "../../../src/controller/metrics.ts";
import { KubeApiError } from "../../../src/kube/errors.ts";
import { createFakeClock } from "./fake-clock.ts";

/** An in-memory events API: what the apiserver would hold, plus a log of the calls made. */
function fakeSink() {
  const stored = new Map<string, EventObject>();
  const calls: Array<{ verb: "create" | "patch"; name: string; count: number; at: number }> = [];
  let hold: Promise<void> | undefined;
  let failNext: Error | undefined;
  let now = () => 0;
  const gate = async () => {
    await Promise.resolve();
    if (hold) await hold;
    if (failNext) {
      const err = failNext;
      failNext = undefined;
      throw err;
    }
  };
  let inFlight = 0;
  const perEvent = new Map<string, number>();
  let maxPerEvent = 0;
  const track = async <T>(name: string, write: () => Promise<T>): Promise<T> => {
    inFlight++;
    perEvent.set(name, (perEvent.get(name) ?? 0) + 1);
    maxPerEvent = Math.max(maxPerEvent, perEvent.get(name) as number);
    try {
      return await write();
    } finally {
      inFlight--;
      perEvent.set(name, (perEvent.get(name) ?? 1) - 1);
    }
  };
  const sink: EventSink = {
    create: (event) =>
      track(event.metadata.name, async () => {
        await gate();
        if (stored.has(event.metadata.name)) throw new KubeApiError(409, { reason: "AlreadyExists" }, "exists");
        stored.set(event.metadata.name, structuredClone(event));
        calls.push({ verb: "create", name: event.metadata.name, count: event.series?.count ?? 1, at: now() });
      }),
    patchSeries: (_namespace, name, series: EventSeries) =>
      track(name, async () => {
        await gate();
        const event = stored.get(name);
        if (!event) throw new KubeApiError(404, { reason: "NotFound" }, "not found");
        event.series = series;
        calls.push({ verb: "patch", name, count: series.count, at: now() });
      }),
  };
  return {
    sink,
    stored,
    calls,
    events: () => [...stored.values()],
    inFlight: () => inFlight,
    maxInFlightPerEvent: () => maxPerEvent,
    count: (e: EventObject) => e.series?.count ?? 1,
    holdWrites: () => {
      let release = () => {};
      hold = new Promise<void>((resolve) => {
        release = () => {
          hold = undefined;
          resolve();
        };
      });
      return release;
    },
    failNext: (err: Error) => {
      failNext = err;
    },
    useClock: (f: () => number) => {
      now = f;
    },
  };
}

const bead = (name = "gt-1", uid = `uid-${name}`) => ({
  apiVersion: "gastown.dev/v1alpha1",
  kind: "Bead",
  namespace: "town",
  name,
  uid,
});

const event = (overrides: Partial<EventInput> = {}): EventInput => ({
  regarding: bead(),
  type: "Normal",
  reason: "Dispatched",
  action: "Dispatch",
  note: "dispatched to polecat toast",
  ...overrides,
});

function setup(options: Partial<Parameters<typeof createEventRecorder>[0]> = {}) {
  const clock = createFakeClock();
  const api = fakeSink();
  api.useClock(clock.now);
  const metrics = createMetrics();
  const logs: string[] = [];
  const logger = createLogger({ destination: { write: (l: string) => logs.push(l) } });
  const recorder = createEventRecorder({
    sink: api.sink,
    reportingInstance: "operator-0",
    clock,
    logger,
    metrics: metrics.events,
    ...options,
  });
  const dropped = async (reason: string) =>
    (await metrics.registry.getSingleMetric("event_recorder_dropped_total")!.get()).values.find(
      (v) => v.labels.reason === reason,
    )?.value ?? 0;
  return { clock, api, recorder, metrics, logs, dropped };
}

describe("event recorder", () => {
  it("writes an events.k8s.io/v1 Event named after the regarding object, off the caller's path", async () => {
    const { clock, api, recorder } = setup();
    const related = { apiVersion: "gastown.dev/v1alpha1", kind: "Agent", namespace: "town", name: "toast", uid: "a1" };
    recorder.record(event({ related }));
    expect(api.calls).toEqual([]); // nothing written synchronously
    await clock.settle();
    const [written] = api.events();
    expect(written).toMatchObject({
      apiVersion: "events.k8s.io/v1",
      kind: "Event",
      metadata: { namespace: "town" },
      reportingController: "gastown.dev/operator",
      reportingInstance: "operator-0",
      regarding: bead(),
      related,
      type: "Normal",
      reason: "Dispatched",
      action: "Dispatch",
      note: "dispatched to polecat toast",
    });
    expect(written!.metadata.name).toMatch(/^gt-1\.[0-9a-f]+$/);
    expect(written!.eventTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(written!.series).toBeUndefined();
  });

  it("aggregates 50 identical events into one Event whose series counts exactly 50", async () => {
    const { clock, api, recorder } = setup();
    for (let i = 0; i < 50; i++) {
      recorder.record(event());
      await clock.advance(100);
    }
    await recorder.flush();
    expect(api.events()).toHaveLength(1);
    expect(api.events()[0]!.series?.count).toBe(50);
    expect(api.calls.length).toBeLessThanOrEqual(3);
  });

  it("keeps events that differ in reason, type, action, note, object or related object apart", async () => {
    const { clock, api, recorder } = setup();
    const related = { apiVersion: "gastown.dev/v1alpha1", kind: "Agent", namespace: "town", name: "toast", uid: "a1" };
    recorder.record(event());
    recorder.record(event({ reason: "Nudged" }));
    recorder.record(event({ type: "Warning" }));
    recorder.record(event({ action: "Nudge" }));
    recorder.record(event({ note: "another note" }));
    recorder.record(event({ regarding: bead("gt-2") }));
    recorder.record(event({ related }));
    recorder.record(event({ related: { ...related, name: "nux", uid: "a2" } }));
    recorder.record(event());
    recorder.record(event({ related }));
    await recorder.flush();
    await clock.settle();
    expect(api.events()).toHaveLength(8);
    expect(api.events().map(api.count).sort()).toEqual([1, 1, 1, 1, 1, 1, 2, 2]);
  });

  it("coalesces series writes to one per interval, each carrying the exact total so far", async () => {
    const { clock, api, recorder } = setup({ seriesIntervalMs: 30_000 });
    recorder.record(event()); // t=0: create
    await clock.settle();
    for (let i = 0; i < 10; i++) {
      await clock.advance(1000);
      recorder.record(event()); // t=1..10 s
    }
    await clock.advance(20_999); // t=30.999 s
    expect(api.calls).toHaveLength(1);
    await clock.advance(1); // t=31 s: 30 s after the first repeat
    expect(api.calls.map((c) => [c.verb, c.count])).toEqual([
      ["create", 1],
      ["patch", 11],
    ]);
    for (let i = 0; i < 5; i++) {
      await clock.advance(1000);
      recorder.record(event()); // t=32..36 s
    }
    await clock.advance(25_999); // t=61.999 s
    expect(api.calls).toHaveLength(2);
    await clock.advance(1);
    expect(api.calls.map((c) => [c.verb, c.count])).toEqual([
      ["create", 1],
      ["patch", 11],
      ["patch", 16],
    ]);
    const gaps = api.calls.slice(1).map((c, i) => c.at - api.calls[i]!.at);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(30_000);
  });

  it("starts a new Event when the identical event recurs after the aggregation window", async () => {
    const { clock, api, recorder } = setup({ aggregationWindowMs: 10 * 60_000 });
    recorder.record(event());
    await clock.advance(9 * 60_000);
    recorder.record(event()); // within 10 min of the last: same series
    await clock.advance(9 * 60_000);
    recorder.record(event()); // the window slides with each observation
    await clock.advance(10 * 60_000 + 1);
    recorder.record(event()); // a quiet spell longer than the window: a new Event
    await recorder.flush();
    expect(api.events().map(api.count).sort()).toEqual([1, 3]);
  });

  it("limits new Events per object with a token bucket and counts the drops", async () => {
    const { clock, api, recorder, dropped } = setup({ perObjectBurst: 25, perObjectPerSecond: 0.1 });
    for (let i = 0; i < 30; i++) recorder.record(event({ note: `attempt ${i}` }));
    recorder.record(event({ regarding: bead("other"), note: "unaffected" }));
    await recorder.flush();
    expect(api.events()).toHaveLength(26);
    expect(await dropped("rate_limited")).toBe(5);
    await clock.advance(10_000);
    recorder.record(event({ note: "after refill" }));
    recorder.record(event({ note: "still limited" }));
    await recorder.flush();
    expect(api.events()).toHaveLength(27);
  });

  it("drops writes beyond the bounded queue with a log line and a counter", async () => {
    const { api, recorder, dropped, logs } = setup({ maxQueue: 3, writers: 2 });
    const release = api.holdWrites();
    for (let i = 0; i < 7; i++) recorder.record(event({ regarding: bead(`b${i}`) }));
    // Two writes are in flight, three wait, two do not fit.
    expect(await dropped("queue_full")).toBe(2);
    expect(logs.filter((l) => l.includes("dropping Kubernetes Events"))).toHaveLength(1);
    release();
    await recorder.flush();
    expect(api.events()).toHaveLength(5);
  });

  it("writes several Events at once, but one Event's writes one after another", async () => {
    const { clock, api, recorder } = setup({ writers: 3, seriesIntervalMs: 1000 });
    const release = api.holdWrites();
    for (let i = 0; i < 3; i++) recorder.record(event({ regarding: bead(`b${i}`) }));
    await clock.settle();
    expect(api.inFlight()).toBe(3);
    // A repeat while its create is in flight waits for it; flush writes the count afterwards.
    recorder.record(event({ regarding: bead("b0") }));
    release();
    await recorder.flush();
    expect(api.events().map(api.count).sort()).toEqual([1, 1, 2]);
    expect(api.maxInFlightPerEvent()).toBe(1);
  });

  it("counts repeats that arrive while the create is in flight", async () => {
    const { clock, api, recorder } = setup();
    const release = api.holdWrites();
    recorder.record(event());
    await clock.settle();
    recorder.record(event());
    recorder.record(event());
    release();
    await recorder.flush();
    expect(api.events().map(api.count)).toEqual([3]);
  });

  it("re-creates an Event that the apiserver expired while its series went on, keeping the count", async () => {
    const { clock, api, recorder } = setup();
    recorder.record(event());
    await clock.settle();
    api.stored.clear(); // the Event's TTL ran out
    recorder.record(event());
    await recorder.flush();
    expect(api.events().map(api.count)).toEqual([2]);
  });

  it("never throws at the caller when the API fails, and counts the lost Event", async () => {
    const { api, recorder, dropped } = setup();
    api.failNext(new Error("connection refused"));
    expect(() => recorder.record(event())).not.toThrow();
    await recorder.flush();
    expect(await dropped("write_failed")).toBe(1);
    expect(api.events()).toHaveLength(0);
    recorder.record(event()); // the next occurrence starts afresh
    await recorder.flush();
    expect(api.events().map((e) => e.series?.count ?? 1)).toEqual([1]);
  });

  it("tries a create again while the apiserver is unreachable, with the repeats, then gives up", async () => {
    const { clock, api, recorder, dropped } = setup({ retryMs: 1000, maxRetries: 3 });
    const refused = () => Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6443"), { code: "ECONNREFUSED" });
    api.failNext(refused());
    recorder.record(event());
    await clock.settle();
    recorder.record(event()); // happened again while the first create waits for its retry
    api.failNext(new KubeApiError(503, { reason: "ServiceUnavailable" }, "unavailable"));
    await clock.advance(1000);
    expect(api.events()).toHaveLength(0);
    await clock.advance(2000); // doubled
    expect(api.events().map(api.count)).toEqual([2]);
    expect(await dropped("write_failed")).toBe(0);

    // Down for longer than the retries last: counted as lost, and a later occurrence starts afresh.
    const other = event({ reason: "Merged", action: "Merge" });
    api.failNext(refused());
    recorder.record(other);
    await clock.settle();
    for (const delayMs of [1000, 2000, 4000]) {
      api.failNext(refused());
      await clock.advance(delayMs);
    }
    expect(await dropped("write_failed")).toBe(1);
    recorder.record(other);
    await recorder.flush();
    expect(api.events().map((e) => e.reason)).toEqual(["Dispatched", "Merged"]);
  });

  it("does not try again a create the apiserver refused", async () => {
    const { clock, api, recorder, dropped } = setup();
    api.failNext(new KubeApiError(422, { reason: "Invalid" }, "invalid"));
    recorder.record(event());
    await clock.advance(60_000);
    expect(api.calls).toEqual([]);
    expect(await dropped("write_failed")).toBe(1);
  });

  it("truncates notes to 1 KB on a character boundary and long reasons to 128 characters", async () => {
    const { api, recorder } = setup();
    recorder.record(event({ note: "é".repeat(2000), reason: "R".repeat(200) }));
    await recorder.flush();
    const [written] = api.events();
    expect(Buffer.byteLength(written!.note, "utf8")).toBeLessThanOrEqual(1024);
    expect(written!.note).toMatch(/^é+…$/);
    expect(written!.reason).toHaveLength(128);
    expect(truncateUtf8("short", 1024)).toBe("short");
  });
});
