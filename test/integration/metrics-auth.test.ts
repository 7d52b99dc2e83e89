// HTTPS metrics with Kubernetes authentication and authorization on the real apiserver: a token
// whose ServiceAccount is bound to a role granting `get` on /metrics reads the metrics; a valid
// token without that grant gets 403; no token or a forged one gets 401; the probes answer
// without a token, because the kubelet sends none.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type HttpServer, startHttpServer } from "../../src/controller/http-server.ts";
import { createMetrics } from "../../src/controller/metrics.ts";
import { createMetricsAuthorizer } from "../../src/controller/metrics-auth.ts";
import { selfSignedServingCert } from "../../src/controller/serving-cert.ts";
import { requestAgentToken } from "../../src/runtime/agent-identity.ts";
import { adminHttp } from "../support/gastown.ts";
import { createNamespace, retryUntil } from "../support/kube.ts";
import { httpsGet } from "../support/service-account.ts";

const http = adminHttp();
let ns: string;
let server: HttpServer;
let ca: string;
const suffix = Math.random().toString(36).slice(2, 8);
const reader = `gastown-test-metrics-reader-${suffix}`;

const get = (path: string, token?: string) => httpsGet(server.port, path, { ca, ...(token ? { token } : {}) });

async function serviceAccountToken(name: string): Promise<string> {
  await http.json({
    method: "POST",
    path: `/api/v1/namespaces/${ns}/serviceaccounts`,
    body: { apiVersion: "v1", kind: "ServiceAccount", metadata: { name } },
  });
  return requestAgentToken(http, ns, name, 600);
}

beforeAll(async () => {
  ns = await createNamespace("metrics-auth");
  const cert = await selfSignedServingCert();
  ca = cert.cert;
  const metrics = createMetrics();
  metrics.gastown.dispatches.inc({ namespace: ns, town: "gt", rig: "app", role: "polecat" });
  server = await startHttpServer({
    registry: metrics.registry,
    ready: () => ({ ready: true }),
    port: 0,
    host: "127.0.0.1",
    tls: cert,
    authorizeMetrics: createMetricsAuthorizer({ http, ttlMs: 0 }),
  });
  await http.json({
    method: "POST",
    path: "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    body: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: reader },
      rules: [{ nonResourceURLs: ["/metrics"], verbs: ["get"] }],
    },
  });
  await http.json({
    method: "POST",
    path: "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    body: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: reader },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: reader },
      subjects: [{ kind: "ServiceAccount", name: "prometheus", namespace: ns }],
    },
  });
});

afterAll(async () => {
  await server?.close();
  for (const kind of ["clusterrolebindings", "clusterroles"])
    await http.json({ method: "DELETE", path: `/apis/rbac.authorization.k8s.io/v1/${kind}/${reader}` }).catch(() => {});
});

describe("metrics over HTTPS with TokenReview and SubjectAccessReview", () => {
  it("serves the metrics to a ServiceAccount allowed to get /metrics", async () => {
    const token = await serviceAccountToken("prometheus");
    const res = await retryUntil("the ClusterRoleBinding to reach the authorizer", async () => {
      const r = await get("/metrics", token);
      if (r.status !== 200) throw new Error(`${r.status} ${r.body}`);
      return r;
    });
    expect(res.body).toContain(`gastown_dispatches_total{namespace="${ns}",town="gt",rig="app",role="polecat"} 1`);
  });

  it("refuses an authenticated identity without the grant with 403, naming it", async () => {
    const token = await serviceAccountToken("stranger");
    const res = await get("/metrics", token);
    expect(res.status).toBe(403);
    expect(res.body).toContain(`system:serviceaccount:${ns}:stranger may not get /metrics`);
  });

  it("refuses a missing or forged token with 401", async () => {
    expect((await get("/metrics")).status).toBe(401);
    expect((await get("/metrics", "not-a-token")).status).toBe(401);
  });

  it("answers the probes without a token", async () => {
    expect(await get("/healthz")).toEqual({ status: 200, body: "ok\n" });
    expect((await get("/readyz")).status).toBe(200);
  });
});
