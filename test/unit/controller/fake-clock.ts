// A manual clock for unit tests of the controller machinery: time moves only when a test says so,
// and timers fire in due order, with pending promise continuations run between them.
import type { Clock, TimerHandle } from "../../../src/controller/clock.ts";

export interface FakeClock extends Clock {
  /** Moves time forward, firing every timer that falls due on the way, in order. */
  advance(ms: number): Promise<void>;
  /** Runs pending promise continuations without moving time. */
  settle(): Promise<void>;
  pendingTimers(): number;
}

interface Timer {
  id: number;
  at: number;
  callback: () => void;
}

/** Lets chains of already-resolved promises (fake API calls, awaits in loops) run to completion. */
async function flushPromises(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export function createFakeClock(start = 1_700_000_000_000): FakeClock {
  let now = start;
  let nextId = 1;
  const timers = new Map<number, Timer>();

  const due = (limit: number): Timer | undefined => {
    let first: Timer | undefined;
    for (const t of timers.values()) {
      if (t.at <= limit && (first === undefined || t.at < first.at || (t.at === first.at && t.id < first.id))) {
        first = t;
      }
    }
    return first;
  };

  return {
    now: () => now,
    setTimeout(callback, delayMs) {
      const id = nextId++;
      timers.set(id, { id, at: now + Math.max(0, delayMs), callback });
      return id as unknown as TimerHandle;
    },
    clearTimeout(handle) {
      timers.delete(handle as unknown as number);
    },
    async advance(ms) {
      const target = now + ms;
      await flushPromises();
      for (let t = due(target); t !== undefined; t = due(target)) {
        timers.delete(t.id);
        now = Math.max(now, t.at);
        t.callback();
        await flushPromises();
      }
      now = target;
      await flushPromises();
    },
    settle: flushPromises,
    pendingTimers: () => timers.size,
  };
}
