// What the launcher needs from the apiserver while it brings the cluster up: a few JSON calls over
// node:https. Deliberately not @kubernetes/client-node: loading it costs ~0.4 s of CPU, and the
// launcher runs on two cores next to a starting apiserver.
import { Agent, request } from "node:https";
import { stringify } from "yaml";
import { delay } from "./processes.ts";

export interface ApiResponse {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: raw JSON from the apiserver, read field by field.
  body: any;
  text: string;
}

export class ApiClient {
  readonly #agent: Agent;
  readonly #port: number;
  readonly #token: string;

  constructor(port: number, ca: string, token: string) {
    this.#port = port;
    this.#token = token;
    this.#agent = new Agent({ keepAlive: true, ca });
  }

  request(method: string, path: string, body?: unknown, contentType = "application/json"): Promise<ApiResponse> {
    const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port: this.#port,
          method,
          path,
          agent: this.#agent,
          timeout: 10_000,
          headers: {
            authorization: `Bearer ${this.#token}`,
            accept: "application/json",
            ...(payload === undefined ? {} : { "content-type": contentType }),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: unknown = text;
            try {
              parsed = JSON.parse(text);
            } catch {}
            resolve({ status: res.statusCode ?? 0, body: parsed, text });
          });
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on("error", reject);
      req.end(payload);
    });
  }

  /** Like request, but a non-2xx answer is an error naming the call and the apiserver's message. */
  async must(method: string, path: string, body?: unknown, contentType?: string): Promise<ApiResponse> {
    const res = await this.request(method, path, body, contentType);
    if (res.status < 200 || res.status > 299) {
      throw new Error(`${method} ${path}: HTTP ${res.status}: ${res.body?.message ?? res.text.slice(0, 500)}`);
    }
    return res;
  }

  close(): void {
    this.#agent.destroy();
  }
}

/**
 * Polls `check` until it returns a value other than undefined. Startup is the one place where
 * polling is right: until the apiserver answers there is nothing to watch. `abort` is consulted
 * between attempts so that a component that crashed fails the wait at once, with its log.
 */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  opts: { timeoutMs: number; intervalMs?: number; abort?: () => Error | undefined },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let last = "";
  for (;;) {
    const aborted = opts.abort?.();
    if (aborted) throw aborted;
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${opts.timeoutMs}ms waiting for ${what}${last ? ` (last error: ${last})` : ""}`);
    }
    await delay(opts.intervalMs ?? 50);
  }
}

export function renderKubeconfig(opts: { name: string; server: string; caPem: string; token: string }): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: opts.name,
        cluster: {
          server: opts.server,
          "certificate-authority-data": Buffer.from(opts.caPem).toString("base64"),
        },
      },
    ],
    users: [{ name: `${opts.name}-admin`, user: { token: opts.token } }],
    contexts: [{ name: opts.name, context: { cluster: opts.name, user: `${opts.name}-admin`, namespace: "default" } }],
    "current-context": opts.name,
    preferences: {},
  });
}
