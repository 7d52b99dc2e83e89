// Write expectations, the ReplicaSet controller's idea generalised: after the shell writes, it
// records what its cache must show before the key may be planned again. Planning from a cache that
// has not yet seen our own write is how a fast re-queue dispatches the same bead twice.
//
// Expectations are checked by reading the caches (pull), not by counting informer events (push),
// so they need no wiring into handlers; the TTL is the safety valve for an event we never see.
import type { Clock } from "./clock.ts";
import { systemClock } from "./clock.ts";
import type { Logger } from "./logger.ts";
import { silentLogger } from "./logger.ts";

/** Which cached object an expectation is about; `resource` picks the cache (e.g. "pods", "beads"). */
export interface ObjectRef {
  resource: string;
  namespace?: string;
  name: string;
}

/** What the caches hold at a ref: just the identity fields expectations compare. */
export interface CachedIdentity {
  metadata?: { uid?: string; resourceVersion?: string };
}

export type CacheLookup = (ref: ObjectRef) => CachedIdentity | undefined;

type Expectation =
  | { kind: "create"; ref: ObjectRef; at: number }
  | { kind: "update"; ref: ObjectRef; previousResourceVersion: string; at: number }
  | { kind: "delete"; ref: ObjectRef; uid: string; at: number };

export interface Expectations {
  /** We created the object: wait until the cache has it. */
  expectCreate(key: string, ref: ObjectRef): void;
  /**
   * We updated the object that the cache showed at previousResourceVersion: wait until the cache
   * shows any other version (resourceVersions are opaque, so "different", never "greater").
   */
  expectUpdate(key: string, ref: ObjectRef, previousResourceVersion: string): void;
  /** We deleted the object with this uid: wait until the cache no longer has that uid at that name. */
  expectDelete(key: string, ref: ObjectRef, uid: string): void;
  /**
   * True when every expectation recorded for the key is met by the caches (met ones are dropped).
   * Expectations older than the TTL are dropped with a warning, so a lost event cannot wedge a key.
   */
  satisfied(key: string, lookup: CacheLookup): boolean;
  /** The earliest instant an unmet expectation of the key expires; a requeue deadline. */
  expiresAt(key: string): number | undefined;
  /** Forgets the key's expectations (the key's object is gone, or we are no longer leader). */
  clear(key: string): void;
  /** Keys with unmet expectations, for debugging and metrics. */
  pendingKeys(): string[];
  /** The key's unmet expectations, for logs ("waiting for the cache to show …"). */
  describe(key: string): string[];
}

export interface ExpectationsOptions {
  clock?: Clock;
  logger?: Logger;
  /** How long an unmet expectation is trusted (upstream ExpectationsTimeout: 5 minutes). */
  ttlMs?: number;
}

function isMet(e: Expectation, cached: CachedIdentity | undefined): boolean {
  switch (e.kind) {
    case "create":
      return cached !== undefined;
    case "update":
      // Gone from the cache counts as met: waiting for a version of a deleted object never ends.
      return cached === undefined || cached.metadata?.resourceVersion !== e.previousResourceVersion;
    case "delete":
      return cached === undefined || cached.metadata?.uid !== e.uid;
  }
}

export function createExpectations(options: ExpectationsOptions = {}): Expectations {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger();
  const ttlMs = options.ttlMs ?? 5 * 60_000;
  const byKey = new Map<string, Expectation[]>();

  const push = (key: string, e: Expectation) => {
    const list = byKey.get(key);
    if (list === undefined) byKey.set(key, [e]);
    else list.push(e);
  };

  return {
    expectCreate(key, ref) {
      push(key, { kind: "create", ref, at: clock.now() });
    },
    expectUpdate(key, ref, previousResourceVersion) {
      push(key, { kind: "update", ref, previousResourceVersion, at: clock.now() });
    },
    expectDelete(key, ref, uid) {
      push(key, { kind: "delete", ref, uid, at: clock.now() });
    },
    satisfied(key, lookup) {
      const list = byKey.get(key);
      if (list === undefined) return true;
      const now = clock.now();
      const unmet = list.filter((e) => {
        if (isMet(e, lookup(e.ref))) return false;
        if (now - e.at >= ttlMs) {
          logger.warn(
            { key, expectation: e.kind, ref: e.ref, ageMs: now - e.at },
            "expectation expired unmet; planning from the cache anyway",
          );
          return false;
        }
        return true;
      });
      if (unmet.length === 0) byKey.delete(key);
      else byKey.set(key, unmet);
      return unmet.length === 0;
    },
    expiresAt(key) {
      const list = byKey.get(key);
      if (list === undefined || list.length === 0) return undefined;
      return Math.min(...list.map((e) => e.at)) + ttlMs;
    },
    clear(key) {
      byKey.delete(key);
    },
    pendingKeys: () => [...byKey.keys()],
    describe: (key) => (byKey.get(key) ?? []).map((e) => `${e.kind} ${e.ref.resource}/${e.ref.name}`),
  };
}
