import { afterEach, describe, expect, it } from "vitest";
import { type HttpServer, type Readiness, startHttpServer } from "../../../src/controller/http-server.ts";
import { createMetrics } from "../../../src/controller/metrics.ts";

let server: HttpServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(ready: () => Readiness | Promise<Readiness>) {
  const metrics = createMetrics();
  server = await startHttpServer({ registry: metrics.registry, ready, port: 0, host: "127.0.0.1" });
  const get = async (path: string, init?: RequestInit) => {
    const res = await fetch(`http://127.0.0.1:${server!.port}${path}`, init);
    return { status: res.status, body: await res.text(), type: res.headers.get("content-type") };
  };
  return { metrics, get, server };
}

describe("http server", () => {
  it("binds a free port when asked for port 0 and serves the registry at /metrics", async () => {
    const { get, metrics, server } = await start(() => ({ ready: true }));
    expect(server.port).toBeGreaterThan(0);
    metrics.reconcile.total.inc({ controller: "town", result: "success" });
    const res = await get("/metrics");
    expect(res.status).toBe(200);
    expect(res.type).toContain("text/plain");
    expect(res.body).toContain('controller_runtime_reconcile_total{controller="town",result="success"} 1');
    expect(res.body).toContain("workqueue_depth");
  });

  it("answers /readyz from the injected check, with the reason in a 503 body", async () => {
    let readiness: Readiness = { ready: false, reason: "caches not synced: beads, pods" };
    const { get } = await start(async () => readiness);
    expect(await get("/readyz")).toMatchObject({ status: 503, body: "caches not synced: beads, pods\n" });
    readiness = { ready: true };
    expect(await get("/readyz")).toMatchObject({ status: 200, body: "ok\n" });
  });

  it("answers /healthz with 200 until shutdown starts, then 503 on both probes", async () => {
    const { get, server } = await start(() => ({ ready: true }));
    expect((await get("/healthz")).status).toBe(200);
    server.markShuttingDown();
    expect(await get("/healthz")).toMatchObject({ status: 503, body: "shutting down\n" });
    expect((await get("/readyz")).status).toBe(503);
  });

  it("returns 500 when the readiness check throws, 404 for unknown paths and 405 for writes", async () => {
    const { get } = await start(() => {
      throw new Error("boom");
    });
    expect((await get("/readyz")).status).toBe(500);
    expect((await get("/nope")).status).toBe(404);
    expect((await get("/metrics", { method: "POST" })).status).toBe(405);
  });

  it("stops accepting connections after close", async () => {
    const { get, server } = await start(() => ({ ready: true }));
    await get("/healthz"); // leaves a keep-alive connection behind
    await server.close();
    await expect(get("/healthz")).rejects.toThrow();
  });
});
