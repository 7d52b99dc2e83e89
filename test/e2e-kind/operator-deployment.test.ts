// The operator as users run it: manifests/base's Deployment on a real node, in-cluster config,
// two replicas behind leader election, probes answered, metrics scraped through the Service; and
// when the leader's pod goes away, the standby takes the Lease and drives work to the end.
import type { V1Deployment, V1Lease, V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { kubeConfig, runKubectl, waitFor, waitForList } from "../support/kube.ts";
import { counterTotal } from "../support/manifests.ts";
import { applyBead, applyTown, scenarioNamespace, serveRig, waitForBead } from "./support/town.ts";

const NS = "gastown-system";
const NAME = "gastown-operator";
const SELECTOR = "app.kubernetes.io/name=gastown-operator";

const raw = (path: string) => runKubectl(["get", "--raw", path]);
const podProxy = (pod: string, path: string) => raw(`/api/v1/namespaces/${NS}/pods/${pod}:8080/proxy${path}`);
const ready = (p: V1Pod) =>
  p.metadata?.deletionTimestamp === undefined &&
  (p.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");

/** The replicas' pods, once `count` of them are Ready and none is going away. */
function readyPods(count: number): Promise<V1Pod[]> {
  return waitForList<V1Pod>(
    kubeConfig(),
    { apiVersion: "v1", kind: "Pod", namespace: NS, labelSelector: SELECTOR },
    (pods) => pods.length === count && pods.every(ready),
    { description: `${count} Ready operator pods and no other`, timeoutMs: 180_000 },
  );
}

/** The pod whose identity (hostname-pid, the hostname being the pod's name) holds the Lease. */
function holderPod(lease: V1Lease | undefined, pods: V1Pod[]): V1Pod | undefined {
  const holder = lease?.spec?.holderIdentity ?? "";
  return pods.find((p) => holder.startsWith(`${p.metadata?.name}-`));
}

describe("the operator Deployment on kind", () => {
  it("runs two ready replicas with one leader, answers its probes and serves metrics through its Service", async () => {
    const deployment = await waitFor<V1Deployment>(
      kubeConfig(),
      { apiVersion: "apps/v1", kind: "Deployment", namespace: NS, name: NAME },
      (d) => d?.status?.readyReplicas === 2 && d.status.updatedReplicas === 2,
      { description: "the Deployment to have 2 ready replicas", timeoutMs: 180_000 },
    );
    expect(deployment?.spec?.replicas).toBe(2);
    const pods = await readyPods(2);
    // Probes passed (Ready) and the liveness probe never restarted a replica.
    for (const p of pods) expect(p.status?.containerStatuses?.[0]?.restartCount, p.metadata?.name).toBe(0);

    const lease = await waitFor<V1Lease>(
      kubeConfig(),
      { apiVersion: "coordination.k8s.io/v1", kind: "Lease", namespace: NS, name: NAME },
      (l) => holderPod(l, pods) !== undefined,
      { description: "the leader Lease to be held by a replica", timeoutMs: 60_000 },
    );
    const leader = holderPod(lease, pods)!;
    const standby = pods.find((p) => p !== leader)!;

    for (const p of pods) {
      const name = p.metadata!.name!;
      expect(await podProxy(name, "/healthz"), name).toMatch(/ok/);
      expect(await podProxy(name, "/readyz"), name).toMatch(/ok/);
      const metrics = await podProxy(name, "/metrics");
      const leading = counterTotal(metrics, "leader_election_master_status", { name: NAME });
      expect(leading, `${name} leader_election_master_status`).toBe(p === leader ? 1 : 0);
    }
    expect(standby).toBeDefined();

    // What Prometheus scrapes: the Service, which reaches a replica through its endpoints.
    const scraped = await raw(`/api/v1/namespaces/${NS}/services/${NAME}-metrics:http/proxy/metrics`);
    for (const family of ["controller_runtime_reconcile_total", "workqueue_depth", "leader_election_master_status"]) {
      expect(scraped).toMatch(new RegExp(`^# TYPE ${family} `, "m"));
    }
  });

  it("fails over: the standby takes the Lease when the leader's pod is deleted, and work goes on", async () => {
    const pods = await readyPods(2);
    const kc = kubeConfig();
    const target = { apiVersion: "coordination.k8s.io/v1", kind: "Lease", namespace: NS, name: NAME };
    const lease = await waitFor<V1Lease>(kc, target, (l) => holderPod(l, pods) !== undefined, {
      description: "a replica to hold the Lease",
    });
    const leader = holderPod(lease, pods)!;
    const standby = pods.find((p) => p !== leader)!;
    await runKubectl(["delete", "pod", "-n", NS, leader.metadata!.name!, "--wait=false"]);
    // A clean shutdown releases the Lease, so this is quick; the bound is the lease duration.
    const after = await waitFor<V1Lease>(kc, target, (l) => holderPod(l, [standby]) !== undefined, {
      description: `the standby ${standby.metadata?.name} to take the Lease`,
      timeoutMs: 60_000,
    });
    expect(after?.spec?.leaseTransitions ?? 0).toBeGreaterThan(lease?.spec?.leaseTransitions ?? 0);
    await readyPods(2);

    // The new leader dispatches, observes real session pods, reviews and merges.
    const ns = await scenarioNamespace("kind-failover");
    const rig = await serveRig(ns);
    await applyTown(ns, "failover", rig);
    await applyBead(ns, "failover", "after-failover", "Work after a failover");
    await waitForBead(ns, "after-failover", (b) => b?.status?.phase === "Closed", "to be Closed");
    expect(await rig.git("ls-tree", "--name-only", "main", "beads/")).toEqual(["beads/after-failover.md"]);
  });
});
