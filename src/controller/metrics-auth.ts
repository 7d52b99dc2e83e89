// Who may read /metrics, decided by the apiserver, as controller-runtime's
// WithAuthenticationAndAuthorization filter (and kube-rbac-proxy before it) does: the bearer token
// is authenticated with a TokenReview, and the identity it names must be allowed `get` on the
// non-resource URL of the request by a SubjectAccessReview. Decisions are cached briefly per token
// (keyed by its hash), so a scrape every few seconds costs no review calls.
import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Clock } from "./clock.ts";
import { systemClock } from "./clock.ts";
import type { KubeHttp } from "./kube-http.ts";
import type { Logger } from "./logger.ts";

export interface AuthDecision {
  allowed: boolean;
  /** 401 without or with an invalid token, 403 for an identity without access, 500 when a review failed. */
  status: 200 | 401 | 403 | 500;
  reason: string;
}

export type Authorizer = (req: IncomingMessage, path: string) => Promise<AuthDecision>;

export interface MetricsAuthOptions {
  http: KubeHttp;
  clock?: Clock;
  logger?: Logger;
  /** How long a decision is reused for the same token and path; default 10 s. */
  ttlMs?: number;
  /** Distinct tokens remembered; the oldest is forgotten past this. */
  maxEntries?: number;
}

interface TokenReview {
  status?: {
    authenticated?: boolean;
    error?: string;
    user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  };
}

interface SubjectAccessReview {
  status?: { allowed?: boolean; denied?: boolean; reason?: string; evaluationError?: string };
}

const deny = (status: AuthDecision["status"], reason: string): AuthDecision => ({ allowed: false, status, reason });

export function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match?.[1];
}

export function createMetricsAuthorizer(o: MetricsAuthOptions): Authorizer {
  const clock = o.clock ?? systemClock;
  const ttlMs = o.ttlMs ?? 10_000;
  const maxEntries = o.maxEntries ?? 256;
  const cache = new Map<string, { decision: AuthDecision; until: number }>();

  async function review(token: string, path: string): Promise<AuthDecision> {
    const tr = await o.http.json<TokenReview>({
      method: "POST",
      path: "/apis/authentication.k8s.io/v1/tokenreviews",
      body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token } },
    });
    const user = tr.status?.user;
    if (!tr.status?.authenticated || !user?.username) {
      return deny(401, `token not authenticated${tr.status?.error ? `: ${tr.status.error}` : ""}`);
    }
    const sar = await o.http.json<SubjectAccessReview>({
      method: "POST",
      path: "/apis/authorization.k8s.io/v1/subjectaccessreviews",
      body: {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SubjectAccessReview",
        spec: {
          user: user.username,
          ...(user.uid ? { uid: user.uid } : {}),
          groups: user.groups ?? [],
          ...(user.extra ? { extra: user.extra } : {}),
          nonResourceAttributes: { path, verb: "get" },
        },
      },
    });
    if (sar.status?.allowed && !sar.status.denied) return { allowed: true, status: 200, reason: "allowed" };
    return deny(403, `${user.username} may not get ${path}${sar.status?.reason ? `: ${sar.status.reason}` : ""}`);
  }

  return async (req, path) => {
    const token = bearerToken(req);
    if (!token) return deny(401, "a bearer token is required");
    const key = `${createHash("sha256").update(token).digest("hex")} ${path}`;
    const now = clock.now();
    const hit = cache.get(key);
    if (hit && hit.until > now) return hit.decision;
    let decision: AuthDecision;
    try {
      decision = await review(token, path);
    } catch (err) {
      // Not cached: the next scrape asks again.
      o.logger?.warn({ err: (err as Error).message }, "metrics authorization: review failed");
      return deny(500, "authorization check failed");
    }
    cache.delete(key);
    cache.set(key, { decision, until: now + ttlMs });
    while (cache.size > maxEntries) cache.delete(cache.keys().next().value as string);
    return decision;
  };
}
