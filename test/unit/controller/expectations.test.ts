import { describe, expect, it } from "vitest";
import { type CachedIdentity, createExpectations, type ObjectRef } from "../../../src/controller/expectations.ts";
import { createLogger } from "../../../src/controller/logger.ts";
import { createFakeClock } from "./fake-clock.ts";

const pod = (name: string): ObjectRef => ({ resource: "pods", namespace: "town", name });
const obj = (uid: string, resourceVersion: string): CachedIdentity => ({ metadata: { uid, resourceVersion } });

/** A fake set of caches keyed by resource/namespace/name. */
function caches() {
  const objects = new Map<string, CachedIdentity>();
  const id = (ref: ObjectRef) => `${ref.resource}/${ref.namespace}/${ref.name}`;
  return {
    set: (ref: ObjectRef, o: CachedIdentity) => objects.set(id(ref), o),
    remove: (ref: ObjectRef) => objects.delete(id(ref)),
    lookup: (ref: ObjectRef) => objects.get(id(ref)),
  };
}

function setup() {
  const clock = createFakeClock();
  const lines: string[] = [];
  const logger = createLogger({ level: "warn", destination: { write: (l: string) => lines.push(l) } });
  const expectations = createExpectations({ clock, logger });
  return { clock, lines, expectations, cache: caches() };
}

describe("expectations", () => {
  it("are satisfied for a key that never wrote anything", () => {
    const { expectations, cache } = setup();
    expect(expectations.satisfied("town-a", cache.lookup)).toBe(true);
  });

  it("hold a key after a create until the cache shows the object", () => {
    const { expectations, cache } = setup();
    expectations.expectCreate("town-a", pod("polecat-1"));
    expect(expectations.satisfied("town-a", cache.lookup)).toBe(false);
    expect(expectations.satisfied("town-b", cache.lookup)).toBe(true); // other keys are unaffected
    cache.set(pod("polecat-1"), obj("u1", "10"));
    expect(expectations.satisfied("town-a", cache.lookup)).toBe(true);
    expect(expectations.pendingKeys()).toEqual([]);
  });

  it("hold a key after an update until the cached resourceVersion differs, without ordering versions", () => {
    const { expectations, cache } = setup();
    cache.set(pod("p"), obj("u1", "9"));
    expectations.expectUpdate("town-a", pod("p"), "9");
    expect(expectations.satisfied("town-a", cache.lookup)).toBe(false);
    // "10" < "9" as strings and 10 > 9 as numbers; neither order matters, only the difference.
    cache.set(pod("p"), obj("u1", "10"));
    expect(expectations.satisfied("town-a", cache.lookup)).toBe(true);
  });

  it("treat an updated object that vanished from the cache as met", () => {
    const { expectations, cache } = setup();
    expectations.expectUpdate("town-a", pod("p"), "9");
    expect(expectations.satisfied("town-a", cache.lookup)).toBe(true);
  });

  it("hold a key after a delete while the cache still has that uid, even if the name was reused", () => {
    const { expectations, cache } = setup();
    cache.set(pod("p"), obj("old-uid", "5"));
    expectations.expectDelete("town-a", pod("p"), "old-uid");
    expect(expectations.satisfied("town-a", cache.lookup)).toBe(false);
    cache.set(pod("p"), obj("new-uid", "7")); // deleted and recreated before we looked
    expect(expectations.satisfied("town-a", cache.lookup)).toBe(true);

    expectations.expectDelete("town-a", pod("q"), "q-uid");
    cache.set(pod("q"), obj("q-uid", "1"));
    expect(expectations.satisfied("town-a", cache.lookup)).toBe(false);
    cache.remove(pod("q"));
    expect(expectations.satisfied("town-a", cache.lookup)).toBe(true);
  });

  it("need every expectation of a key to be met, keeping only the unmet ones", () => {
    const { expectations, cache } = setup();
    expectations.expectCreate("town-a", pod("a"));
    expectations.expectCreate("town-a", pod("b"));
    cache.set(pod("a"), obj("ua", "1"));
    expect(expectations.satisfied("town-a", cache.lookup)).toBe(false);
    cache.remove(pod("a")); // a met expectation stays met once dropped
    cache.set(pod("b"), obj("ub", "1"));
    expect(expectations.satisfied("town-a", cache.lookup)).toBe(true);
  });

  it("drop an unmet expectation after the TTL with a warning, so a lost event cannot wedge the key", async () => {
    const { expectations, cache, clock, lines } = setup();
    const start = clock.now();
    expectations.expectCreate("town-a", pod("lost"));
    expect(expectations.expiresAt("town-a")).toBe(start + 5 * 60_000);
    await clock.advance(5 * 60_000 - 1);
    expect(expectations.satisfied("town-a", cache.lookup)).toBe(false);
    expect(lines).toEqual([]);
    await clock.advance(1);
    expect(expectations.satisfied("town-a", cache.lookup)).toBe(true);
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: "warn", key: "town-a", expectation: "create" });
    expect(expectations.expiresAt("town-a")).toBeUndefined();
  });

  it("forget a key's expectations on clear", () => {
    const { expectations, cache } = setup();
    expectations.expectCreate("town-a", pod("x"));
    expectations.clear("town-a");
    expect(expectations.satisfied("town-a", cache.lookup)).toBe(true);
  });
});
