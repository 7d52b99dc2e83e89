// Errors are classified by the Status reason, the HTTP code only when there is no Status.
import { describe, expect, it } from "vitest";
import {
  isAlreadyExists,
  isConflict,
  isGone,
  isInvalid,
  isNotFound,
  isTransient,
  KubeApiError,
  reasonOf,
} from "../../../src/kube/errors.ts";
import { apiPath, parsePath } from "../../../src/kube/paths.ts";

const err = (code: number, reason?: string) =>
  new KubeApiError(code, reason ? { reason, code } : undefined, `HTTP ${code}`);

describe("error classification", () => {
  it.each([
    { e: err(409, "AlreadyExists"), already: true, conflict: false },
    { e: err(409, "Conflict"), already: false, conflict: true },
    { e: err(409), already: false, conflict: true },
  ])("409 $e.reason: AlreadyExists $already, Conflict $conflict", ({ e, already, conflict }) => {
    expect(isAlreadyExists(e)).toBe(already);
    expect(isConflict(e)).toBe(conflict);
  });

  it("reads the reason first, the code when there is none", () => {
    expect(isNotFound(err(404))).toBe(true);
    expect(isGone(err(410, "Expired"))).toBe(true);
    expect(isGone(err(410))).toBe(true);
    expect(isInvalid(err(422, "Invalid"))).toBe(true);
    expect(reasonOf(err(503))).toBe("InternalError");
    expect(reasonOf(new Error("not from the API"))).toBeUndefined();
    expect(isNotFound(new Error("404"))).toBe(false);
  });
});

describe("transient failures", () => {
  // The Status a kube-apiserver sends while its admission caches sync after a start.
  const notReady = new KubeApiError(
    403,
    {
      kind: "Status",
      status: "Failure",
      reason: "Forbidden",
      code: 403,
      message: 'events.events.k8s.io "chaos-a.18ed77cd5d7a67c9" is forbidden: not yet ready to handle request',
    },
    "HTTP 403",
  );
  const forbidden = new KubeApiError(
    403,
    {
      reason: "Forbidden",
      code: 403,
      message: 'pods is forbidden: User "system:serviceaccount:gt:op" cannot create resource "pods" in API group ""',
    },
    "HTTP 403",
  );

  it.each([
    { name: "an apiserver not yet ready (403 from admission)", e: notReady, transient: true },
    { name: "RBAC's 403", e: forbidden, transient: false },
    { name: "503", e: err(503), transient: true },
    { name: "429", e: err(429, "TooManyRequests"), transient: true },
    { name: "422", e: err(422, "Invalid"), transient: false },
    {
      name: "ECONNREFUSED",
      e: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
      transient: true,
    },
  ])("$name: transient $transient", ({ e, transient }) => {
    expect(isTransient(e)).toBe(transient);
  });
});

describe("paths", () => {
  it("builds and parses API paths", () => {
    const pods = { group: "", version: "v1", plural: "pods" };
    expect(apiPath(pods, "ns", "p", "status")).toBe("/api/v1/namespaces/ns/pods/p/status");
    expect(parsePath("/api/v1/namespaces/ns/pods/p/status")).toEqual({
      group: "",
      version: "v1",
      resource: "pods",
      subresource: "status",
      namespace: "ns",
      name: "p",
    });
    expect(parsePath("/apis/gastown.dev/v1alpha1/namespaces/ns/beads?watch=1")).toMatchObject({
      group: "gastown.dev",
      resource: "beads",
      subresource: "",
      namespace: "ns",
    });
    expect(parsePath("/api/v1/namespaces")).toMatchObject({ resource: "namespaces" });
  });
});
