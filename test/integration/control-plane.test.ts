// The local control plane does what the operator relies on: pods are scheduled onto kwok nodes
// and run, deleted pods disappear, ownerReferences cascade, namespaces get their default
// ServiceAccount and root CA.
import { CoreV1Api, type V1ConfigMap, type V1Node, type V1Pod } from "@kubernetes/client-node";
import { beforeAll, describe, expect, it } from "vitest";
import { createNamespace, kubeConfig, waitFor, waitForList } from "../support/kube.ts";

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
let ns: string;

beforeAll(async () => {
  ns = await createNamespace("control-plane");
});

const isReady = (conditions: { type: string; status: string }[] | undefined) =>
  conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

describe("local control plane", () => {
  it("has Ready kwok nodes without taints", async () => {
    const nodes = await waitForList<V1Node>(
      kc,
      { apiVersion: "v1", kind: "Node", labelSelector: "type=kwok" },
      (items) => items.length >= 2 && items.every((n) => isReady(n.status?.conditions)),
      { description: "two Ready kwok nodes" },
    );
    for (const node of nodes) expect(node.spec?.taints ?? []).toEqual([]);
  });

  it("schedules a plain Pod onto a kwok node, runs it, and really deletes it", async () => {
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: "web" },
        spec: { containers: [{ name: "web", image: "registry.example/web:1" }] },
      },
    });
    const pod = await waitFor<V1Pod>(
      kc,
      { apiVersion: "v1", kind: "Pod", namespace: ns, name: "web" },
      (p) => p?.status?.phase === "Running" && isReady(p.status.conditions),
      { description: `pod ${ns}/web to be Running and Ready` },
    );
    expect(pod?.spec?.nodeName).toMatch(/^kwok-node-/);
    expect(pod?.status?.podIP).toMatch(/^10\.244\./);
    // The ServiceAccount admission plugin mounted the namespace's default account token.
    expect(pod?.spec?.serviceAccountName).toBe("default");
    expect(pod?.spec?.volumes?.some((v) => v.name.startsWith("kube-api-access-") && v.projected)).toBe(true);

    // A real deletion: graceful by default, completed by kwok (there is no kubelet).
    await core.deleteNamespacedPod({ namespace: ns, name: "web" });
    await waitFor(kc, { apiVersion: "v1", kind: "Pod", namespace: ns, name: "web" }, (p) => p === undefined, {
      description: `pod ${ns}/web to disappear after deletion`,
    });
  });

  it("gives every namespace its default ServiceAccount and the kube-root-ca.crt ConfigMap", async () => {
    await waitFor(
      kc,
      { apiVersion: "v1", kind: "ServiceAccount", namespace: ns, name: "default" },
      (sa) => sa !== undefined,
      { description: `ServiceAccount ${ns}/default` },
    );
    const ca = await waitFor<V1ConfigMap>(
      kc,
      { apiVersion: "v1", kind: "ConfigMap", namespace: ns, name: "kube-root-ca.crt" },
      (cm) => cm !== undefined,
      { description: `ConfigMap ${ns}/kube-root-ca.crt` },
    );
    expect(ca?.data?.["ca.crt"]).toContain("BEGIN CERTIFICATE");
  });

  it("garbage-collects dependents when their owner is deleted", async () => {
    const owner = await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "owner" } } });
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: {
        metadata: {
          name: "dependent",
          ownerReferences: [{ apiVersion: "v1", kind: "ConfigMap", name: "owner", uid: owner.metadata!.uid! }],
        },
      },
    });
    await core.deleteNamespacedConfigMap({ namespace: ns, name: "owner" });
    await waitFor(kc, { apiVersion: "v1", kind: "ConfigMap", namespace: ns, name: "dependent" }, (cm) => !cm, {
      description: `ConfigMap ${ns}/dependent to be garbage-collected after its owner's deletion`,
    });
  });
});
