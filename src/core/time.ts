// Time arithmetic for the rules. The core never reads a clock: `now` is an argument, timestamps
// are epoch milliseconds, and every rule that waits reports the instant it wants to be woken.

/** Parses an API timestamp; undefined for absent or unparseable input (never NaN). */
export function parseTime(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = Date.parse(text);
  return Number.isFinite(t) ? t : undefined;
}

/**
 * Formats epoch milliseconds as RFC 3339. Our CRD timestamps are strings, so unlike metav1.Time
 * they keep milliseconds: tests run with timeouts of a few seconds.
 */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** Stale(t, d): the timestamp is missing or older than d (docs/rules.md's "no fresh … for d"). */
export function isStale(t: number | undefined, d: number, now: number): boolean {
  return t === undefined || now - t > d;
}

/** The back-off step for the given number of attempts so far (1-based); the last step repeats. */
export function backoffAfter(attempts: number, steps: readonly number[]): number {
  const index = Math.min(Math.max(attempts, 1), steps.length) - 1;
  return steps[index] ?? 0;
}

/** Collects the earliest future instant any rule wants to be re-evaluated at. */
export class Deadlines {
  private earliest: number | undefined;
  private readonly now: number;

  constructor(now: number) {
    this.now = now;
  }

  /** Asks to be woken when `at` passes. Deadlines at or before now are ignored: they already fired. */
  at(at: number | undefined): void {
    if (at === undefined || !Number.isFinite(at) || at <= this.now) return;
    if (this.earliest === undefined || at < this.earliest) this.earliest = at;
  }

  /** For a rule "t older than d": wake when that becomes true. */
  after(t: number | undefined, d: number): void {
    if (t !== undefined) this.at(t + d + 1);
  }

  get next(): number | undefined {
    return this.earliest;
  }
}
