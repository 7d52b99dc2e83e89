// Crash safety: the operator process is SIGKILLed at several points of a convoy and restarted.
// Afterwards the convoy has landed, nothing was created twice (sessions, merge requests,
// landings) and no invariant was violated.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Agent } from "../../../src/api/agent.ts";
import type { AgentReport } from "../../../src/api/agent-report.ts";
import type { Bead } from "../../../src/api/bead.ts";
import type { Convoy } from "../../../src/api/convoy.ts";
import type { Town } from "../../../src/api/town.ts";
import type { KubeHttp } from "../../../src/controller/kube-http.ts";
import { checkInvariants } from "../../../src/core/invariants.ts";
import { buildSnapshot } from "../../../src/core/snapshot.ts";
import { podObservation } from "../../../src/runtime/pod-runtime.ts";
import { Crew } from "../../support/crew.ts";
import {
  adminHttp,
  convoyManifest,
  create,
  kubeConfigFromFile,
  type OperatorProcess,
  spawnOperator,
  townManifest,
} from "../../support/gastown.ts";
import { History } from "../../support/history.ts";
import { createNamespace, kubeConfig, waitFor } from "../../support/kube.ts";

const TASKS = [
  { name: "a" },
  { name: "b", dependsOn: ["a"] },
  { name: "c", dependsOn: ["a"] },
  { name: "d", dependsOn: ["b", "c"] },
  { name: "e" },
  { name: "f", dependsOn: ["e"] },
  { name: "g", dependsOn: ["d", "f"] },
];

const list = async <T>(http: KubeHttp, path: string) =>
  (await http.json<{ items: T[] }>({ method: "GET", path })).items;

describe("crash safety", () => {
  let http: KubeHttp;
  let ns: string;
  let crew: Crew;
  let history: History;
  let operator: OperatorProcess | undefined;

  beforeAll(async () => {
    http = adminHttp();
    ns = await createNamespace("crash");
    history = new History(http, ns);
    crew = new Crew(kubeConfigFromFile(), ns).start();
    await create(http, ns, townManifest("gt", { limits: { maxPolecatsPerRig: 3 } }));
  });

  afterAll(async () => {
    await operator?.kill("SIGKILL");
    await crew?.stop();
    history?.stop();
  });

  it("survives SIGKILL at several points of a convoy without duplicates or violations", async () => {
    await create(http, ns, convoyManifest("crashy", "gt", TASKS));
    // Kill points are measured in progress (bead transitions seen), not in time.
    for (const [i, point] of [6, 14, 24, 36, 48].entries()) {
      operator = spawnOperator(ns, `crashy-${i}`);
      await history.beadTransitions(point);
      await operator.kill("SIGKILL");
    }
    operator = spawnOperator(ns, "crashy-final");
    const convoy = (await waitFor(
      kubeConfig(),
      { apiVersion: "gastown.dev/v1alpha1", kind: "Convoy", namespace: ns, name: "crashy" },
      (c) => (c as unknown as Convoy | undefined)?.status?.phase === "Landed",
      { description: "convoy crashy to land after the crashes", timeoutMs: 120_000 },
    )) as unknown as Convoy;
    expect(convoy.status?.progress?.closed).toBe(TASKS.length);
    await operator.kill("SIGTERM");

    const base = `/apis/gastown.dev/v1alpha1/namespaces/${ns}`;
    const beads = await list<Bead>(http, `${base}/beads`);
    // No duplicate merge requests: the crew always finishes, so exactly one MR per issue (its
    // number is the dispatch attempt, which a dispatch cut short by a kill may have used up).
    for (const t of TASKS) {
      const mrs = beads.filter((b) => b.spec.source?.name === `crashy-${t.name}`);
      expect(mrs, `merge requests of crashy-${t.name}`).toHaveLength(1);
      expect(mrs[0]?.status).toMatchObject({ phase: "Closed", resolution: "Merged" });
    }
    expect(beads.filter((b) => b.spec.source?.kind === "Convoy").map((b) => b.metadata.name)).toEqual([
      "crashy-landing-1",
    ]);
    // No duplicate sessions: never two live pods for one agent or one bead at the same moment.
    const live = new Map<string, { agent: string; bead: string | undefined }>();
    for (const t of history.pods) {
      const s = podObservation(t.object);
      if (!s) continue;
      if (t.phase === "Running" || t.phase === "Pending" || t.phase.endsWith("/deleting"))
        live.set(t.name, { agent: s.agent, bead: s.bead });
      else live.delete(t.name);
      const agents = [...live.values()].map((x) => x.agent);
      expect(new Set(agents).size, `agents with two live sessions at ${t.name}`).toBe(agents.length);
      const forBeads = [...live.values()].map((x) => x.bead);
      expect(new Set(forBeads).size, `beads with two live sessions at ${t.name}`).toBe(forBeads.length);
    }
    // And the final state satisfies every invariant.
    const town = await http.json<Town>({ method: "GET", path: `${base}/towns/gt` });
    const pods = await list<Record<string, unknown>>(http, `/api/v1/namespaces/${ns}/pods`);
    const snapshot = buildSnapshot({
      town,
      convoys: await list<Convoy>(http, `${base}/convoys`),
      beads,
      agents: await list<Agent>(http, `${base}/agents`),
      reports: await list<AgentReport>(http, `${base}/agentreports`),
      sessions: pods.flatMap((p) => podObservation(p as never) ?? []),
      leases: [],
    });
    expect(checkInvariants(snapshot, Date.now())).toEqual([]);
    expect(town.status?.violations ?? []).toEqual([]);
    expect(crew.errors).toEqual([]);
  }, 300_000);
});
