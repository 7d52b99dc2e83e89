// time.ts: parsing and formatting, Stale(t, d), back-off steps, and the deadline collector.
import { describe, expect, it } from "vitest";
import { backoffAfter, Deadlines, formatTime, isStale, parseTime } from "../../../../src/core/time.ts";
import { MIN, T0 } from "../builders.ts";

describe("parseTime / formatTime", () => {
  it.each([
    { text: undefined, ms: undefined },
    { text: "not a time", ms: undefined },
    { text: "2026-01-01T00:00:00Z", ms: T0 },
    { text: "2026-01-01T01:00:00+01:00", ms: T0 },
    { text: "2026-01-01T00:00:00.250Z", ms: T0 + 250 },
  ])("parseTime($text) = $ms", ({ text, ms }) => {
    expect(parseTime(text)).toBe(ms);
  });

  it("formatTime keeps milliseconds and round-trips", () => {
    expect(formatTime(T0 + 1)).toBe("2026-01-01T00:00:00.001Z");
    expect(parseTime(formatTime(T0 + 1))).toBe(T0 + 1);
  });
});

describe("isStale(t, d, now): t missing or now - t > d", () => {
  it.each([
    { t: undefined, now: T0, stale: true },
    { t: T0, now: T0 + MIN - 1, stale: false },
    { t: T0, now: T0 + MIN, stale: false },
    { t: T0, now: T0 + MIN + 1, stale: true },
    { t: T0 + 2 * MIN, now: T0, stale: false },
  ])("t=$t now=$now → $stale", ({ t, now, stale }) => {
    expect(isStale(t, MIN, now)).toBe(stale);
  });
});

describe("backoffAfter: the step for the attempts so far (1-based); the last step repeats", () => {
  const steps = [2, 2, 5, 10, 30];
  it.each([
    [0, 2],
    [1, 2],
    [2, 2],
    [3, 5],
    [4, 10],
    [5, 30],
    [9, 30],
  ])("after %i attempts: %i", (attempts, step) => {
    expect(backoffAfter(attempts, steps)).toBe(step);
  });

  it("no steps: no back-off", () => {
    expect(backoffAfter(3, [])).toBe(0);
  });
});

describe("Deadlines", () => {
  it("keeps the earliest future instant and ignores the past, now, and non-finite instants", () => {
    const d = new Deadlines(T0);
    expect(d.next).toBeUndefined();
    d.at(undefined);
    d.at(T0);
    d.at(T0 - 1);
    d.at(Number.NaN);
    d.at(Number.POSITIVE_INFINITY);
    expect(d.next).toBeUndefined();
    d.at(T0 + 10);
    d.at(T0 + 20);
    d.at(T0 + 5);
    expect(d.next).toBe(T0 + 5);
  });

  it("after(t, d) wakes at t + d + 1, when Stale(t, d) becomes true", () => {
    const d = new Deadlines(T0);
    d.after(undefined, MIN);
    expect(d.next).toBeUndefined();
    d.after(T0, MIN);
    expect(d.next).toBe(T0 + MIN + 1);
    expect(isStale(T0, MIN, d.next as number)).toBe(true);
    expect(isStale(T0, MIN, (d.next as number) - 1)).toBe(false);
  });
});
