// The API client against the real apiserver: connected through src/kube's own kubeconfig loader,
// every write carries the field manager, a DELETE's options reach the server, and every request
// is reported exactly once.
import { beforeAll, describe, expect, it } from "vitest";
import { loadConnection } from "../../../src/kube/config.ts";
import { isConflict, KubeApiError } from "../../../src/kube/errors.ts";
import { createKubeHttp, type KubeHttp, type RequestRecord } from "../../../src/kube/http.ts";
import { createNamespace, kubeconfigPath } from "../../support/kube.ts";

describe("the Kubernetes API client", () => {
  let http: KubeHttp;
  let ns: string;
  const seen: RequestRecord[] = [];

  beforeAll(async () => {
    const connection = await loadConnection(kubeconfigPath());
    expect(connection.source).toBe(kubeconfigPath());
    http = createKubeHttp(connection, { fieldManager: "gastown-test-manager", onRequest: (r) => seen.push(r) });
    ns = await createNamespace("kube-http");
  });

  const cm = (name: string) => `/api/v1/namespaces/${ns}/configmaps/${name}`;
  type ConfigMap = {
    metadata: { uid: string; resourceVersion: string; managedFields?: { manager: string; operation: string }[] };
  };

  it("names its field manager on creates and patches", async () => {
    await http.json({
      method: "POST",
      path: `/api/v1/namespaces/${ns}/configmaps`,
      body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "owned" }, data: { a: "1" } },
    });
    const patched = await http.json<ConfigMap>({
      method: "PATCH",
      path: cm("owned"),
      contentType: "application/merge-patch+json",
      body: { data: { b: "2" } },
    });
    expect(patched.metadata.managedFields?.map((f) => [f.manager, f.operation])).toEqual([
      ["gastown-test-manager", "Update"],
    ]);
  });

  it("sends a DELETE's options: a stale precondition is refused, a current one deletes", async () => {
    const created = await http.json<ConfigMap>({
      method: "POST",
      path: `/api/v1/namespaces/${ns}/configmaps`,
      body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "guarded" }, data: { a: "1" } },
    });
    const current = await http.json<ConfigMap>({
      method: "PATCH",
      path: cm("guarded"),
      contentType: "application/merge-patch+json",
      body: { data: { a: "2" } },
    });
    const stale = { uid: created.metadata.uid, resourceVersion: created.metadata.resourceVersion };
    const refused = await http.json({ method: "DELETE", path: cm("guarded"), body: { preconditions: stale } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(KubeApiError);
    expect(isConflict(refused)).toBe(true);
    await http.json({
      method: "DELETE",
      path: cm("guarded"),
      body: { preconditions: { uid: created.metadata.uid, resourceVersion: current.metadata.resourceVersion } },
    });
  });

  it("reports every request once, with its resource and code", async () => {
    seen.length = 0;
    await http.json({ method: "GET", path: cm("owned") });
    await http.json({ method: "GET", path: cm("nope") }).catch(() => {});
    await http
      .json({
        method: "PATCH",
        path: `/api/v1/namespaces/${ns}/pods/nope/status`,
        contentType: "application/merge-patch+json",
        body: {},
      })
      .catch(() => {});
    expect(seen.map((r) => [r.method, r.group, r.resource, r.subresource, r.code])).toEqual([
      ["GET", "", "configmaps", "", 200],
      ["GET", "", "configmaps", "", 404],
      ["PATCH", "", "pods", "status", 404],
    ]);
    expect(seen.every((r) => r.durationMs >= 0 && r.host.startsWith("127.0.0.1:"))).toBe(true);
  });
});
