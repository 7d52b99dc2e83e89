import { describe, expect, it } from "vitest";
import { createBackoff, createKeyedBackoff, createTokenBucket } from "../../../src/controller/rate-limit.ts";
import { createFakeClock } from "./fake-clock.ts";

describe("token bucket", () => {
  it("serves the burst at once, then spreads reservations at the refill rate", async () => {
    const clock = createFakeClock();
    const bucket = createTokenBucket({ perSecond: 10, burst: 2, clock });
    expect([bucket.reserve(), bucket.reserve(), bucket.reserve(), bucket.reserve()]).toEqual([0, 0, 100, 200]);
    await clock.advance(1000);
    // The borrowed tokens were repaid; the bucket refilled to its burst, not beyond.
    expect(bucket.tryTake()).toBe(true);
    expect(bucket.tryTake()).toBe(true);
    expect(bucket.tryTake()).toBe(false);
  });

  it("does not mint tokens when the clock steps backwards", () => {
    let now = 10_000;
    const clock = { now: () => now, setTimeout: () => ({}) as never, clearTimeout: () => {} };
    const bucket = createTokenBucket({ perSecond: 1, burst: 1, clock });
    expect(bucket.tryTake()).toBe(true);
    now = 5_000;
    expect(bucket.tryTake()).toBe(false);
    now = 10_999;
    expect(bucket.tryTake()).toBe(false);
    now = 11_000;
    expect(bucket.tryTake()).toBe(true);
  });
});

describe("back-off", () => {
  it("doubles per key up to the cap and starts over after forget", () => {
    const backoff = createKeyedBackoff({ baseMs: 5, maxMs: 30 });
    expect([1, 2, 3, 4, 5].map(() => backoff.next("a"))).toEqual([5, 10, 20, 30, 30]);
    expect(backoff.next("b")).toBe(5);
    expect(backoff.failures("a")).toBe(5);
    backoff.forget("a");
    expect(backoff.next("a")).toBe(5);
  });

  it("adds up to jitter × delay on top of the exponential step, and resets", () => {
    let r = 1;
    const backoff = createBackoff({ initialMs: 800, maxMs: 30_000, jitter: 1, random: () => r });
    expect(backoff.next()).toBe(1600);
    r = 0.5;
    expect(backoff.next()).toBe(2400);
    r = 0;
    expect([backoff.next(), backoff.next(), backoff.next(), backoff.next(), backoff.next(), backoff.next()]).toEqual([
      3200, 6400, 12_800, 25_600, 30_000, 30_000,
    ]);
    backoff.reset();
    expect(backoff.next()).toBe(800);
  });
});
