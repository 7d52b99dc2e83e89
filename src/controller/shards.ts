// Sharding towns across operator Deployments (--town-selector). Each shard watches only the Towns
// its label selector matches, and acts on a town only once the town's status names it
// (status.shard, its --leader-election-id): a shard claims an unclaimed town with a write guarded
// by the town's resourceVersion, and gives its claim up when the town leaves its selector (a user
// relabelled it), after its last reconcile of that town has finished. So when a town moves, the
// new shard waits until the old one let go: two shards never both act on one town, even while
// their caches disagree about its labels. A claim whose shard is gone (its leader Lease has not
// been renewed for a lease duration, judged on this process's clock) is taken over; at startup a
// shard gives up claims on towns that no longer match its selector. Every write carries the
// leader's term signal: a deposed shard leader stops claiming and releasing at once.
import type { Town } from "../api/town.ts";
import { isConflict, isNotFound } from "../kube/errors.ts";
import type { KubeHttp } from "../kube/http.ts";
import { apiPath } from "../kube/paths.ts";
import type { Selector } from "../kube/selector.ts";
import type { Clock } from "./clock.ts";
import type { Logger } from "./logger.ts";
import { LEASES, TOWNS } from "./resources.ts";

export interface ShardsOptions {
  http: KubeHttp;
  /** This shard's name: its leader-election id, unique per shard. */
  id: string;
  selector: Selector;
  /** Where the shards' leader Leases live; without it, a gone shard's claims are never taken over. */
  leaseNamespace?: string;
  /** Watch one namespace; undefined: all. */
  namespace?: string;
  clock: Clock;
  logger: Logger;
}

export interface Admission {
  act: boolean;
  /** When to look again (a claim to see confirmed, another shard to let go). */
  requeueAfterMs?: number;
}

export interface Shards {
  readonly id: string;
  /** May this shard act on the town (as its cache shows it) now? May write the claim. */
  admit(town: Town, signal?: AbortSignal): Promise<Admission>;
  /** The town is no longer in this shard's cache: give up the claim, if it is ours. */
  release(namespace: string, town: string, signal?: AbortSignal): Promise<void>;
  /** At the start of leadership: give up claims on towns the selector no longer matches. */
  releaseStrays(signal?: AbortSignal): Promise<void>;
  /** Whether the town exists at all (this shard's cache holds only its own towns). */
  exists(namespace: string, town: string, signal?: AbortSignal): Promise<boolean>;
}

const RECHECK_MS = 5_000;

type WireTown = {
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
  status?: { shard?: string };
};
type WireLease = { metadata: { resourceVersion?: string }; spec?: { leaseDurationSeconds?: number } };

export function createShards(o: ShardsOptions): Shards {
  const { http, id, clock, logger } = o;
  /** Towns this process claimed or acted on: what release() has to give up. */
  const held = new Set<string>();
  /** Other shards' Leases as last seen: a version unchanged for a lease duration means gone. */
  const seen = new Map<string, { resourceVersion: string; since: number; durationMs: number }>();
  const told = new Set<string>();

  const statusPath = (namespace: string, town: string) => apiPath(TOWNS, namespace, town, "status");
  const writeClaim = async (
    namespace: string,
    town: string,
    resourceVersion: string,
    shard: string | null,
    signal?: AbortSignal,
  ) => {
    await http.json({
      ...(signal ? { signal } : {}),
      method: "PATCH",
      path: statusPath(namespace, town),
      contentType: "application/merge-patch+json",
      body: { metadata: { resourceVersion }, status: { shard } },
    });
  };

  async function gone(shard: string, signal?: AbortSignal): Promise<boolean> {
    if (!o.leaseNamespace) return false;
    let lease: WireLease;
    try {
      lease = await http.json<WireLease>({
        method: "GET",
        path: apiPath(LEASES, o.leaseNamespace, shard),
        ...(signal ? { signal } : {}),
      });
    } catch (e) {
      if (isNotFound(e)) return true;
      throw e;
    }
    const rv = lease.metadata.resourceVersion ?? "";
    const durationMs = (lease.spec?.leaseDurationSeconds ?? 15) * 1000;
    const last = seen.get(shard);
    if (!last || last.resourceVersion !== rv) {
      seen.set(shard, { resourceVersion: rv, since: clock.now(), durationMs });
      return false;
    }
    return clock.now() - last.since > last.durationMs;
  }

  return {
    id,
    async admit(town, signal) {
      const namespace = town.metadata.namespace ?? "";
      const name = town.metadata.name;
      const key = `${namespace}/${name}`;
      const claimant = town.status?.shard;
      if (claimant === id) {
        held.add(key);
        return { act: true };
      }
      const rv = town.metadata.resourceVersion ?? "";
      try {
        if (claimant === undefined || claimant === "") {
          held.add(key);
          await writeClaim(namespace, name, rv, id, signal);
          logger.info({ town: key, shard: id }, "claimed the town for this shard");
          return { act: false, requeueAfterMs: 1000 };
        }
        if (await gone(claimant, signal)) {
          held.add(key);
          await writeClaim(namespace, name, rv, id, signal);
          logger.warn({ town: key, shard: id, from: claimant }, "took the town over from a shard that is gone");
          return { act: false, requeueAfterMs: 1000 };
        }
      } catch (e) {
        if (isConflict(e) || isNotFound(e)) return { act: false, requeueAfterMs: 1000 };
        throw e;
      }
      if (!told.has(`${key}/${claimant}`)) {
        told.add(`${key}/${claimant}`);
        logger.info(
          { town: key, shard: id, claimedBy: claimant },
          "the town matches this shard's selector but another shard holds it; waiting until it lets go " +
            "(it does when the town leaves its --town-selector; clear status.shard if that shard is gone for good)",
        );
      }
      return { act: false, requeueAfterMs: RECHECK_MS };
    },

    async release(namespace, town, signal) {
      const key = `${namespace}/${town}`;
      if (!held.has(key)) return;
      for (let attempt = 0; attempt < 3; attempt++) {
        let current: WireTown;
        try {
          current = await http.json<WireTown>({
            method: "GET",
            path: apiPath(TOWNS, namespace, town),
            ...(signal ? { signal } : {}),
          });
        } catch (e) {
          if (!isNotFound(e)) throw e;
          held.delete(key);
          return;
        }
        if (current.status?.shard !== id) {
          held.delete(key);
          return;
        }
        try {
          await writeClaim(namespace, town, current.metadata.resourceVersion ?? "", null, signal);
          held.delete(key);
          logger.info({ town: key, shard: id }, "released the town: it left this shard's selector");
          return;
        } catch (e) {
          if (!isConflict(e)) throw e;
        }
      }
      throw new Error(`could not release town ${key}: it kept changing`);
    },

    async exists(namespace, town, signal) {
      try {
        await http.json({ method: "GET", path: apiPath(TOWNS, namespace, town), ...(signal ? { signal } : {}) });
        return true;
      } catch (e) {
        if (isNotFound(e)) return false;
        throw e;
      }
    },

    async releaseStrays(signal) {
      const list = await http.json<{ items: WireTown[] }>({
        method: "GET",
        path: apiPath(TOWNS, o.namespace),
        ...(signal ? { signal } : {}),
      });
      for (const t of list.items) {
        if (t.status?.shard !== id || o.selector.matches(t.metadata.labels)) continue;
        const namespace = t.metadata.namespace ?? "";
        held.add(`${namespace}/${t.metadata.name}`);
        await this.release(namespace, t.metadata.name, signal);
      }
    },
  };
}
