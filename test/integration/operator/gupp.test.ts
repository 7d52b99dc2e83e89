// GUPP on the real apiserver: an agent that keeps its Lease alive but shows no activity is warned,
// escalated and force-stopped — each tier once per dedupe window; its bead is redone once by
// another polecat, and held after a second force-stop until a person retries it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Agent } from "../../../src/api/agent.ts";
import type { Town } from "../../../src/api/town.ts";
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
  let sessions = 0;

  beforeAll(async () => {
    http = adminHttp();
    ns = await createNamespace("gupp");
    crew = new Crew(kubeConfigFromFile(), ns, async (s) => {
      if (s.role === "Refinery") return finishWork(s);
      sessions++;
      if (sessions <= 2) {
        // The first two sessions hang (alive, doing nothing) until the operator stops them.
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
    await crew?.stop();
    await operator?.stop();
  });

  const agentWith = (name: string, check: (a: Agent) => boolean, description: string) =>
    waitFor(
      kubeConfig(),
      { apiVersion: "gastown.dev/v1alpha1", kind: "Agent", namespace: ns, name },
      (a) => a !== undefined && check(a as unknown as Agent),
      { description, timeoutMs: 60_000 },
    ) as Promise<unknown> as Promise<Agent>;

  const forceStopped = (a: Agent) => (a.status?.nudges ?? []).some((n) => n.tier === "forceStop");

  it("warns, escalates and force-stops a hung agent; redoes its bead once elsewhere, then holds it until retried", async () => {
    await create(http, ns, {
      apiVersion: "gastown.dev/v1alpha1",
      kind: "Bead",
      metadata: { name: "slow" },
      spec: { town: "gt", rig: "app", title: "slow" },
    });
    const first = await agentWith("gt-app-toast", forceStopped, "toast's force-stop nudge");
    expect((first.status?.nudges ?? []).map((n) => n.tier)).toEqual(["warn", "escalate", "forceStop"]);
    expect(first.status?.conditions?.find((c) => c.type === "Escalated")?.status).toBe("True");

    // Redone once, by another polecat (never the one that hung), which hangs too: then it is held.
    const second = await agentWith("gt-app-maple", forceStopped, "maple's force-stop nudge");
    expect((second.status?.nudges ?? []).map((n) => n.tier)).toEqual(["warn", "escalate", "forceStop"]);
    const held = await waitForBead(ns, "slow", (b) => b?.status?.hold?.reason === "HungAgent", "to be held");
    expect(held?.status?.phase).toBe("Open");
    expect(held?.status?.forceStops).toBe(2);
    expect(held?.status?.conditions?.find((c) => c.type === "Stalled")).toMatchObject({
      status: "True",
      reason: "HungAgent",
    });
    const town = (await waitFor(
      kubeConfig(),
      { apiVersion: "gastown.dev/v1alpha1", kind: "Town", namespace: ns, name: "gt" },
      (t) => ((t as unknown as Town | undefined)?.status?.escalations ?? []).some((e) => e.id === "hung-agent-slow"),
      { description: "the town's durable escalation of the hold", timeoutMs: 30_000 },
    )) as unknown as Town;
    expect(town.status?.escalations?.map((e) => e.id)).toEqual(
      expect.arrayContaining(["nudge-escalate-slow", "force-stopped-slow", "hung-agent-slow"]),
    );
    expect(town.status?.conditions?.find((c) => c.type === "Escalated")).toMatchObject({ status: "True" });
    // Nothing runs while it is held.
    await new Promise((r) => setTimeout(r, 3000));
    expect(sessions).toBe(2);

    // A person retries it (what `kubectl gt retry` writes): it runs again and closes.
    await http.json({
      method: "PATCH",
      path: `/apis/gastown.dev/v1alpha1/namespaces/${ns}/beads/slow`,
      contentType: "application/merge-patch+json",
      body: { spec: { retry: 1 } },
    });
    const closed = await waitForBead(ns, "slow", (b) => b?.status?.phase === "Closed", "to close after the retry");
    expect(closed?.status?.history).toMatchObject([{ retry: 1, phase: "Open" }]);
    const events = await http.json<{ items: { reason: string; type: string; regarding: { name: string } }[] }>({
      method: "GET",
      path: `/apis/events.k8s.io/v1/namespaces/${ns}/events`,
    });
    for (const agent of ["gt-app-toast", "gt-app-maple"]) {
      const mine = events.items.filter((e) => e.regarding.name === agent);
      for (const [reason, type] of [
        ["NudgeWarn", "Normal"],
        ["NudgeEscalate", "Warning"],
        ["ForceStopped", "Warning"],
      ]) {
        expect(mine.filter((e) => e.reason === reason).map((e) => e.type)).toEqual([type]);
      }
    }
    expect(events.items.some((e) => e.regarding.name === "slow" && e.reason === "Retried")).toBe(true);
    expect(crew.errors).toEqual([]);
  });
});
