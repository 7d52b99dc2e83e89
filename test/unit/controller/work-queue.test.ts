import { describe, expect, it } from "vitest";
import { createMetrics } from "../../../src/controller/metrics.ts";
import { createWorkQueue, type WorkQueue } from "../../../src/controller/work-queue.ts";
import { createFakeClock, type FakeClock } from "./fake-clock.ts";

/** Starts a get() and reports what it resolved to so far (null: still waiting). */
function pendingGet(q: WorkQueue): { value: string | undefined | null } {
  const result: { value: string | undefined | null } = { value: null };
  void q.get().then((key) => {
    result.value = key;
  });
  return result;
}

function setup(overrides: Partial<Parameters<typeof createWorkQueue>[0]> = {}) {
  const clock = createFakeClock();
  const metrics = createMetrics();
  const q = createWorkQueue({ name: "towns", clock, metrics: metrics.workqueue, ...overrides });
  return { clock, metrics, q };
}

async function readyKeys(q: WorkQueue, clock: FakeClock): Promise<string[]> {
  const keys: string[] = [];
  while (q.len() > 0) {
    const key = await q.get();
    if (key !== undefined) keys.push(key);
  }
  await clock.settle();
  return keys;
}

describe("work queue", () => {
  it("queues a key at most once and hands keys out in FIFO order", async () => {
    const { q, clock } = setup();
    q.add("a");
    q.add("b");
    q.add("a");
    expect(q.len()).toBe(2);
    expect(await readyKeys(q, clock)).toEqual(["a", "b"]);
  });

  it("never hands a key in process to a second worker, and re-queues it on done when it was added meanwhile", async () => {
    const { q, clock } = setup();
    q.add("town-1");
    expect(await q.get()).toBe("town-1");

    q.add("town-1");
    expect(q.len()).toBe(0);
    const second = pendingGet(q);
    await clock.settle();
    expect(second.value).toBeNull();

    q.done("town-1");
    await clock.settle();
    expect(second.value).toBe("town-1");
  });

  it("does not re-queue a key on done when nobody added it during processing", async () => {
    const { q, clock } = setup();
    q.add("a");
    const key = await q.get();
    q.done(key!);
    expect(q.len()).toBe(0);
    const next = pendingGet(q);
    await clock.settle();
    expect(next.value).toBeNull();
  });

  it("wakes a waiting worker when a key is added", async () => {
    const { q, clock } = setup();
    const waiting = pendingGet(q);
    await clock.settle();
    expect(waiting.value).toBeNull();
    q.add("x");
    await clock.settle();
    expect(waiting.value).toBe("x");
  });

  it("backs a failing key off exponentially and forget resets the back-off", async () => {
    const { q, clock } = setup({ baseDelayMs: 5, maxDelayMs: 40 });
    const readyAfter = async (): Promise<number> => {
      const start = clock.now();
      q.addRateLimited("a");
      const got = pendingGet(q);
      while (got.value === null) await clock.advance(1);
      q.done("a");
      return clock.now() - start;
    };
    expect(await readyAfter()).toBe(5);
    expect(await readyAfter()).toBe(10);
    expect(await readyAfter()).toBe(20);
    expect(await readyAfter()).toBe(40);
    expect(await readyAfter()).toBe(40); // capped
    expect(q.numRequeues("a")).toBe(5);
    q.forget("a");
    expect(q.numRequeues("a")).toBe(0);
    expect(await readyAfter()).toBe(5);
  });

  it("spreads a burst of retries with the global token bucket", async () => {
    const { q, clock } = setup({ baseDelayMs: 1, qps: 10, burst: 2 });
    for (const key of ["a", "b", "c", "d"]) q.addRateLimited(key);
    await clock.advance(1);
    expect(await readyKeys(q, clock)).toEqual(["a", "b"]); // the burst
    await clock.advance(98);
    expect(q.len()).toBe(0);
    await clock.advance(1);
    expect(await readyKeys(q, clock)).toEqual(["c"]);
    await clock.advance(100);
    expect(await readyKeys(q, clock)).toEqual(["d"]);
  });

  it("fires delayed keys in deadline order, not in the order they were added", async () => {
    const { q, clock } = setup();
    q.addAfter("late", 300);
    q.addAfter("early", 100);
    q.addAfter("middle", 200);
    await clock.advance(99);
    expect(q.len()).toBe(0);
    await clock.advance(200);
    expect(await readyKeys(q, clock)).toEqual(["early", "middle"]);
    await clock.advance(1);
    expect(await readyKeys(q, clock)).toEqual(["late"]);
  });

  it("keeps the earliest schedule when a key is scheduled twice", async () => {
    const { q, clock } = setup();
    q.addAfter("a", 100);
    q.addAfter("a", 500); // later: ignored
    q.addAfter("b", 500);
    q.addAfter("b", 100); // earlier: replaces
    await clock.advance(100);
    expect((await readyKeys(q, clock)).sort()).toEqual(["a", "b"]);
    q.done("a");
    q.done("b");
    await clock.advance(1000);
    expect(q.len()).toBe(0); // the replaced and ignored schedules left nothing behind
    expect(clock.pendingTimers()).toBe(0);
  });

  it("treats a non-positive delay as an immediate add", async () => {
    const { q } = setup();
    q.addAfter("a", 0);
    expect(q.len()).toBe(1);
  });

  it("on shutdown resolves waiting workers with undefined, drops queued and delayed keys, and ignores adds", async () => {
    const { q, clock } = setup();
    q.add("processing");
    await q.get();
    q.add("queued");
    q.addAfter("delayed", 1000);
    const waiter = pendingGet(q);
    const waiter2 = pendingGet(q);
    await clock.settle();
    expect(waiter.value).toBe("queued");
    expect(waiter2.value).toBeNull();

    q.shutDown();
    await clock.settle();
    expect(waiter2.value).toBeUndefined();
    expect(clock.pendingTimers()).toBe(0);
    q.add("after");
    expect(q.len()).toBe(0);
    expect(await q.get()).toBeUndefined();

    let idle = false;
    void q.idle().then(() => {
      idle = true;
    });
    q.done("processing");
    await clock.settle();
    expect(idle).toBe(false); // "queued" is still being processed
    q.done("queued");
    await clock.settle();
    expect(idle).toBe(true);
  });

  it("reports depth, adds, retries and in-flight work under the queue's name and controller", async () => {
    const { q, clock, metrics } = setup();
    q.add("a");
    q.add("a");
    q.add("b");
    q.addRateLimited("c");
    const value = async (metric: string) => {
      const found = (await metrics.registry.getSingleMetric(metric)!.get()).values.find(
        (v) => v.labels.name === "towns" && v.labels.controller === "towns" && !("le" in v.labels),
      );
      return found?.value;
    };
    expect(await value("workqueue_depth")).toBe(2);
    expect(await value("workqueue_adds_total")).toBe(2);
    expect(await value("workqueue_retries_total")).toBe(1);

    await q.get();
    await clock.advance(3000);
    expect(await value("workqueue_depth")).toBe(2); // "b" and, after its back-off, "c"
    expect(await value("workqueue_unfinished_work_seconds")).toBe(3);
    expect(await value("workqueue_longest_running_processor_seconds")).toBe(3);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/workqueue_queue_duration_seconds_count\{name="towns",controller="towns"\} 1/);
    q.done("a");
    expect(await metrics.registry.metrics()).toMatch(
      /workqueue_work_duration_seconds_sum\{name="towns",controller="towns"\} 3/,
    );
  });
});
