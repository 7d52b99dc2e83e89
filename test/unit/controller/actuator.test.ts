// The actuator's failure handling, against a scripted API: which failed writes are charged to the
// report that caused them (three charges poison it), and that a batch stops writing the moment
// its replica stops leading.
import { describe, expect, it } from "vitest";
import { chargeable, createActuator, StaleViewError } from "../../../src/controller/actuator.ts";
import { systemClock } from "../../../src/controller/clock.ts";
import { createExpectations } from "../../../src/controller/expectations.ts";
import { KubeApiError, type KubeHttp, type KubeRequest } from "../../../src/controller/kube-http.ts";
import { silentLogger } from "../../../src/controller/logger.ts";
import { createMetrics } from "../../../src/controller/metrics.ts";
import type { Action } from "../../../src/core/actions.ts";
import type { SessionRuntime } from "../../../src/runtime/session-runtime.ts";
import { issue, report, snapshotOf, town } from "../core/builders.ts";

/** A KubeHttp that answers from `respond` and records every request. */
function scriptedHttp(respond: (r: KubeRequest) => unknown): KubeHttp & { requests: KubeRequest[] } {
  const requests: KubeRequest[] = [];
  return {
    requests,
    async json<T>(r: KubeRequest): Promise<T> {
      requests.push(r);
      return (await respond(r)) as T;
    },
    lines: async () => {},
  };
}

const systemError = (code: string, message = code) => Object.assign(new Error(message), { code });
const apiError = (code: number, reason: string) =>
  new KubeApiError(code, { kind: "Status", code, reason, message: `${reason} (${code})` }, reason);

const noRuntime = {} as SessionRuntime;

function actuatorWith(http: KubeHttp) {
  return createActuator({
    http,
    runtime: noRuntime,
    expectations: createExpectations(),
    events: { record() {}, flush: async () => {} },
    metrics: createMetrics().gastown,
    poller: { request() {}, close: async () => {}, idle: async () => {} },
    clock: systemClock,
    logger: silentLogger(),
  });
}

const snapshot = snapshotOf({
  town: town(),
  beads: [issue("x"), issue("y")],
  reports: [report("r1", { agent: "gt-app-toast", bead: "x", type: "Done" })],
});
const batch = (signal?: AbortSignal) => ({
  key: "default/gt",
  town: town(),
  snapshot,
  planMs: 1,
  actions: 2,
  ...(signal ? { signal } : {}),
});
const write = (name: string, cause?: string): Action => ({
  type: "UpdateBeadStatus",
  name,
  resourceVersion: `rv-${name}`,
  status: { phase: "InReview" },
  events: [],
  ...(cause ? { cause } : {}),
});
const charges = (http: { requests: KubeRequest[] }) =>
  http.requests.filter((r) => r.path.includes("/agentreports/") && r.path.endsWith("/status"));

describe("which failed writes are a report's fault", () => {
  it.each([
    ["a refused connection", systemError("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:6443")],
    ["a reset connection", systemError("ECONNRESET", "socket hang up")],
    ["a premature close", systemError("ERR_STREAM_PREMATURE_CLOSE")],
    [
      "a client timeout",
      Object.assign(new Error("The operation was aborted due to timeout"), { name: "TimeoutError" }),
    ],
    ["an abort", Object.assign(new Error("This operation was aborted"), { name: "AbortError" })],
    ["an apiserver without etcd", apiError(500, "InternalError")],
    ["an unavailable apiserver", apiError(503, "ServiceUnavailable")],
    ["a server-side timeout", apiError(504, "Timeout")],
    ["throttling", apiError(429, "TooManyRequests")],
    ["a request timeout", apiError(408, "Timeout")],
    ["a stale view", new StaleViewError("Bead/x: conflict")],
  ])("%s is not", (_what, error) => {
    expect(chargeable(error)).toBe(false);
  });

  it.each([
    ["an invalid object", apiError(422, "Invalid")],
    ["an admission denial", apiError(403, "Forbidden")],
    ["a bad request", apiError(400, "BadRequest")],
    ["a bug (a TypeError)", new TypeError("Cannot read properties of undefined")],
  ])("%s is", (_what, error) => {
    expect(chargeable(error)).toBe(true);
  });

  it("charges a refused write to its report, and not one the API never answered", async () => {
    const refused = scriptedHttp((r) => {
      if (r.path.endsWith("/beads/x/status")) throw apiError(422, "Invalid");
      return { metadata: { resourceVersion: "2" } };
    });
    const outcome = await actuatorWith(refused).apply(batch(), [write("x", "r1")]);
    expect(outcome.error?.message).toContain("Invalid");
    expect(charges(refused).map((r) => (r.body as { status: { attempts: number } }).status.attempts)).toEqual([1]);

    const unreachable = scriptedHttp((r) => {
      if (r.path.endsWith("/beads/x/status")) throw systemError("ECONNREFUSED");
      return { metadata: { resourceVersion: "2" } };
    });
    const again = await actuatorWith(unreachable).apply(batch(), [write("x", "r1")]);
    expect(again).toMatchObject({ applied: 0, error: { code: "ECONNREFUSED" } });
    expect(charges(unreachable)).toEqual([]);
  });
});

describe("a batch when its replica stops leading", () => {
  it("starts no write after the term ends, abandons the one in flight, and charges nobody", async () => {
    const term = new AbortController();
    const http = scriptedHttp(async (r) => {
      if (r.path.endsWith("/beads/x/status")) {
        // The lease is lost while this write is on its way.
        term.abort(new Error("lease not renewed within the renew deadline"));
        r.signal?.throwIfAborted();
      }
      return { metadata: { resourceVersion: "2" } };
    });
    const outcome = await actuatorWith(http).apply(batch(term.signal), [write("x", "r1"), write("y", "r1")]);
    expect(outcome.applied).toBe(0);
    expect(outcome.error?.message).toBe("lease not renewed within the renew deadline");
    expect(http.requests.map((r) => r.path)).toEqual(["/apis/gastown.dev/v1alpha1/namespaces/default/beads/x/status"]);
    expect(http.requests[0]?.signal).toBe(term.signal);
    expect(charges(http)).toEqual([]);
  });

  it("writes nothing once the term has ended", async () => {
    const term = new AbortController();
    term.abort(new Error("stopped"));
    const http = scriptedHttp(() => ({ metadata: { resourceVersion: "2" } }));
    const outcome = await actuatorWith(http).apply(batch(term.signal), [write("x"), write("y")]);
    expect(outcome).toMatchObject({ applied: 0, error: { message: "stopped" } });
    expect(http.requests).toEqual([]);
  });
});
