// The real list/watch transport against a scripted HTTP server on loopback: pagination, the wire
// format of watch events, and how each way a watch can end is reported to the informer.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { isGone, KubeApiError } from "../../../src/kube/errors.ts";
import type { WatchEvent } from "../../../src/kube/informer.ts";
import { createKubeListWatch } from "../../../src/kube/list-watch.ts";

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse, url: URL) => void) {
  const requests: URL[] = [];
  server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://fake");
    requests.push(url);
    handler(req, res, url);
  });
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      { name: "fake", server: `http://127.0.0.1:${(server!.address() as AddressInfo).port}`, skipTLSVerify: true },
    ],
    users: [{ name: "u", token: "t0ken" }],
    contexts: [{ name: "c", cluster: "fake", user: "u" }],
    currentContext: "c",
  });
  return { kc, requests };
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
};

const configMaps = { group: "", version: "v1", plural: "configmaps", namespace: "ns", labelSelector: "app=x" };

/** Runs one watch and collects what the informer would see. */
function watchOnce(lw: ReturnType<typeof createKubeListWatch>, rv = "5") {
  const events: WatchEvent[] = [];
  const done = new Promise<unknown>((resolve) => {
    lw.watch(rv, (e) => events.push(e), resolve);
  });
  return { events, done };
}

describe("kube list-watch transport", () => {
  it("lists page by page, restoring apiVersion and kind on items, with the list's resourceVersion", async () => {
    const { kc, requests } = await serve((_req, res, url) => {
      const second = url.searchParams.get("continue") === "page-2";
      json(res, 200, {
        apiVersion: "v1",
        kind: "ConfigMapList",
        metadata: { resourceVersion: second ? "42" : "41", continue: second ? "" : "page-2" },
        items: [{ metadata: { name: second ? "b" : "a", namespace: "ns" } }],
      });
    });
    const lw = createKubeListWatch(kc, configMaps, { pageSize: 1 });
    const result = await lw.list(new AbortController().signal);
    expect(result.resourceVersion).toBe("42");
    expect(result.items).toEqual([
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a", namespace: "ns" } },
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "b", namespace: "ns" } },
    ]);
    expect(requests[0]!.pathname).toBe("/api/v1/namespaces/ns/configmaps");
    expect(requests[0]!.searchParams.get("labelSelector")).toBe("app=x");
    expect(requests[0]!.searchParams.get("limit")).toBe("1");
  });

  it("watches from the given resourceVersion with bookmarks and reports a server-side close as a clean end", async () => {
    const { kc, requests } = await serve((_req, res) => {
      res.writeHead(200, { "Content-Type": "application/json" });
      const cm = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a", resourceVersion: "6" } };
      // Split mid-line to show events are reassembled from chunks.
      const text = `${JSON.stringify({ type: "ADDED", object: cm })}\n${JSON.stringify({
        type: "BOOKMARK",
        object: { kind: "ConfigMap", metadata: { resourceVersion: "9" } },
      })}\n`;
      res.write(text.slice(0, 25));
      res.end(text.slice(25));
    });
    const { events, done } = watchOnce(createKubeListWatch(kc, configMaps, { watchTimeoutSeconds: () => 7 }));
    expect(await done).toBeUndefined();
    expect(events).toEqual([
      { type: "ADDED", object: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "a", resourceVersion: "6" } } },
      { type: "BOOKMARK", resourceVersion: "9" },
    ]);
    const query = requests[0]!.searchParams;
    expect(Object.fromEntries(query)).toMatchObject({
      watch: "1",
      resourceVersion: "5",
      allowWatchBookmarks: "true",
      timeoutSeconds: "7",
      labelSelector: "app=x",
    });
  });

  it("passes an in-stream ERROR event through with its Status", async () => {
    const { kc } = await serve((_req, res) => {
      res.writeHead(200);
      res.end(`${JSON.stringify({ type: "ERROR", object: { kind: "Status", code: 410, reason: "Expired" } })}\n`);
    });
    const { events, done } = watchOnce(createKubeListWatch(kc, configMaps));
    expect(await done).toBeUndefined();
    expect(events).toEqual([{ type: "ERROR", status: { kind: "Status", code: 410, reason: "Expired" } }]);
  });

  it("reports 410 on connect as Gone and other statuses as API errors", async () => {
    let status = 410;
    const { kc } = await serve((_req, res) =>
      json(res, status, { kind: "Status", code: status, reason: status === 410 ? "Expired" : "InternalError" }),
    );
    const lw = createKubeListWatch(kc, configMaps);
    const gone = await watchOnce(lw).done;
    expect(isGone(gone)).toBe(true);
    status = 500;
    const failed = await watchOnce(lw).done;
    expect(failed).toBeInstanceOf(KubeApiError);
    expect(isGone(failed)).toBe(false);
  });

  it("reports a connection cut mid-stream as an error, not as a clean end", async () => {
    const { kc } = await serve((_req, res) => {
      res.writeHead(200);
      res.write(`${JSON.stringify({ type: "ADDED", object: { metadata: { name: "a" } } })}\n`);
      setImmediate(() => res.socket?.destroy());
    });
    const { events, done } = watchOnce(createKubeListWatch(kc, configMaps));
    expect(await done).toBeInstanceOf(Error);
    expect(events).toHaveLength(1);
  });

  it("calls nothing back after stop", async () => {
    let opened = () => {};
    let closed = () => {};
    const open = new Promise<void>((resolve) => {
      opened = resolve;
    });
    const gone = new Promise<void>((resolve) => {
      closed = resolve;
    });
    const { kc } = await serve((req, res) => {
      req.socket.on("close", closed);
      res.writeHead(200);
      res.write("\n");
      opened();
    });
    const calls: string[] = [];
    const handle = createKubeListWatch(kc, configMaps).watch(
      "1",
      () => calls.push("event"),
      () => calls.push("done"),
    );
    await open;
    handle.stop();
    await gone; // the client really hung up
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toEqual([]);
  });
});
