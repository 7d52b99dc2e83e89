// A small JSON client for the Kubernetes API on node:http(s), the one every part of the operator
// (the shell, the session runtimes, the agent runtime) talks to the API through. The machinery
// needs objects exactly as the API returned them (client-node's typed clients turn timestamps
// into Dates and drop unknown fields), MicroTime written with microseconds, merge patches and
// line-by-line watch streams; this gives all four. Every write carries the client's field manager,
// and every request is reported to an observer once, so request and write metrics are complete.
import type { IncomingMessage } from "node:http";
import * as http from "node:http";
import * as https from "node:https";
import type { KubeConnection } from "./config.ts";
import { type ApiStatus, KubeApiError } from "./errors.ts";
import { parsePath } from "./paths.ts";

export type Query = Record<string, string | number | boolean | undefined>;

export interface KubeRequest {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
  query?: Query;
  body?: unknown;
  /** Defaults to application/json; use application/merge-patch+json for merge patches. */
  contentType?: string;
  signal?: AbortSignal;
  /** For non-streaming requests; default 30 s. */
  timeoutMs?: number;
}

export interface KubeHttp {
  json<T>(request: KubeRequest): Promise<T>;
  /**
   * Streams a long-running GET (a watch), one line at a time. Resolves when the server ends the
   * stream or the signal aborts; rejects on transport errors and non-200 answers.
   */
  lines(request: KubeRequest, onLine: (line: string) => void): Promise<void>;
}

/** One finished request, as the observer hears of it (a watch: when its response started). */
export interface RequestRecord {
  method: KubeRequest["method"];
  /** gastown.dev, "" for the core group. */
  group: string;
  resource: string;
  subresource: string;
  namespace?: string;
  /** The object's name; absent for collection requests (lists, watches, creates). */
  name?: string;
  /** The HTTP status code; 0 when no answer came (connection refused, reset, timed out). */
  code: number;
  durationMs: number;
  /** The server's host:port, client-go's `host` label. */
  host: string;
}

export interface KubeHttpOptions {
  /** Sent as fieldManager on every POST, PUT and PATCH: who owns the fields in managedFields. */
  fieldManager?: string;
  /** Called once per request; must not throw (a metric, a log line). */
  onRequest?: (r: RequestRecord) => void;
}

export const MUTATING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

async function readBody(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

async function errorFrom(res: IncomingMessage): Promise<KubeApiError> {
  const text = await readBody(res).catch(() => "");
  let status: ApiStatus | undefined;
  try {
    const parsed = JSON.parse(text) as ApiStatus;
    if (parsed && typeof parsed === "object") status = parsed;
  } catch {
    // not a Status: keep the raw text in the message
  }
  const code = res.statusCode ?? 0;
  return new KubeApiError(code, status, `HTTP ${code}: ${text.slice(0, 200) || http.STATUS_CODES[code]}`);
}

export function createKubeHttp(connection: KubeConnection, options: KubeHttpOptions = {}): KubeHttp {
  const observe = (request: KubeRequest, url: URL, code: number, started: number) => {
    if (!options.onRequest) return;
    const p = parsePath(url.pathname);
    try {
      options.onRequest({
        method: request.method,
        group: p.group,
        resource: p.resource,
        subresource: p.subresource,
        ...(p.namespace ? { namespace: p.namespace } : {}),
        ...(p.name ? { name: p.name } : {}),
        code,
        durationMs: performance.now() - started,
        host: url.host,
      });
    } catch {
      // an observer must not break a request
    }
  };

  const open = async (request: KubeRequest, signal: AbortSignal | undefined) => {
    const cluster = connection.getCurrentCluster();
    if (!cluster) throw new Error("kubeconfig has no current cluster");
    const url = new URL(cluster.server.replace(/\/+$/, "") + request.path);
    for (const [key, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    if (options.fieldManager && request.method !== "GET" && request.method !== "DELETE") {
      url.searchParams.set("fieldManager", options.fieldManager);
    }
    const payload = request.body === undefined ? undefined : JSON.stringify(request.body);
    const headers: Record<string, string> = { Accept: "application/json" };
    if (payload !== undefined) {
      headers["Content-Type"] = request.contentType ?? "application/json";
      // Without a length, node sends a DELETE's body unframed and the API server never reads it:
      // DeleteOptions (preconditions, grace period, propagation) would be silently dropped.
      headers["Content-Length"] = String(Buffer.byteLength(payload));
    }
    const reqOptions: https.RequestOptions = { method: request.method, headers };
    await connection.applyToHTTPSOptions(reqOptions);
    const transport = url.protocol === "http:" ? http : https;
    const started = performance.now();
    try {
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = transport.request(url, { ...reqOptions, signal }, resolve);
        req.on("error", reject);
        req.end(payload);
      });
      observe(request, url, res.statusCode ?? 0, started);
      return res;
    } catch (err) {
      observe(request, url, 0, started);
      throw err;
    }
  };

  return {
    async json<T>(request: KubeRequest): Promise<T> {
      const timeout = AbortSignal.timeout(request.timeoutMs ?? 30_000);
      const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
      const res = await open(request, signal);
      if ((res.statusCode ?? 0) < 200 || (res.statusCode ?? 0) >= 300) throw await errorFrom(res);
      const text = await readBody(res);
      return (text === "" ? undefined : JSON.parse(text)) as T;
    },

    async lines(request, onLine) {
      const res = await open(request, request.signal).catch((err: unknown) => {
        if (request.signal?.aborted) return undefined;
        throw err;
      });
      if (res === undefined) return;
      if (res.statusCode !== 200) throw await errorFrom(res);
      // Reading the response itself (not through readline) makes resets and aborts surface as errors.
      res.setEncoding("utf8"); // decodes characters split across chunks
      let pending = "";
      try {
        for await (const chunk of res) {
          pending += chunk as string;
          let newline = pending.indexOf("\n");
          while (newline >= 0) {
            const line = pending.slice(0, newline).trim();
            pending = pending.slice(newline + 1);
            if (line !== "") onLine(line);
            newline = pending.indexOf("\n");
          }
        }
      } catch (err) {
        if (!request.signal?.aborted) throw err;
        return;
      }
      if (pending.trim() !== "") onLine(pending.trim());
      // A response cut short by the server (reset, not a clean end) must not look like a clean close.
      if (!res.complete && !request.signal?.aborted)
        throw new Error("watch stream ended before the response completed");
    },
  };
}
