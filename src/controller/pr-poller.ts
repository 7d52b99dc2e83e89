// Polls pull requests on the rig's forge (GitHub or GitLab API) and records what the forge said in
// the merge request's status.pullRequest. It decides nothing: the rules read that fact and merge,
// fail or wait. Calls go only to hosts on the operator's allow-list, at a bounded rate, with the
// token from the rig's Secret (never logged).
import type { Rig, Town } from "../api/town.ts";
import type { KubeHttp } from "../kube/http.ts";
import type { Clock } from "./clock.ts";
import { sleep } from "./clock.ts";
import type { Logger } from "./logger.ts";
import { createTokenBucket } from "./rate-limit.ts";
import { apiPath, BEADS } from "./resources.ts";

export interface PollRequest {
  namespace: string;
  town: Town;
  bead: string;
  rig: string;
  url: string;
  consecutiveErrors?: number;
}

export interface PullRequestPoller {
  request(r: PollRequest): void;
  /** Resolves once no poll is in flight (each one's answer is written or given up on). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export interface PullRequestState {
  state: "Open" | "Merged" | "Closed";
  mergeCommit?: string;
}

/** The forge API URL that describes a pull request, or an error naming what is wrong. */
export function pullRequestApiUrl(forge: NonNullable<Rig["forge"]>, prURL: string): string {
  const url = new URL(prURL);
  const base = forge.apiURL.replace(/\/+$/, "");
  if (forge.provider === "GitHub") {
    const m = /^\/([^/]+)\/([^/]+)\/pull\/(\d+)\/?$/.exec(url.pathname);
    if (!m) throw new Error(`${prURL} is not a GitHub pull request URL (https://host/<owner>/<repo>/pull/<n>)`);
    return `${base}/repos/${m[1]}/${m[2]}/pulls/${m[3]}`;
  }
  const m = /^\/(.+?)\/-\/merge_requests\/(\d+)\/?$/.exec(url.pathname);
  if (!m) throw new Error(`${prURL} is not a GitLab merge request URL (https://host/<project>/-/merge_requests/<n>)`);
  return `${base}/projects/${encodeURIComponent(m[1] as string)}/merge_requests/${m[2]}`;
}

export function interpret(provider: "GitHub" | "GitLab", body: Record<string, unknown>): PullRequestState {
  const sha = typeof body.merge_commit_sha === "string" ? body.merge_commit_sha : undefined;
  if (provider === "GitHub") {
    if (body.merged === true) return { state: "Merged", ...(sha ? { mergeCommit: sha } : {}) };
    return { state: body.state === "closed" ? "Closed" : "Open" };
  }
  if (body.state === "merged") return { state: "Merged", ...(sha ? { mergeCommit: sha } : {}) };
  return { state: body.state === "closed" ? "Closed" : "Open" };
}

export interface PollerOptions {
  http: KubeHttp;
  /** host or host:port values the operator may call (e.g. api.github.com, gitlab.com). */
  allowedHosts: readonly string[];
  clock: Clock;
  logger: Logger;
  perSecond?: number;
  fetch?: typeof fetch;
}

export function createPullRequestPoller(o: PollerOptions): PullRequestPoller {
  const inFlight = new Set<string>();
  const pending = new Set<Promise<void>>();
  const bucket = createTokenBucket({ perSecond: o.perSecond ?? 2, burst: 5, clock: o.clock });
  const doFetch = o.fetch ?? fetch;
  let closed = false;

  async function token(namespace: string, secret: string | undefined): Promise<string | undefined> {
    if (!secret) return undefined;
    const s = await o.http.json<{ data?: Record<string, string> }>({
      method: "GET",
      path: `/api/v1/namespaces/${namespace}/secrets/${secret}`,
    });
    const encoded = s.data?.token;
    if (!encoded) throw new Error(`secret ${secret} has no 'token' key`);
    return Buffer.from(encoded, "base64").toString("utf8").trim();
  }

  async function ask(r: PollRequest): Promise<PullRequestState> {
    const rig = r.town.spec.rigs.find((x) => x.name === r.rig);
    const forge = rig?.forge;
    if (!forge) throw new Error(`rig ${r.rig} has no forge configured (spec.rigs[].forge)`);
    const api = new URL(pullRequestApiUrl(forge, r.url));
    if (!o.allowedHosts.includes(api.host) && !o.allowedHosts.includes(api.hostname)) {
      throw new Error(`forge host ${api.host} is not in the operator's allow-list (--forge-allowed-hosts)`);
    }
    const t = await token(r.namespace, forge.tokenSecret);
    const headers: Record<string, string> = { accept: "application/json" };
    if (t) headers.authorization = forge.provider === "GitHub" ? `Bearer ${t}` : `Bearer ${t}`;
    const res = await doFetch(api, { headers, signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`forge answered ${res.status} ${res.statusText} for ${api.origin}${api.pathname}`);
    return interpret(forge.provider, (await res.json()) as Record<string, unknown>);
  }

  async function poll(r: PollRequest): Promise<void> {
    const delay = bucket.reserve();
    if (delay > 0) await sleep(o.clock, delay);
    if (closed) return;
    const now = new Date(o.clock.now()).toISOString();
    let pullRequest: Record<string, unknown>;
    try {
      const answer = await ask(r);
      pullRequest = {
        state: answer.state,
        lastPolledTime: now,
        lastAttemptTime: now,
        consecutiveErrors: 0,
        lastError: null,
        ...(answer.mergeCommit ? { mergeCommit: answer.mergeCommit } : {}),
      };
    } catch (e) {
      const message = (e as Error).message.slice(0, 1000);
      o.logger.info({ bead: r.bead, url: r.url, err: message }, "pull request poll failed");
      pullRequest = { lastAttemptTime: now, lastError: message, consecutiveErrors: (r.consecutiveErrors ?? 0) + 1 };
    }
    await o.http.json({
      method: "PATCH",
      path: apiPath(BEADS, r.namespace, r.bead, "status"),
      contentType: "application/merge-patch+json",
      body: { status: { pullRequest } },
    });
  }

  return {
    request(r) {
      const id = `${r.namespace}/${r.bead}`;
      if (closed || inFlight.has(id)) return;
      inFlight.add(id);
      const p = poll(r)
        .catch((e) =>
          o.logger.warn({ bead: r.bead, err: (e as Error).message }, "could not record a pull request poll"),
        )
        .finally(() => {
          inFlight.delete(id);
          pending.delete(p);
        });
      pending.add(p);
    },
    async idle() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
    async close() {
      closed = true;
      await Promise.allSettled([...pending]);
    },
  };
}
