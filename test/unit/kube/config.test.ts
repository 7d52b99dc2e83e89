// Loading where the API server is and how to authenticate, without client-node: kubeconfig files
// (tokens, token files, client certificates, CA data or files), the in-cluster service account,
// and the hand-off to client-node for exec plugins and merged $KUBECONFIG lists.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { RequestOptions } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { connectionFromKubeconfig, inClusterConnection, loadConnection } from "../../../src/kube/config.ts";

// The hand-off imports client-node, a large module: its first import can take seconds on a busy
// machine, which is not what these tests time. Loaded once here, the tests find it in the cache.
beforeAll(async () => {
  await import("@kubernetes/client-node");
}, 120_000);

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), "kubeconfig-"));
  dirs.push(d);
  return d;
}

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = {}) {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:6443", ...cluster } }],
    users: [{ name: "u", user }],
    contexts: [{ name: "ctx", context: { cluster: "c", user: "u", namespace: "team" } }],
    "current-context": "ctx",
  });
}

async function applied(text: string, path = "/x/config"): Promise<RequestOptions> {
  const c = connectionFromKubeconfig(text, path);
  if (!c) throw new Error("expected a connection");
  const opts: RequestOptions = { headers: { Accept: "application/json" } };
  await c.applyToHTTPSOptions(opts);
  return opts;
}

describe("kubeconfig files", () => {
  it("a bearer token, CA data and the context's namespace", async () => {
    const text = kubeconfig({ token: "t0k" }, { "certificate-authority-data": Buffer.from("CA").toString("base64") });
    const c = connectionFromKubeconfig(text, "/x/config");
    expect(c?.getCurrentCluster()).toMatchObject({ name: "c", server: "https://127.0.0.1:6443", skipTLSVerify: false });
    expect(c?.namespace).toBe("team");
    const opts = await applied(text);
    expect(opts.headers).toEqual({ Accept: "application/json", Authorization: "Bearer t0k" });
    expect(String(opts.ca)).toBe("CA");
  });

  it("client certificates and a CA from files relative to the kubeconfig; skip-verify and server name", async () => {
    const d = dir();
    for (const [f, v] of [
      ["ca.crt", "CA"],
      ["client.crt", "CERT"],
      ["client.key", "KEY"],
    ])
      writeFileSync(join(d, f as string), v as string);
    const text = kubeconfig(
      { "client-certificate": "client.crt", "client-key": join(d, "client.key") },
      { "certificate-authority": "ca.crt", "insecure-skip-tls-verify": true, "tls-server-name": "api.internal" },
    );
    const opts = await applied(text, join(d, "config"));
    expect([String(opts.ca), String(opts.cert), String(opts.key)]).toEqual(["CA", "CERT", "KEY"]);
    expect(opts.rejectUnauthorized).toBe(false);
    expect(opts.servername).toBe("api.internal");
    expect((opts.headers as Record<string, string>).Authorization).toBeUndefined();
  });

  it("a token file is read when used", async () => {
    const d = dir();
    writeFileSync(join(d, "token"), "from-file\n");
    const opts = await applied(kubeconfig({ tokenFile: join(d, "token") }));
    expect((opts.headers as Record<string, string>).Authorization).toBe("Bearer from-file");
  });

  it("names what is missing", () => {
    const text = stringify({ clusters: [], users: [], contexts: [], "current-context": "nope" });
    expect(() => connectionFromKubeconfig(text, "/x/config")).toThrow(
      '/x/config: current-context "nope" is not defined',
    );
  });

  it("leaves exec plugins and auth providers to client-node", async () => {
    const exec = kubeconfig({ exec: { apiVersion: "client.authentication.k8s.io/v1", command: "aws" } });
    expect(connectionFromKubeconfig(exec, "/x/config")).toBeUndefined();
    const d = dir();
    writeFileSync(join(d, "config"), exec);
    const c = await loadConnection(join(d, "config"));
    expect(c.source).toBe(`client-node: ${join(d, "config")}`);
    expect(c.getCurrentCluster()?.server).toBe("https://127.0.0.1:6443");
  });
});

describe("where the connection comes from", () => {
  it("$KUBECONFIG first, then the in-cluster service account", async () => {
    const d = dir();
    writeFileSync(join(d, "config"), kubeconfig({ token: "file" }));
    for (const f of ["token", "ca.crt", "namespace"])
      writeFileSync(join(d, f), f === "token" ? "sa-token" : f === "namespace" ? "ops" : "CA");
    const fromEnv = await loadConnection(undefined, {
      KUBECONFIG: join(d, "config"),
      KUBERNETES_SERVICE_HOST: "10.0.0.1",
    });
    expect(fromEnv.source).toBe(join(d, "config"));
    const env = { KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" };
    const inCluster = inClusterConnection(env, d);
    expect(inCluster.getCurrentCluster()?.server).toBe("https://10.0.0.1:443");
    expect(inCluster.namespace).toBe("ops");
    const opts: RequestOptions = {};
    await inCluster.applyToHTTPSOptions(opts);
    expect((opts.headers as Record<string, string>).Authorization).toBe("Bearer sa-token");
    expect(() => inClusterConnection({}, d)).toThrow("not running in a cluster");
  });

  it("says what to do when there is nothing to load", async () => {
    await expect(loadConnection(undefined, { HOME: dir() })).rejects.toThrow(
      "pass --kubeconfig, set $KUBECONFIG, or run in a cluster",
    );
  });
});
