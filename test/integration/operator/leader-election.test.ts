// Two replicas: only the leader writes; when the leader is killed, the other takes over within
// 20 s and finishes the work.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Convoy } from "../../../src/api/convoy.ts";
import type { KubeHttp } from "../../../src/kube/http.ts";
import { Crew, finishWork } from "../../support/crew.ts";
import {
  adminHttp,
  convoyManifest,
  create,
  kubeConfigFromFile,
  nonZeroSeries,
  type OperatorProcess,
  spawnOperator,
  townManifest,
  waitForBead,
} from "../../support/gastown.ts";
import { createNamespace, kubeConfig, waitFor } from "../../support/kube.ts";

const LEASE = "gastown-operator";

async function metrics(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return res.text();
}

/**
 * The write counters of everything but the Lease, as `verb resource count`. A candidate writes the
 * Lease too: when both replicas find no Lease at start, both create it, and the loser's create (409)
 * is a write request like any other.
 */
async function workWrites(port: number): Promise<string[]> {
  return nonZeroSeries(await metrics(port), "gastown_api_writes_total").filter((l) => !l.includes('resource="leases"'));
}

describe("leader election", () => {
  let http: KubeHttp;
  let ns: string;
  let crew: Crew;
  const spawned: OperatorProcess[] = [];
  const replicas: { process: OperatorProcess; port: number }[] = [];
  let releaseWork: () => void = () => {};
  const workMayFinish = new Promise<void>((r) => {
    releaseWork = r;
  });

  beforeAll(async () => {
    http = adminHttp();
    ns = await createNamespace("leader");
    // Polecats wait until the test lets them finish, so work is in flight when the leader dies.
    crew = new Crew(kubeConfigFromFile(), ns, async (s) => {
      if (s.role === "Polecat") await workMayFinish;
      await finishWork(s);
    }).start();
    for (const name of ["replica-a", "replica-b"]) {
      spawned.push(spawnOperator(ns, name, ["--leader-elect", `--leader-election-namespace=${ns}`]));
    }
    // Both serve /metrics (and campaign) before anything is asked of them: on a loaded machine one
    // replica may lead and dispatch while the other is still loading its modules.
    for (const replica of spawned) replicas.push({ process: replica, port: (await replica.ready).port });
    await create(http, ns, townManifest("gt"));
  });

  afterAll(async () => {
    releaseWork();
    for (const replica of spawned) await replica.kill("SIGKILL");
    await crew?.stop();
  });

  const holder = () =>
    waitFor(
      kubeConfig(),
      { apiVersion: "coordination.k8s.io/v1", kind: "Lease", namespace: ns, name: LEASE },
      (l) => !!(l as { spec?: { holderIdentity?: string } } | undefined)?.spec?.holderIdentity,
      {
        description: "a leader",
        timeoutMs: 30_000,
      },
    ).then((l) => (l as { spec: { holderIdentity: string } }).spec.holderIdentity);

  it("only the leader writes; a killed leader is replaced within 20 s", async () => {
    const leaderName = await holder();
    const leader = replicas.find((r) => r.process.identity === leaderName);
    const follower = replicas.find((r) => r.process.identity !== leaderName);
    if (!leader || !follower) throw new Error(`unexpected leader ${leaderName}`);

    await create(
      http,
      ns,
      convoyManifest("work", "gt", [{ name: "one" }, { name: "two", dependsOn: ["one"] }], {
        mergeMode: "ReviewAndMerge",
      }),
    );
    await waitForBead(ns, "work-one", (b) => b?.status?.phase === "InProgress", "to be dispatched by the leader");
    expect(await workWrites(leader.port)).not.toEqual([]);
    expect(await workWrites(follower.port)).toEqual([]);

    const killedAt = Date.now();
    await leader.process.kill("SIGKILL");
    await waitFor(
      kubeConfig(),
      { apiVersion: "coordination.k8s.io/v1", kind: "Lease", namespace: ns, name: LEASE },
      (l) =>
        (l as { spec?: { holderIdentity?: string } } | undefined)?.spec?.holderIdentity === follower.process.identity,
      { description: `${follower.process.identity} to take the lease`, timeoutMs: 30_000 },
    );
    const takeover = Date.now() - killedAt;
    expect(takeover).toBeLessThanOrEqual(20_000);

    releaseWork();
    await waitFor(
      kubeConfig(),
      { apiVersion: "gastown.dev/v1alpha1", kind: "Convoy", namespace: ns, name: "work" },
      (c) => (c as unknown as Convoy | undefined)?.status?.phase === "Landed",
      { description: "the new leader to land the convoy", timeoutMs: 60_000 },
    );
    expect(await workWrites(follower.port)).not.toEqual([]);
    expect(crew.errors).toEqual([]);
  });
});
