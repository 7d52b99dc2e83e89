// Lost sessions on the real apiserver: a deleted pod, a silent heartbeat, an exit 0 without Done,
// and non-zero exits up to the attempt cap. The bead is reopened, re-dispatched or Failed exactly
// as docs/rules.md (Sessions, Beads) says — and never Closed without a merge.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bead } from "../../../src/api/bead.ts";
import type { Operator } from "../../../src/controller/operator.ts";
import type { KubeHttp } from "../../../src/kube/http.ts";
import { Crew, finishWork, type Session } from "../../support/crew.ts";
import {
  adminHttp,
  create,
  kubeConfigFromFile,
  startTestOperator,
  townManifest,
  waitForBead,
} from "../../support/gastown.ts";
import { History } from "../../support/history.ts";
import { createNamespace } from "../../support/kube.ts";

describe("lost sessions", () => {
  let http: KubeHttp;
  let ns: string;
  let operator: Operator;
  let crew: Crew;
  let history: History;
  const attempts = new Map<string, number>();

  const misbehave: Record<string, (s: Session, attempt: number) => Promise<void>> = {
    "pod-deleted": async (s, attempt) => {
      if (attempt > 1) return finishWork(s);
      await http.json({
        method: "DELETE",
        path: `/api/v1/namespaces/${ns}/pods/${s.pod}`,
        body: { gracePeriodSeconds: 0 },
      });
    },
    "heartbeat-stopped": async (s, attempt) => {
      if (attempt > 1) return finishWork(s);
      s.stopHeartbeat();
    },
    "exit-zero": async (s, attempt) => {
      if (attempt > 1) return finishWork(s);
      await s.exit(0);
    },
    "always-fails": async (s) => {
      await s.exit(1);
    },
  };

  beforeAll(async () => {
    http = adminHttp();
    ns = await createNamespace("lost");
    history = new History(http, ns);
    crew = new Crew(kubeConfigFromFile(), ns, async (s) => {
      const issue = s.bead.replace(/-mr-\d+$/, "");
      if (s.role === "Refinery" || !(issue in misbehave)) return finishWork(s);
      const attempt = (attempts.get(s.bead) ?? 0) + 1;
      attempts.set(s.bead, attempt);
      await misbehave[issue]?.(s, attempt);
    }).start();
    operator = await startTestOperator(ns);
    await create(
      http,
      ns,
      townManifest("gt", {
        timeouts: { heartbeatTimeout: "3s", startupGrace: "3s" },
        limits: { maxPolecatsPerRig: 4 },
      }),
    );
  });

  afterAll(async () => {
    await crew?.stop();
    await operator?.stop();
    history?.stop();
  });

  const issue = (name: string) => ({
    apiVersion: "gastown.dev/v1alpha1",
    kind: "Bead",
    metadata: { name },
    spec: { town: "gt", rig: "app", title: name },
  });
  const reasons = (bead: string) =>
    history.beads.filter((t) => t.name === bead).map((t) => (t.object as unknown as Bead).status?.reason);

  it("a deleted pod: the bead is reopened and re-dispatched", async () => {
    await create(http, ns, issue("pod-deleted"));
    const b = await waitForBead(
      ns,
      "pod-deleted",
      (x) => x?.status?.phase === "Closed",
      "to close on the second attempt",
    );
    expect(b?.status?.dispatchAttempts).toBe(2);
    expect(reasons("pod-deleted")).toContain("SessionLost");
  });

  it("a silent heartbeat: the session is stopped, the bead reopened and re-dispatched", async () => {
    await create(http, ns, issue("heartbeat-stopped"));
    const b = await waitForBead(
      ns,
      "heartbeat-stopped",
      (x) => x?.status?.phase === "Closed",
      "to close on the second attempt",
    );
    expect(b?.status?.dispatchAttempts).toBe(2);
    expect(reasons("heartbeat-stopped")).toContain("SessionLost");
    // The hung first session's pod was deleted by the operator, not left running.
    const first = history.pods.filter((p) => p.name.endsWith("-1") && p.phase === "Deleted");
    expect(first.length).toBeGreaterThan(0);
  });

  it("exit 0 without Done does not close the bead: it is reopened and redone", async () => {
    await create(http, ns, issue("exit-zero"));
    await waitForBead(
      ns,
      "exit-zero",
      (x) => x?.status?.reason === "SessionEndedWithoutDone",
      "to be reopened after exit 0",
    );
    const b = await waitForBead(ns, "exit-zero", (x) => x?.status?.phase === "Closed", "to close after a real Done");
    expect(b?.status).toMatchObject({ dispatchAttempts: 2, resolution: "Merged", mergedBy: "exit-zero-mr-2" });
  });

  it("non-zero exits up to the attempt cap: the bead fails", async () => {
    await create(http, ns, issue("always-fails"));
    const b = await waitForBead(
      ns,
      "always-fails",
      (x) => x?.status?.phase === "Failed",
      "to fail at the attempt cap",
      90_000,
    );
    expect(b?.status).toMatchObject({ resolution: "MaxDispatchAttempts", dispatchAttempts: 5 });
    expect(attempts.get("always-fails")).toBe(5);
    expect(reasons("always-fails")).toContain("SessionFailed");
  });

  it("no bead was ever Closed without a merge", () => {
    for (const t of history.beads) {
      if (t.phase !== "Closed") continue;
      const b = t.object as unknown as Bead;
      expect(["Merged", "ReworkDone", "Superseded"], `${t.name} closed as ${b.status?.resolution}`).toContain(
        b.status?.resolution,
      );
    }
    expect(crew.errors).toEqual([]);
  });
});
