// GUPP on the real apiserver: an agent that keeps its Lease alive but shows no activity is warned,
// escalated and force-stopped — each tier once per dedupe window — and its bead is redone.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Agent } from "../../../src/api/agent.ts";
import type { Town } from "../../../src/api/town.ts";
import type { KubeHttp } from "../../../src/controller/kube-http.ts";
import type { Operator } from "../../../src/controller/operator.ts";
import { Crew, finishWork, type Session } from "../../support/crew.ts";
import {
  adminHttp,
  create,
  kubeConfigFromFile,
  startTestOperator,
  townManifest,
  waitForBead,
} from "../../support/gastown.ts";
import { createNamespace, kubeConfig, waitFor } from "../../support/kube.ts";

/** Renews the Lease (alive) with an activity watermark frozen at `since` (doing nothing). */
function idleUntil(s: Session, since: number, stop: Promise<void>): Promise<void> {
  s.stopHeartbeat();
  return new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      void s.client.heartbeat(s.pod, { time: since, kind: "thinking", activeTools: 0 }).catch(() => {});
    }, 300);
    void stop.then(() => {
      clearInterval(timer);
      resolve();
    });
  });
}

describe("GUPP", () => {
  let http: KubeHttp;
  let ns: string;
  let operator: Operator;
  let crew: Crew;
  let releaseSecond: () => void = () => {};
  const secondMayFinish = new Promise<void>((r) => {
    releaseSecond = r;
  });

  beforeAll(async () => {
    http = adminHttp();
    ns = await createNamespace("gupp");
    crew = new Crew(kubeConfigFromFile(), ns, async (s) => {
      if (s.role === "Refinery") return finishWork(s);
      if (s.session === 1) {
        // Hangs until the operator stops the session (the pod disappears).
        await idleUntil(
          s,
          Date.now(),
          waitFor(kubeConfig(), { apiVersion: "v1", kind: "Pod", namespace: ns, name: s.pod }, (p) => p === undefined, {
            description: `${s.pod} to be stopped`,
            timeoutMs: 60_000,
          }).then(() => {}),
        );
        return;
      }
      // The second session idles past every tier again (as a slow agent would), then saves a
      // checkpoint: the reconcile that records it also evaluates GUPP with every tier due.
      const since = Date.now();
      await idleUntil(s, since, new Promise((r) => setTimeout(r, 7_000)));
      await s.report({ type: "Checkpoint", data: "idled past every tier" });
      await idleUntil(s, since, secondMayFinish);
      await finishWork(s);
    }).start();
    operator = await startTestOperator(ns);
    await create(
      http,
      ns,
      townManifest("gt", {
        timeouts: {
          heartbeatTimeout: "20s",
          guppWarn: "2s",
          guppEscalate: "4s",
          guppForceStop: "6s",
          nudgeDedupe: "60m",
        },
        limits: { maxPolecatsPerRig: 1 },
      }),
    );
  });

  afterAll(async () => {
    releaseSecond();
    await crew?.stop();
    await operator?.stop();
  });

  const agentWith = (check: (a: Agent) => boolean, description: string) =>
    waitFor(
      kubeConfig(),
      { apiVersion: "gastown.dev/v1alpha1", kind: "Agent", namespace: ns, name: "gt-app-toast" },
      (a) => a !== undefined && check(a as unknown as Agent),
      {
        description,
        timeoutMs: 60_000,
      },
    ) as Promise<unknown> as Promise<Agent>;

  it("warns, escalates and force-stops an inactive agent, each tier once per dedupe window", async () => {
    await create(http, ns, {
      apiVersion: "gastown.dev/v1alpha1",
      kind: "Bead",
      metadata: { name: "slow" },
      spec: { town: "gt", rig: "app", title: "slow" },
    });
    const stalled = await agentWith(
      (a) => (a.status?.nudges ?? []).some((n) => n.tier === "forceStop"),
      "the force-stop nudge",
    );
    expect((stalled.status?.nudges ?? []).map((n) => n.tier)).toEqual(["warn", "escalate", "forceStop"]);
    expect(stalled.status?.conditions?.find((c) => c.type === "Escalated")?.status).toBe("True");
    const escalatedTown = await waitFor(
      kubeConfig(),
      { apiVersion: "gastown.dev/v1alpha1", kind: "Town", namespace: ns, name: "gt" },
      (t) =>
        (t as unknown as Town | undefined)?.status?.conditions?.some(
          (c) => c.type === "Escalated" && c.status === "True",
        ) === true,
      { description: "the town's Escalated condition", timeoutMs: 30_000 },
    );
    expect(
      (escalatedTown as unknown as Town).status?.conditions?.find((c) => c.type === "Escalated")?.message,
    ).toContain("gt-app-toast");

    // The bead is re-dispatched; its second session idles past every tier, then checkpoints.
    const after = await agentWith(
      (a) => a.status?.checkpoint?.data === "idled past every tier",
      "the second session's checkpoint",
    );
    expect(after.status?.session).toBe(2);
    expect((after.status?.nudges ?? []).map((n) => n.tier)).toEqual(["warn", "escalate", "forceStop"]);
    expect(after.status?.phase).toBe("Working");

    releaseSecond();
    await waitForBead(ns, "slow", (b) => b?.status?.phase === "Closed", "to close after the second session");
    const events = await http.json<{ items: { reason: string; type: string; regarding: { name: string } }[] }>({
      method: "GET",
      path: `/apis/events.k8s.io/v1/namespaces/${ns}/events`,
    });
    const mine = events.items.filter((e) => e.regarding.name === "gt-app-toast");
    for (const [reason, type] of [
      ["NudgeWarn", "Normal"],
      ["NudgeEscalate", "Warning"],
      ["ForceStopped", "Warning"],
    ]) {
      expect(mine.filter((e) => e.reason === reason).map((e) => e.type)).toEqual([type]);
    }
    expect(crew.errors).toEqual([]);
  });
});
