// Two electors on one real Lease: exactly one leads; when the leader crashes (stops renewing
// without releasing) the other takes over once the lease expires; when it releases, at once.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { createLeaderElector, type LeaderElector } from "../../../src/controller/leader-election.ts";
import { createLeaseStore } from "../../../src/controller/lease-store.ts";
import { createKubeHttp } from "../../../src/kube/http.ts";
import { createNamespace, kubeConfig } from "../../support/kube.ts";
import { observed } from "./observed.ts";

const kc = kubeConfig();
const api = createKubeHttp(kc);
let ns: string;
const running: LeaderElector[] = [];

beforeAll(async () => {
  ns = await createNamespace("leader-election");
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((e) => e.stop()));
});

interface Timings {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  jitter: number;
}

/** Starts two replicas campaigning for one Lease; their callbacks go to a shared log. */
function replicas(leaseName: string, timings: Timings) {
  const log = observed<string>();
  const make = (identity: string) => {
    const elector = createLeaderElector({
      name: leaseName,
      identity,
      store: createLeaseStore(kc, { namespace: ns, name: leaseName }),
      ...timings,
      onStartedLeading: (signal) => {
        log.push(`${identity} started`);
        signal.addEventListener("abort", () => log.push(`${identity} aborted`));
      },
      onStoppedLeading: () => log.push(`${identity} stopped`),
      onNewLeader: (leader) => log.push(`${identity} sees ${leader}`),
    });
    running.push(elector);
    return elector;
  };
  const electors = { a: make("replica-a"), b: make("replica-b") };
  electors.a.start();
  electors.b.start();
  return { log, electors };
}

const leaseHolder = async (name: string) =>
  (
    await api.json<{ spec: { holderIdentity?: string } }>({
      method: "GET",
      path: `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${name}`,
    })
  ).spec.holderIdentity ?? "";

/** Waits until one replica leads and the other has seen it; returns them as leader and follower. */
async function settled(setup: ReturnType<typeof replicas>) {
  const { log, electors } = setup;
  const started = await log.until((l) => l.some((x) => x.endsWith(" started")), "a replica to lead");
  const leaderId = started.find((x) => x.endsWith(" started"))!.split(" ")[0]!;
  const [leader, follower] = leaderId === "replica-a" ? [electors.a, electors.b] : [electors.b, electors.a];
  const followerId = leaderId === "replica-a" ? "replica-b" : "replica-a";
  await log.until((l) => l.includes(`${followerId} sees ${leaderId}`), "the follower to see the leader");
  return { leader, follower, leaderId, followerId };
}

describe("leader election on a real Lease", () => {
  it("lets exactly one replica lead, and after a crash the other takes over once the lease expires", async () => {
    const timings = { leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 500, jitter: 0.2 };
    const setup = replicas("crash", timings);
    const { leader, follower, leaderId, followerId } = await settled(setup);
    expect(leader.isLeader()).toBe(true);
    expect(follower.isLeader()).toBe(false);
    expect(await leaseHolder("crash")).toBe(leaderId);

    await leader.stop(); // a crash: no release, the lease still names the old leader
    expect(await leaseHolder("crash")).toBe(leaderId);
    // Not before the lease has expired (checked by the holder above and the order below), and not
    // much later: twice the lease duration leaves room for a loaded machine.
    const bound = 2 * timings.leaseDurationMs;
    await setup.log.until((l) => l.includes(`${followerId} started`), "the follower to take over", bound);
    expect(await leaseHolder("crash")).toBe(followerId);
    expect(setup.log.items.filter((x) => x.endsWith(" started"))).toEqual([
      `${leaderId} started`,
      `${followerId} started`,
    ]);
  });

  it("hands over at once when the leader releases the lease on a graceful shutdown", async () => {
    // A long lease, so that a takeover well within it can only come from the release.
    const timings = { leaseDurationMs: 30_000, renewDeadlineMs: 20_000, retryPeriodMs: 500, jitter: 0.2 };
    const setup = replicas("release", timings);
    const { leader, leaderId, followerId } = await settled(setup);
    await leader.release();
    expect(setup.log.items).toContain(`${leaderId} stopped`);
    // Half the lease duration: a takeover by then can only come from the release, not expiry.
    const bound = timings.leaseDurationMs / 2;
    await setup.log.until((l) => l.includes(`${followerId} started`), "the follower to take over", bound);
    expect(await leaseHolder("release")).toBe(followerId);
  });
});
