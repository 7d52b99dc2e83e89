// The operator as users run it: manifests/base's Deployment on a real node, in-cluster config,
// two replicas behind leader election, its HTTPS probes answered, metrics scraped as Prometheus
// does (a pod whose ServiceAccount is bound to gastown-operator-metrics-reader, each endpoint of
// the metrics Service and the Service's own name); and when the leader's pod goes away, the
// standby (or the replacement pod) takes the Lease and drives work to the end.
import type { V1Deployment, V1EndpointSlice, V1Lease, V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { kubeConfig, runKubectl, waitFor, waitForList } from "../support/kube.ts";
import { counterTotal } from "../support/manifests.ts";
import { applyBead, applyTown, images, scenarioNamespace, serveRig, waitForBead } from "./support/town.ts";

const NS = "gastown-system";
const NAME = "gastown-operator";
const SERVICE = `${NAME}-metrics`;
const SELECTOR = "app.kubernetes.io/name=gastown-operator";

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

interface Scrape {
  url: string;
  token: boolean;
  status: number;
  body: string;
}

// GETs each target from inside the cluster, with the pod's own ServiceAccount token or without,
// accepting the operator's self-signed certificate as a scrape config with insecure_skip_verify
// does; one JSON line per target.
const SCRAPER = `
const https = require("node:https");
const token = require("node:fs").readFileSync("/var/run/secrets/kubernetes.io/serviceaccount/token", "utf8");
const get = (t) => new Promise((resolve, reject) => {
  const headers = t.token ? { authorization: "Bearer " + token } : {};
  https.get(t.url, { headers, rejectUnauthorized: false, timeout: 10000 }, (res) => {
    let body = "";
    res.on("data", (c) => (body += c));
    res.on("end", () => resolve({ ...t, status: res.statusCode, body }));
  }).on("error", reject);
});
// A ready endpoint is not yet a route, and a new cluster's DNS may not answer yet: kube-proxy and
// CoreDNS work on their own time and nothing the test can watch says when, so a name that does not
// resolve yet or a refused or unreachable connection is tried again, every 500 ms for at most 30 s;
// any HTTP answer is the answer.
const settle = async (t, deadline) => {
  for (;;) {
    try { return await get(t); } catch (e) {
      if (Date.now() > deadline || !/ENOTFOUND|EAI_AGAIN|ECONNREFUSED|EHOSTUNREACH|ETIMEDOUT|ECONNRESET/.test(String(e.code))) throw e;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
};
(async () => {
  for (const t of JSON.parse(process.env.TARGETS)) console.log(JSON.stringify(await settle(t, Date.now() + 30000)));
})().catch((e) => { console.error(e); process.exit(1); });
`;

/** Runs SCRAPER in a pod of `ns` as ServiceAccount `sa`; resolves to what it fetched. */
async function scrapeFromPod(ns: string, sa: string, targets: { url: string; token: boolean }[]): Promise<Scrape[]> {
  const pod = {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: "scraper", namespace: ns },
    spec: {
      serviceAccountName: sa,
      restartPolicy: "Never",
      securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: "RuntimeDefault" } },
      containers: [
        {
          name: "scrape",
          image: images().agentImage,
          imagePullPolicy: "Never",
          command: ["node", "-e", SCRAPER],
          env: [{ name: "TARGETS", value: JSON.stringify(targets) }],
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
        },
      ],
    },
  };
  await runKubectl(["apply", "-f", "-"], JSON.stringify(pod));
  await waitFor<V1Pod>(
    kubeConfig(),
    { apiVersion: "v1", kind: "Pod", namespace: ns, name: "scraper" },
    (p) => {
      if (p?.status?.phase === "Failed") throw new Error(`the scraper failed: ${JSON.stringify(p.status)}`);
      return p?.status?.phase === "Succeeded";
    },
    { description: "the scraper pod to finish", timeoutMs: 120_000 },
  ).catch(async (e: Error) => {
    const logs = await runKubectl(["logs", "-n", ns, "scraper", "-c", "scrape"]).catch((x: Error) => x.message);
    throw new Error(`${e.message}\nscraper log:\n${logs}`);
  });
  const logs = await runKubectl(["logs", "-n", ns, "scraper", "-c", "scrape"]);
  return logs
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Scrape);
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
    const container = deployment?.spec?.template.spec?.containers[0];
    expect(container?.readinessProbe?.httpGet).toMatchObject({ path: "/readyz", scheme: "HTTPS" });
    expect(container?.livenessProbe?.httpGet).toMatchObject({ path: "/healthz", scheme: "HTTPS" });
    const pods = await readyPods(2);
    // The kubelet's readiness probe passed (Ready), and its liveness probe never restarted one.
    for (const p of pods) expect(p.status?.containerStatuses?.[0]?.restartCount, p.metadata?.name).toBe(0);

    const lease = await waitFor<V1Lease>(
      kubeConfig(),
      { apiVersion: "coordination.k8s.io/v1", kind: "Lease", namespace: NS, name: NAME },
      (l) => holderPod(l, pods) !== undefined,
      { description: "the leader Lease to be held by a replica", timeoutMs: 60_000 },
    );
    const leader = holderPod(lease, pods)!;

    // Both replicas are endpoints of the metrics Service (ready, with the metrics port).
    const [slice] = await waitForList<V1EndpointSlice>(
      kubeConfig(),
      {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        namespace: NS,
        labelSelector: `kubernetes.io/service-name=${SERVICE}`,
      },
      (slices) =>
        slices.length === 1 &&
        (slices[0]?.endpoints ?? []).filter((e) => e.conditions?.ready).length === 2 &&
        pods.every((p) => (slices[0]?.endpoints ?? []).some((e) => e.targetRef?.name === p.metadata?.name)),
      { description: `both replicas ready behind ${SERVICE}`, timeoutMs: 60_000 },
    );
    const port = slice!.ports?.find((p) => p.name === "metrics")?.port;
    expect(port).toBeDefined();
    const endpoints = (slice?.endpoints ?? []).map((e) => ({
      pod: e.targetRef!.name!,
      url: `https://${e.addresses[0]}:${port}`,
    }));

    // A scraper as Prometheus runs it: its own ServiceAccount, bound to the reader role.
    const ns = await scenarioNamespace("kind-scrape");
    await runKubectl(["create", "serviceaccount", "prometheus", "-n", ns]);
    await runKubectl([
      "create",
      "clusterrolebinding",
      `${ns}-metrics-reader`,
      "--clusterrole=gastown-operator-metrics-reader",
      `--serviceaccount=${ns}:prometheus`,
    ]);
    const service = `https://${SERVICE}.${NS}.svc.cluster.local:8443/metrics`;
    const scrapes = await scrapeFromPod(ns, "prometheus", [
      ...endpoints.flatMap((e) => [
        { url: `${e.url}/healthz`, token: false },
        { url: `${e.url}/readyz`, token: false },
        { url: `${e.url}/metrics`, token: true },
        { url: `${e.url}/metrics`, token: false },
      ]),
      { url: service, token: true },
    ]);
    const got = (url: string, token: boolean) => {
      const s = scrapes.find((x) => x.url === url && x.token === token);
      if (!s) throw new Error(`no scrape of ${url}: ${JSON.stringify(scrapes.map((x) => x.url))}`);
      return s;
    };
    await runKubectl(["delete", "clusterrolebinding", `${ns}-metrics-reader`]);

    for (const e of endpoints) {
      expect(got(`${e.url}/healthz`, false), e.pod).toMatchObject({ status: 200 });
      expect(got(`${e.url}/readyz`, false), e.pod).toMatchObject({ status: 200 });
      // Only an authenticated, authorized caller reads the metrics.
      expect(got(`${e.url}/metrics`, false).status, e.pod).toBe(401);
      const metrics = got(`${e.url}/metrics`, true);
      expect(metrics.status, e.pod).toBe(200);
      const leading = counterTotal(metrics.body, "leader_election_master_status", { name: NAME });
      expect(leading, `${e.pod} leader_election_master_status`).toBe(e.pod === leader.metadata?.name ? 1 : 0);
    }
    // The Service's own name reaches a replica: what a static scrape config would use.
    const scraped = got(service, true);
    expect(scraped.status).toBe(200);
    for (const family of ["controller_runtime_reconcile_total", "workqueue_depth", "leader_election_master_status"]) {
      expect(scraped.body).toMatch(new RegExp(`^# TYPE ${family} `, "m"));
    }
  });

  it("fails over: another replica takes the Lease when the leader's pod is deleted, and work goes on", async () => {
    const pods = await readyPods(2);
    const kc = kubeConfig();
    const target = { apiVersion: "coordination.k8s.io/v1", kind: "Lease", namespace: NS, name: NAME };
    const lease = await waitFor<V1Lease>(kc, target, (l) => holderPod(l, pods) !== undefined, {
      description: "a replica to hold the Lease",
    });
    const leader = holderPod(lease, pods)!;
    const leaderName = leader.metadata!.name!;
    await runKubectl(["delete", "pod", "-n", NS, leaderName, "--wait=false"]);
    // A clean shutdown releases the Lease, so this is quick; the bound is the lease duration. The
    // standby usually takes it, but the ReplicaSet's replacement pod campaigns too and may win:
    // either is a fail-over, as long as the deleted leader no longer holds it.
    const after = await waitFor<V1Lease>(
      kc,
      target,
      (l) => {
        const holder = l?.spec?.holderIdentity ?? "";
        return holder !== "" && !holder.startsWith(`${leaderName}-`);
      },
      { description: `a replica other than ${leaderName} to take the Lease`, timeoutMs: 60_000 },
    );
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
