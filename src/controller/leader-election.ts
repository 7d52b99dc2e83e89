// Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics. Only local clocks
// are trusted: another holder's lease counts as expired when *we* have not seen its record change
// for its lease duration, never by comparing its renewTime with our clock. Writes are guarded by
// resourceVersion, so of two candidates racing for an expired lease exactly one wins.
//
// Safety argument: the leader stops acting at lastRenewAttempt + renewDeadline (a timer, so a hung
// request cannot delay it). A rival can only take over leaseDuration after it observed our last
// successful renewal, which happened after that attempt started. renewDeadline < leaseDuration,
// so we always step down first, with leaseDuration − renewDeadline to spare for clock-rate skew.
import type { Clock, TimerHandle } from "./clock.ts";
import { formatMicroTime, sleep, systemClock } from "./clock.ts";
import type { Logger } from "./logger.ts";
import { silentLogger } from "./logger.ts";
import type { LeaderElectionMetrics } from "./metrics.ts";

/** The lease fields leader election reads and writes (Lease.spec, with MicroTime strings). */
export interface LeaderRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime: string;
  renewTime: string;
  leaseTransitions: number;
}

export interface LeaseSnapshot {
  record: LeaderRecord;
  resourceVersion: string;
}

/** Raised by a LeaseStore when a create or update lost a race (409). */
export class LeaseConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "LeaseConflictError";
  }
}

/** Where the lease lives; the default implementation (lease-store.ts) is a Lease object. */
export interface LeaseStore {
  get(signal: AbortSignal): Promise<LeaseSnapshot | undefined>;
  /** Fails with LeaseConflictError when the lease already exists. */
  create(record: LeaderRecord, signal: AbortSignal): Promise<LeaseSnapshot>;
  /** Fails with LeaseConflictError when the lease is no longer at resourceVersion. */
  update(record: LeaderRecord, resourceVersion: string, signal: AbortSignal): Promise<LeaseSnapshot>;
}

export interface LeaderElectionCallbacks {
  /** We lead until the signal aborts; stop writing then. */
  onStartedLeading(signal: AbortSignal): void;
  /** Called after the signal aborted. A returned promise (drain workers) is awaited before candidacy resumes. */
  onStoppedLeading?(): void | Promise<void>;
  /** The observed holder changed (including to ourselves). */
  onNewLeader?(identity: string): void;
}

export interface LeaderElectorOptions extends LeaderElectionCallbacks {
  /** Lease name; also the `name` label of leader_election_master_status. */
  name: string;
  /** Unique per replica, e.g. the pod name plus a random suffix. */
  identity: string;
  store: LeaseStore;
  clock?: Clock;
  random?: () => number;
  logger?: Logger;
  metrics?: LeaderElectionMetrics;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /**
   * Candidates wait retryPeriod · (1 + jitter · random) between attempts. client-go uses 1.2; we
   * default to 0.2 because with a handful of replicas a fast takeover matters more than spreading.
   */
  jitter?: number;
}

export interface LeaderElector {
  /** Starts campaigning; leadership is reported through the callbacks. */
  start(): void;
  isLeader(): boolean;
  /** The holder we last observed ("" when the lease is free or unknown). */
  leader(): string;
  /** Graceful shutdown: stop leading, await onStoppedLeading, then free the lease so a successor takes over at once. */
  release(): Promise<void>;
  /** Stops campaigning and leading without touching the lease (successors wait for it to expire). */
  stop(): Promise<void>;
}

type Attempt = { outcome: "acquired" | "failed" } | { outcome: "held"; expiresAt: number };

const recordKey = (r: LeaderRecord) =>
  JSON.stringify([r.holderIdentity, r.leaseDurationSeconds, r.acquireTime, r.renewTime, r.leaseTransitions]);

export function createLeaderElector(options: LeaderElectorOptions): LeaderElector {
  const { name, identity, store } = options;
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const logger = (options.logger ?? silentLogger()).child({ lease: name, identity });
  const leaseDurationMs = options.leaseDurationMs ?? 15_000;
  const renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
  const retryPeriodMs = options.retryPeriodMs ?? 2_000;
  const jitter = options.jitter ?? 0.2;
  if (!identity) throw new Error("leader election needs a non-empty identity");
  if (!(leaseDurationMs > renewDeadlineMs)) throw new Error("leaseDuration must be greater than renewDeadline");
  if (!(renewDeadlineMs > retryPeriodMs * (1 + jitter))) {
    throw new Error("renewDeadline must be greater than retryPeriod × (1 + jitter)");
  }

  let observed: LeaseSnapshot | undefined;
  let observedKey = "";
  let observedAt = 0;
  let reportedLeader = "";
  let campaign: AbortController | undefined;
  let loop: Promise<void> | undefined;
  let term: { controller: AbortController; deadline?: TimerHandle } | undefined;

  options.metrics?.masterStatus.set({ name }, 0);

  const observe = (snapshot: LeaseSnapshot) => {
    const key = recordKey(snapshot.record);
    if (key !== observedKey) {
      observedKey = key;
      observedAt = clock.now(); // our clock, at the moment *we* saw the change
    }
    observed = snapshot;
    const holder = snapshot.record.holderIdentity;
    if (holder !== reportedLeader) {
      reportedLeader = holder;
      if (holder !== "") {
        logger.info({ leader: holder }, "new leader observed");
        options.onNewLeader?.(holder);
      }
    }
  };

  /**
   * One attempt to take or keep the lease, begun at `attemptAt`: "acquired" when we hold it
   * afterwards, "held" when another replica's lease is still live, "failed" on errors and lost races.
   */
  const tryAcquireOrRenew = async (attemptAt: number, signal: AbortSignal): Promise<Attempt> => {
    const fresh = (previous?: LeaderRecord): LeaderRecord => {
      const stamp = formatMicroTime(attemptAt);
      const keep = previous?.holderIdentity === identity;
      return {
        holderIdentity: identity,
        leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
        acquireTime: keep && previous ? previous.acquireTime : stamp,
        renewTime: stamp,
        leaseTransitions: previous ? previous.leaseTransitions + (keep ? 0 : 1) : 0,
      };
    };
    try {
      const current = await store.get(signal);
      if (current === undefined) {
        observe(await store.create(fresh(), signal));
        return { outcome: "acquired" };
      }
      observe(current);
      const holder = current.record.holderIdentity;
      const expiresAt = observedAt + (current.record.leaseDurationSeconds || leaseDurationMs / 1000) * 1000;
      if (holder !== "" && holder !== identity && clock.now() < expiresAt) return { outcome: "held", expiresAt };
      observe(await store.update(fresh(current.record), current.resourceVersion, signal));
      return { outcome: "acquired" };
    } catch (err) {
      if (err instanceof LeaseConflictError) logger.debug({ err }, "lost a lease race");
      else if (!signal.aborted) logger.warn({ err }, "lease request failed");
      return { outcome: "failed" };
    }
  };

  const stepDown = (why: string, graceful = false) => {
    if (!term || term.controller.signal.aborted) return;
    if (term.deadline) clock.clearTimeout(term.deadline);
    if (graceful) logger.info({ why }, "stopped leading");
    else logger.warn({ why }, "stopped leading");
    options.metrics?.masterStatus.set({ name }, 0);
    term.controller.abort(new Error(why));
  };

  const armDeadline = (renewedAt: number) => {
    if (!term) return;
    if (term.deadline) clock.clearTimeout(term.deadline);
    term.deadline = clock.setTimeout(
      () => stepDown("lease not renewed within the renew deadline"),
      renewedAt + renewDeadlineMs - clock.now(),
    );
  };

  const lead = async (acquiredAt: number, signal: AbortSignal) => {
    const controller = new AbortController();
    term = { controller };
    armDeadline(acquiredAt);
    options.metrics?.masterStatus.set({ name }, 1);
    logger.info("started leading");
    try {
      options.onStartedLeading(controller.signal);
    } catch (err) {
      logger.error({ err }, "onStartedLeading threw");
    }
    const stopRenewing = AbortSignal.any([signal, controller.signal]);
    while (!stopRenewing.aborted) {
      await sleep(clock, retryPeriodMs, stopRenewing);
      if (stopRenewing.aborted) break;
      const attemptAt = clock.now();
      const attempt = await tryAcquireOrRenew(attemptAt, stopRenewing);
      if (stopRenewing.aborted) break;
      if (attempt.outcome === "acquired") armDeadline(attemptAt);
      else if (attempt.outcome === "held") stepDown("another replica holds the lease");
    }
    stepDown(signal.aborted ? "stopped" : "lost the lease", signal.aborted);
    term = undefined;
    try {
      await options.onStoppedLeading?.();
    } catch (err) {
      logger.error({ err }, "onStoppedLeading threw");
    }
  };

  const run = async (signal: AbortSignal) => {
    while (!signal.aborted) {
      const attemptAt = clock.now();
      const attempt = await tryAcquireOrRenew(attemptAt, signal);
      if (signal.aborted) break;
      if (attempt.outcome === "acquired") {
        await lead(attemptAt, signal);
        continue;
      }
      let waitMs = retryPeriodMs * (1 + jitter * random());
      // When the holder's lease will have expired before the next retry, try right at expiry.
      if (attempt.outcome === "held") waitMs = Math.min(waitMs, Math.max(1, attempt.expiresAt - clock.now()));
      await sleep(clock, waitMs, signal);
    }
  };

  const halt = async () => {
    campaign?.abort();
    await loop;
    campaign = undefined;
    loop = undefined;
  };

  return {
    start() {
      if (campaign) return;
      campaign = new AbortController();
      const signal = campaign.signal;
      loop = run(signal).catch((err: unknown) => logger.error({ err }, "leader election loop crashed"));
    },
    isLeader: () => term !== undefined && !term.controller.signal.aborted,
    leader: () => reportedLeader,
    stop: halt,
    async release() {
      const wasLeading = term !== undefined && !term.controller.signal.aborted;
      await halt();
      if (!wasLeading || !observed || observed.record.holderIdentity !== identity) return;
      const now = formatMicroTime(clock.now());
      const signal = AbortSignal.timeout(renewDeadlineMs);
      try {
        // A renewal that halt() abandoned may have landed anyway and moved the resourceVersion on:
        // on a conflict, read the lease again and release it while it is still ours.
        for (let lease: LeaseSnapshot | undefined = observed; lease?.record.holderIdentity === identity; ) {
          const released: LeaderRecord = {
            holderIdentity: "",
            leaseDurationSeconds: 1,
            acquireTime: now,
            renewTime: now,
            leaseTransitions: lease.record.leaseTransitions,
          };
          try {
            observe(await store.update(released, lease.resourceVersion, signal));
            logger.info("released the lease");
            return;
          } catch (err) {
            if (!(err instanceof LeaseConflictError)) throw err;
            lease = await store.get(signal);
          }
        }
      } catch (err) {
        logger.warn({ err }, "could not release the lease; successors wait for it to expire");
      }
    },
  };
}
