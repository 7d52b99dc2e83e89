// Rate limiters in the shape of client-go's workqueue limiters: each answers "how long must this
// key wait before its next attempt". They are separate from the queue so the event recorder can
// reuse the token bucket.
import type { Clock } from "./clock.ts";

export interface TokenBucket {
  /**
   * Takes a token, borrowing from the future when the bucket is empty, and returns how long the
   * caller must wait for that token to exist (0 when one was available). Like x/time/rate's
   * Reserve().Delay(): a burst of callers is spread out, not refused.
   */
  reserve(): number;
  /** Takes a token only if one is available now. */
  tryTake(): boolean;
}

export function createTokenBucket(options: { perSecond: number; burst: number; clock: Clock }): TokenBucket {
  const { perSecond, burst, clock } = options;
  if (!(perSecond > 0) || !(burst >= 1)) throw new Error("token bucket needs perSecond > 0 and burst >= 1");
  let tokens = burst;
  let last = clock.now();

  const refill = () => {
    const now = clock.now();
    // A clock that steps backwards must not mint tokens.
    if (now > last) tokens = Math.min(burst, tokens + ((now - last) * perSecond) / 1000);
    last = Math.max(last, now);
  };

  return {
    reserve() {
      refill();
      tokens -= 1;
      return tokens >= 0 ? 0 : Math.ceil((-tokens * 1000) / perSecond);
    },
    tryTake() {
      refill();
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
  };
}

export interface KeyedBackoff {
  /** The delay before the key's next retry; every call counts as one more failure. */
  next(key: string): number;
  /** How many failures have been counted for the key since the last forget. */
  failures(key: string): number;
  forget(key: string): void;
}

/** Per-key exponential back-off: baseMs, 2·baseMs, 4·baseMs, … capped at maxMs. */
export function createKeyedBackoff(options: { baseMs: number; maxMs: number }): KeyedBackoff {
  const counts = new Map<string, number>();
  return {
    next(key) {
      const n = counts.get(key) ?? 0;
      counts.set(key, n + 1);
      // 2 ** n overflows to Infinity long before n gets dangerous, and min() absorbs that.
      return Math.min(options.maxMs, options.baseMs * 2 ** n);
    },
    failures: (key) => counts.get(key) ?? 0,
    forget: (key) => {
      counts.delete(key);
    },
  };
}

/**
 * Exponential back-off for a single retry loop (informer restarts), with jitter so that many
 * clients restarted by one apiserver blip do not come back in lock-step.
 */
export interface Backoff {
  next(): number;
  reset(): void;
}

export function createBackoff(options: {
  initialMs: number;
  maxMs: number;
  /** The delay is multiplied by 1 + jitter·random(); client-go's reflector uses 1.0. */
  jitter: number;
  random: () => number;
}): Backoff {
  let attempts = 0;
  return {
    next() {
      const base = Math.min(options.maxMs, options.initialMs * 2 ** attempts);
      attempts += 1;
      return Math.round(base * (1 + options.jitter * options.random()));
    },
    reset() {
      attempts = 0;
    },
  };
}
