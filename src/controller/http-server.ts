// The operator's HTTP face: Prometheus scrapes /metrics, the kubelet probes /healthz (restart me
// when failing) and /readyz (stop sending me traffic when failing). Readiness is decided by the
// caller; this module only reports it. In a cluster it serves HTTPS and /metrics only to callers
// the authorizer admits (metrics-auth.ts); the probes stay open, as the kubelet sends no token.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import type { Logger } from "./logger.ts";
import { silentLogger } from "./logger.ts";
import type { Authorizer } from "./metrics-auth.ts";

export interface Readiness {
  ready: boolean;
  /** Why not ready; returned in the 503 body so `kubectl describe pod` shows it. */
  reason?: string;
}

export interface HttpServerOptions {
  registry: Registry;
  ready: () => Readiness | Promise<Readiness>;
  /** Port 0 picks a free one; see `port` on the result. */
  port: number;
  /** Listen address; default: all interfaces, as Node chooses. */
  host?: string;
  logger?: Logger;
  /** How long close() lets in-flight requests finish before cutting connections. */
  closeGraceMs?: number;
  /** Serve HTTPS with this certificate and key (PEM); absent: plain HTTP. */
  tls?: { cert: string; key: string };
  /** Who may read /metrics; absent: anyone who can connect. */
  authorizeMetrics?: Authorizer;
}

export interface HttpServer {
  /** The port actually bound. */
  readonly port: number;
  readonly host: string;
  readonly scheme: "http" | "https";
  /** Flips /healthz and /readyz to 503 without closing, for the start of a graceful shutdown. */
  markShuttingDown(): void;
  close(): Promise<void>;
}

function reply(res: ServerResponse, status: number, body: string, contentType = "text/plain; charset=utf-8"): void {
  res.writeHead(status, { "Content-Type": contentType, "Cache-Control": "no-store" });
  res.end(body);
}

export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const logger = options.logger ?? silentLogger();
  let shuttingDown = false;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("Allow", "GET, HEAD");
      return reply(res, 405, "method not allowed\n");
    }
    const path = new URL(req.url ?? "/", "http://probe").pathname;
    switch (path) {
      case "/metrics": {
        if (options.authorizeMetrics) {
          const decision = await options.authorizeMetrics(req, path);
          if (!decision.allowed) {
            if (decision.status === 401) res.setHeader("WWW-Authenticate", 'Bearer realm="gastown-operator"');
            return reply(res, decision.status, `${decision.reason}\n`);
          }
        }
        return reply(res, 200, await options.registry.metrics(), options.registry.contentType);
      }
      case "/healthz":
        return shuttingDown ? reply(res, 503, "shutting down\n") : reply(res, 200, "ok\n");
      case "/readyz": {
        if (shuttingDown) return reply(res, 503, "shutting down\n");
        const readiness = await options.ready();
        return readiness.ready ? reply(res, 200, "ok\n") : reply(res, 503, `${readiness.reason ?? "not ready"}\n`);
      }
      default:
        return reply(res, 404, "not found\n");
    }
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      logger.error({ err, url: req.url }, "probe handler failed");
      if (!res.headersSent) reply(res, 500, "internal error\n");
      else res.destroy();
    });
  };
  const server: Server = options.tls
    ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key, minVersion: "TLSv1.2" }, onRequest)
    : createServer(onRequest);

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port: options.port, host: options.host }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const scheme = options.tls ? "https" : "http";
  logger.info(
    { host: address.address, port: address.port, scheme, metricsAuth: options.authorizeMetrics !== undefined },
    "serving /metrics, /healthz and /readyz",
  );

  let closing: Promise<void> | undefined;
  return {
    port: address.port,
    host: address.address,
    scheme,
    markShuttingDown() {
      shuttingDown = true;
    },
    close() {
      shuttingDown = true;
      closing ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), options.closeGraceMs ?? 5000);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
