// Bad input gets a clear answer and loses nothing: a convoy whose tasks form a cycle or name an
// unknown rig is marked Ready=False with a message naming the problem and creates no beads; a
// report about a bead the agent is not hooked to is kept, marked Rejected, with the reason.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentReport } from "../../../src/api/agent-report.ts";
import type { Convoy } from "../../../src/api/convoy.ts";
import type { Operator } from "../../../src/controller/operator.ts";
import type { KubeHttp } from "../../../src/kube/http.ts";
import { Crew } from "../../support/crew.ts";
import {
  adminHttp,
  convoyManifest,
  create,
  kubeConfigFromFile,
  startTestOperator,
  townManifest,
  waitForBead,
} from "../../support/gastown.ts";
import { createNamespace, kubeConfig, waitFor, waitForList } from "../../support/kube.ts";

describe("bad input", () => {
  let http: KubeHttp;
  let ns: string;
  let operator: Operator;
  let crew: Crew;

  beforeAll(async () => {
    http = adminHttp();
    ns = await createNamespace("bad-input");
    crew = new Crew(kubeConfigFromFile(), ns, async (s) => {
      await s.report({ type: "Done", bead: "someone-elses", branch: "gt/app/x" });
    }).start();
    operator = await startTestOperator(ns);
    await create(http, ns, townManifest("gt"));
  });

  afterAll(async () => {
    await crew?.stop();
    await operator?.stop();
  });

  const invalid = async (name: string) =>
    (await waitFor(
      kubeConfig(),
      { apiVersion: "gastown.dev/v1alpha1", kind: "Convoy", namespace: ns, name },
      (c) =>
        (c as unknown as Convoy | undefined)?.status?.conditions?.some(
          (x) => x.type === "Ready" && x.reason === "InvalidTasks",
        ) === true,
      { description: `convoy ${name} to be marked InvalidTasks`, timeoutMs: 30_000 },
    )) as unknown as Convoy;

  const beadsOf = async (convoy: string) =>
    (
      await http.json<{ items: unknown[] }>({
        method: "GET",
        path: `/apis/gastown.dev/v1alpha1/namespaces/${ns}/beads?labelSelector=gastown.dev/convoy=${convoy}`,
      })
    ).items;

  it("a dependency cycle: Ready=False naming the cycle, no beads", async () => {
    await create(
      http,
      ns,
      convoyManifest("loop", "gt", [
        { name: "a", dependsOn: ["c"] },
        { name: "b", dependsOn: ["a"] },
        { name: "c", dependsOn: ["b"] },
        { name: "d" },
      ]),
    );
    const c = await invalid("loop");
    const ready = c.status?.conditions?.find((x) => x.type === "Ready");
    expect(ready?.status).toBe("False");
    expect(ready?.message).toMatch(/dependency cycle: (a -> c -> b -> a|b -> a -> c -> b|c -> b -> a -> c)/);
    expect(c.status?.conditions?.find((x) => x.type === "Stalled")?.status).toBe("True");
    expect(await beadsOf("loop")).toEqual([]);
  });

  it("an unknown rig: Ready=False naming the rig, no beads", async () => {
    await create(
      http,
      ns,
      convoyManifest("lost-rig", "gt", [{ name: "a" }, { name: "b", rig: "nosuchrig" }], {
        mergeMode: "ReviewAndMerge",
      }),
    );
    const c = await invalid("lost-rig");
    expect(c.status?.conditions?.find((x) => x.type === "Ready")?.message).toContain("unknown rig nosuchrig");
    expect(await beadsOf("lost-rig")).toEqual([]);
  });

  it("a report for a bead the agent is not hooked to is kept and marked Rejected with the reason", async () => {
    // A bead without a rig is tracked but never dispatched: nobody is hooked to it.
    await create(http, ns, {
      apiVersion: "gastown.dev/v1alpha1",
      kind: "Bead",
      metadata: { name: "someone-elses" },
      spec: { town: "gt", title: "not yours" },
    });
    await create(http, ns, {
      apiVersion: "gastown.dev/v1alpha1",
      kind: "Bead",
      metadata: { name: "real-work" },
      spec: { town: "gt", rig: "app", title: "real work" },
    });
    await waitForBead(ns, "real-work", (b) => b?.status?.phase === "InProgress", "to be dispatched");
    const reports = await waitForReports(ns);
    const rejected = reports.find((r) => r.spec.bead === "someone-elses");
    expect(rejected?.status?.outcome).toBe("Rejected");
    expect(rejected?.status?.error).toContain("is not hooked to someone-elses");
    expect(
      (
        await http.json<{ status?: { phase?: string } }>({
          method: "GET",
          path: `/apis/gastown.dev/v1alpha1/namespaces/${ns}/beads/real-work`,
        })
      ).status?.phase,
    ).toBe("InProgress");
  });
});

async function waitForReports(ns: string): Promise<AgentReport[]> {
  return (await waitForList(
    kubeConfig(),
    { apiVersion: "gastown.dev/v1alpha1", kind: "AgentReport", namespace: ns },
    (items) => items.some((r) => (r as unknown as AgentReport).status?.outcome !== undefined),
    { description: "a processed report", timeoutMs: 30_000 },
  )) as unknown as AgentReport[];
}
