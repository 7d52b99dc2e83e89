import { describe, expect, it } from "vitest";
import {
  createLeaderElector,
  type LeaderElector,
  type LeaderRecord,
  LeaseConflictError,
  type LeaseSnapshot,
  type LeaseStore,
} from "../../../src/controller/leader-election.ts";
import { createMetrics } from "../../../src/controller/metrics.ts";
import { createFakeClock, type FakeClock } from "./fake-clock.ts";

type Mode = "ok" | "fail" | "hang";

/** One Lease shared by several replicas, each of which can be cut off from it (fail fast or hang). */
function fakeLeaseStore() {
  let lease: LeaseSnapshot | undefined;
  let version = 0;
  const modes = new Map<string, Mode>();
  const writes: string[] = [];
  const write = (by: string, record: LeaderRecord) => {
    lease = { record: { ...record }, resourceVersion: String(++version) };
    writes.push(`${by}:${record.holderIdentity || "(released)"}`);
    return structuredClone(lease);
  };
  const replica = (who: string): LeaseStore => {
    const gate = async <T>(signal: AbortSignal, op: () => T): Promise<T> => {
      await Promise.resolve();
      const mode = modes.get(who) ?? "ok";
      if (mode === "fail") throw new Error("connection refused");
      if (mode === "hang") {
        return new Promise<T>((_, reject) =>
          signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true }),
        );
      }
      return op();
    };
    return {
      get: (signal) => gate(signal, () => (lease === undefined ? undefined : structuredClone(lease))),
      create: (record, signal) =>
        gate(signal, () => {
          if (lease) throw new LeaseConflictError("already exists");
          return write(who, record);
        }),
      update: (record, resourceVersion, signal) =>
        gate(signal, () => {
          if (lease?.resourceVersion !== resourceVersion) throw new LeaseConflictError("conflict");
          return write(who, record);
        }),
    };
  };
  return {
    replica,
    cutOff: (who: string, mode: Mode) => modes.set(who, mode),
    /** Someone outside the election writes the lease. */
    put: (record: LeaderRecord) => write("outsider", record),
    current: () => lease,
    writes,
  };
}

const record = (holder: string, renewTime: string): LeaderRecord => ({
  holderIdentity: holder,
  leaseDurationSeconds: 15,
  acquireTime: renewTime,
  renewTime,
  leaseTransitions: 3,
});

function elector(clock: FakeClock, store: ReturnType<typeof fakeLeaseStore>, identity: string, log: string[]) {
  const metrics = createMetrics();
  const e: LeaderElector = createLeaderElector({
    name: "gastown-operator",
    identity,
    store: store.replica(identity),
    clock,
    random: () => 0,
    metrics: metrics.leaderElection,
    onStartedLeading: (signal) => {
      log.push(`${identity} started`);
      signal.addEventListener("abort", () => log.push(`${identity} signal aborted`));
    },
    onStoppedLeading: () => {
      log.push(`${identity} stopped`);
    },
    onNewLeader: (leader) => log.push(`${identity} sees ${leader}`),
  });
  const status = async () =>
    (await metrics.registry.getSingleMetric("leader_election_master_status")!.get()).values[0]?.value;
  return Object.assign(e, { status });
}

/** A fake clock, one shared Lease and the log every replica's callbacks write to. */
function election() {
  return { clock: createFakeClock(), store: fakeLeaseStore(), log: [] as string[] };
}

describe("leader election", () => {
  it("acquires a missing lease at once, reports itself and renews every retry period", async () => {
    const { clock, store, log } = election();
    const a = elector(clock, store, "a", log);
    expect(await a.status()).toBe(0);
    a.start();
    await clock.settle();
    expect(a.isLeader()).toBe(true);
    expect(log).toEqual(["a sees a", "a started"]);
    expect(await a.status()).toBe(1);
    const first = store.current()!.record;
    expect(first).toMatchObject({ holderIdentity: "a", leaseDurationSeconds: 15, leaseTransitions: 0 });
    expect(first.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);

    await clock.advance(2000);
    const renewed = store.current()!.record;
    expect(renewed.renewTime).not.toBe(first.renewTime);
    expect(renewed.acquireTime).toBe(first.acquireTime);
    await a.stop();
  });

  it("lets exactly one of two racing candidates lead", async () => {
    const { clock, store, log } = election();
    const a = elector(clock, store, "a", log);
    const b = elector(clock, store, "b", log);
    a.start();
    b.start();
    await clock.advance(30_000);
    expect([a.isLeader(), b.isLeader()].filter(Boolean)).toHaveLength(1);
    await Promise.all([a.stop(), b.stop()]);
  });

  it("judges expiry by when it saw the record change, never by the remote renewTime", async () => {
    const { clock, store, log } = election();
    // Renewed "years ago" by a remote clock: still live until we have watched it sit still for 15 s.
    store.put(record("old-leader", "2001-01-01T00:00:00.000000Z"));
    const b = elector(clock, store, "b", log);
    b.start();
    await clock.advance(14_999);
    expect(b.isLeader()).toBe(false);
    expect(b.leader()).toBe("old-leader");
    await clock.advance(1);
    expect(b.isLeader()).toBe(true);
    expect(store.current()!.record).toMatchObject({ holderIdentity: "b", leaseTransitions: 4 });

    // A renewTime far in the future buys nothing either.
    const store2 = fakeLeaseStore();
    store2.put(record("future-leader", "2999-01-01T00:00:00.000000Z"));
    const c = elector(clock, store2, "c", []);
    c.start();
    await clock.advance(15_000);
    expect(c.isLeader()).toBe(true);
    await Promise.all([b.stop(), c.stop()]);
  });

  it("does not take a lease whose holder keeps renewing, however long it waits", async () => {
    const { clock, store, log } = election();
    const a = elector(clock, store, "a", log);
    a.start();
    await clock.settle();
    const b = elector(clock, store, "b", log);
    b.start();
    await clock.advance(120_000);
    expect(a.isLeader()).toBe(true);
    expect(b.isLeader()).toBe(false);
    expect(log).not.toContain("b started");
    await Promise.all([a.stop(), b.stop()]);
  });

  for (const mode of ["fail", "hang"] as const) {
    it(`steps down before a rival can acquire when renewals ${mode === "fail" ? "fail" : "hang"}`, async () => {
      const { clock, store, log } = election();
      const a = elector(clock, store, "a", log);
      a.start();
      await clock.settle();
      const b = elector(clock, store, "b", log);
      b.start();
      await clock.advance(5000); // a's last successful renewal began at t=4 s
      store.cutOff("a", mode);

      await clock.advance(8999); // t = 13.999 s
      expect(a.isLeader()).toBe(true);
      await clock.advance(1); // t = 14 s: renew deadline of 10 s after the t=4 s attempt
      expect(a.isLeader()).toBe(false);
      expect(await a.status()).toBe(0);

      await clock.advance(15_000 + 2000);
      expect(b.isLeader()).toBe(true);
      const order = log.filter((l) => /^a (signal aborted|stopped)$|^b started$/.test(l));
      expect(order).toEqual(["a signal aborted", "a stopped", "b started"]);
      await Promise.all([a.stop(), b.stop()]);
    });
  }

  it("steps down at its next renewal when another replica has taken the lease", async () => {
    const { clock, store, log } = election();
    const a = elector(clock, store, "a", log);
    a.start();
    await clock.settle();
    store.put(record("usurper", "2030-01-01T00:00:00.000000Z"));
    await clock.advance(2000);
    expect(a.isLeader()).toBe(false);
    expect(log).toEqual(["a sees a", "a started", "a sees usurper", "a signal aborted", "a stopped"]);
    await a.stop();
  });

  it("after a crash (stop without release) a successor waits out the lease duration", async () => {
    const { clock, store, log } = election();
    const a = elector(clock, store, "a", log);
    const b = elector(clock, store, "b", log);
    a.start();
    await clock.settle();
    b.start();
    await clock.advance(3000);
    await a.stop();
    expect(store.current()!.record.holderIdentity).toBe("a");
    await clock.advance(13_000); // b last saw a change at t=2 s; it expires at t=17 s
    expect(b.isLeader()).toBe(false);
    await clock.advance(1000);
    expect(b.isLeader()).toBe(true);
    await b.stop();
  });

  it("on release stops leading first, then frees the lease so a successor takes over at its next retry", async () => {
    const { clock, store, log } = election();
    const a = elector(clock, store, "a", log);
    const b = elector(clock, store, "b", log);
    a.start();
    await clock.settle();
    b.start();
    await clock.advance(3000);
    await a.release();
    log.push(`lease written by ${store.writes.at(-1)}`);
    expect(store.current()!.record).toMatchObject({ holderIdentity: "", leaseDurationSeconds: 1 });
    await clock.advance(2000);
    expect(b.isLeader()).toBe(true);
    expect(log.filter((l) => l.startsWith("a ") || l.startsWith("lease") || l === "b started")).toEqual([
      "a sees a",
      "a started",
      "a signal aborted",
      "a stopped",
      "lease written by a:(released)",
      "b started",
    ]);
    await b.stop();
  });

  it("releases the lease even when a renewal it abandoned on shutdown landed after all", async () => {
    const { clock, store, log } = election();
    const a = elector(clock, store, "a", log);
    a.start();
    await clock.settle();
    // The write of a renewal cut short by release() reached the server: a newer version, still a's.
    store.put({ ...store.current()!.record, renewTime: "2026-01-01T00:00:09.000000Z" });
    await a.release();
    expect(store.current()!.record).toMatchObject({ holderIdentity: "", leaseDurationSeconds: 1 });
    expect(store.writes.at(-1)).toBe("a:(released)");
  });

  it("does not touch the lease on release when it is not the leader", async () => {
    const { clock, store, log } = election();
    const a = elector(clock, store, "a", log);
    const b = elector(clock, store, "b", log);
    a.start();
    await clock.settle();
    b.start();
    await clock.advance(1000);
    const writes = store.writes.length;
    await b.release();
    expect(store.writes).toHaveLength(writes);
    expect(store.current()!.record.holderIdentity).toBe("a");
    await a.stop();
  });

  it("rejects timings that would let two leaders overlap", () => {
    const store = fakeLeaseStore().replica("x");
    const base = { name: "l", identity: "x", store, onStartedLeading: () => {} };
    expect(() => createLeaderElector({ ...base, leaseDurationMs: 10_000, renewDeadlineMs: 10_000 })).toThrow(
      /leaseDuration/,
    );
    expect(() => createLeaderElector({ ...base, renewDeadlineMs: 2_000, retryPeriodMs: 2_000 })).toThrow(
      /renewDeadline/,
    );
    expect(() => createLeaderElector({ ...base, identity: "" })).toThrow(/identity/);
  });
});
