// A log of things a component under test reported (handler calls, leadership changes) that a
// test can await: `until` resumes the moment a matching entry arrives, so nothing sleeps.

export interface Observed<T> {
  readonly items: T[];
  push(item: T): void;
  /** Resolves with the log once `check` accepts it; rejects after timeoutMs naming what was awaited. */
  until(check: (items: T[]) => boolean, description: string, timeoutMs?: number): Promise<T[]>;
}

export function observed<T>(): Observed<T> {
  const items: T[] = [];
  const waiters = new Set<() => void>();
  return {
    items,
    push(item) {
      items.push(item);
      for (const wake of [...waiters]) wake();
    },
    until(check, description, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(wake);
          const seen = JSON.stringify(items.slice(-20));
          reject(new Error(`timed out after ${timeoutMs}ms waiting for ${description}; last seen: ${seen}`));
        }, timeoutMs);
        const wake = () => {
          if (!check(items)) return;
          clearTimeout(timer);
          waiters.delete(wake);
          resolve(items);
        };
        waiters.add(wake);
        wake();
      });
    },
  };
}
