// A small JSON client for the Kubernetes API, on node:http(s) with client-node's KubeConfig for
// endpoint, TLS and credentials. The machinery needs objects exactly as the API returned them
// (client-node's typed clients turn timestamps into Dates and drop unknown fields), MicroTime
// written with microseconds, merge patches and line-by-line watch streams; this gives all four.
import type { IncomingMessage } from "node:http";
import * as http from "node:http";
import * as https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";

/** The apiserver's Status object, the body of every error response. */
export interface ApiStatus {
  kind?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
}

export class KubeApiError extends Error {
  readonly statusCode: number;
  readonly reason: string | undefined;
  readonly status: ApiStatus | undefined;

  constructor(statusCode: number, status: ApiStatus | undefined, fallback: string) {
    super(status?.message ?? fallback);
    this.name = "KubeApiError";
    this.statusCode = statusCode;
    this.reason = status?.reason;
    this.status = status;
  }
}

const statusCodeOf = (err: unknown): number | undefined => (err instanceof KubeApiError ? err.statusCode : undefined);
export const isNotFound = (err: unknown) => statusCodeOf(err) === 404;
export const isConflict = (err: unknown) => statusCodeOf(err) === 409;
/** "Too old resource version" or an expired continue token: the caller must start over with a list. */
export const isGone = (err: unknown) => statusCodeOf(err) === 410;

/**
 * Whether a failure says nothing about the request itself: the API could not be reached or did
 * not answer properly (Node's system errors such as ECONNREFUSED, ECONNRESET "socket hang up" and
 * ETIMEDOUT, aborts and timeouts, 5xx, 408, 429). The same request may succeed later; a 4xx
 * refusal would not.
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof KubeApiError) {
    const code = err.statusCode;
    return code >= 500 || code === 408 || code === 429 || code < 400;
  }
  if (!(err instanceof Error)) return false;
  if (err.name === "AbortError" || err.name === "TimeoutError") return true;
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === "string" && /^E[A-Z_]+$/.test(code);
}

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

export function createKubeHttp(kubeConfig: KubeConfig): KubeHttp {
  const open = async (request: KubeRequest, signal: AbortSignal | undefined): Promise<IncomingMessage> => {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error("kubeconfig has no current cluster");
    const url = new URL(cluster.server.replace(/\/+$/, "") + request.path);
    for (const [key, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const payload = request.body === undefined ? undefined : JSON.stringify(request.body);
    const headers: Record<string, string> = { Accept: "application/json" };
    if (payload !== undefined) {
      headers["Content-Type"] = request.contentType ?? "application/json";
      // Without a length, node sends a DELETE's body unframed and the API server never reads it:
      // DeleteOptions (preconditions, grace period, propagation) would be silently dropped.
      headers["Content-Length"] = String(Buffer.byteLength(payload));
    }
    const options: https.RequestOptions = { method: request.method, headers };
    await kubeConfig.applyToHTTPSOptions(options);
    const transport = url.protocol === "http:" ? http : https;
    return new Promise((resolve, reject) => {
      const req = transport.request(url, { ...options, signal }, resolve);
      req.on("error", reject);
      req.end(payload);
    });
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

/** The collection path of a resource: /api/v1/… for the core group, /apis/<group>/<version>/… otherwise. */
export function collectionPath(resource: { group: string; version: string; plural: string; namespace?: string }) {
  const base = resource.group === "" ? `/api/${resource.version}` : `/apis/${resource.group}/${resource.version}`;
  const ns = resource.namespace ? `/namespaces/${encodeURIComponent(resource.namespace)}` : "";
  return `${base}${ns}/${resource.plural}`;
}
