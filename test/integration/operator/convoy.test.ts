// A convoy end to end on the real apiserver: beads dispatched only when unblocked and within the
// polecat limit, session pods running on kwok, agents reporting with their own tokens, the refinery
// merging, one landing, Landed — and an Event for every step.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bead } from "../../../src/api/bead.ts";
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
} from "../../support/gastown.ts";
import { History } from "../../support/history.ts";
import { createNamespace, kubeConfig, waitFor } from "../../support/kube.ts";

const DIAMOND = [
  { name: "a" },
  { name: "b", dependsOn: ["a"] },
  { name: "c", dependsOn: ["a"] },
  { name: "d", dependsOn: ["b", "c"] },
  { name: "e", dependsOn: ["d"] },
  { name: "f" },
];

async function waitForConvoy(ns: string, name: string, phase: string): Promise<Convoy> {
  const c = await waitFor(
    kubeConfig(),
    { apiVersion: "gastown.dev/v1alpha1", kind: "Convoy", namespace: ns, name },
    (o) => (o as unknown as Convoy | undefined)?.status?.phase === phase,
    { description: `convoy ${name} to be ${phase}`, timeoutMs: 120_000 },
  );
  return c as unknown as Convoy;
}

async function listBeads(http: KubeHttp, ns: string): Promise<Bead[]> {
  return (
    await http.json<{ items: Bead[] }>({ method: "GET", path: `/apis/gastown.dev/v1alpha1/namespaces/${ns}/beads` })
  ).items;
}

describe("a convoy on the real apiserver", () => {
  let http: KubeHttp;
  let ns: string;
  let operator: Operator;
  let crew: Crew;
  let history: History;

  beforeAll(async () => {
    http = adminHttp();
    ns = await createNamespace("convoy");
    history = new History(http, ns);
    crew = new Crew(kubeConfigFromFile(), ns).start();
    operator = await startTestOperator(ns);
    await create(http, ns, townManifest("gt"));
  });

  afterAll(async () => {
    await crew?.stop();
    await operator?.stop();
    history?.stop();
  });

  it("ReviewThenLand: a diamond of six beads lands through exactly one landing merge request", async () => {
    await create(http, ns, convoyManifest("diamond", "gt", DIAMOND));
    const convoy = await waitForConvoy(ns, "diamond", "Landed");
    expect(crew.errors).toEqual([]);
    expect(convoy.status?.progress).toMatchObject({ closed: 6, total: 6, failed: 0 });

    const beads = await listBeads(http, ns);
    const landings = beads.filter((b) => b.spec.source?.kind === "Convoy");
    expect(landings.map((b) => [b.metadata.name, b.status?.phase, b.status?.resolution])).toEqual([
      ["diamond-landing-1", "Closed", "Merged"],
    ]);
    for (const t of DIAMOND) {
      const b = beads.find((x) => x.metadata.name === `diamond-${t.name}`);
      expect(b?.status).toMatchObject({ phase: "Closed", resolution: "Merged", mergedBy: `diamond-${t.name}-mr-1` });
    }

    // Dispatched only when unblocked: a bead's first InProgress comes after all its blockers closed.
    const firstTime = (name: string, phase: string) =>
      history.beads.find((t) => t.name === name && t.phase === phase)?.at;
    for (const t of DIAMOND) {
      const started = firstTime(`diamond-${t.name}`, "InProgress");
      expect(started, `diamond-${t.name} was dispatched`).toBeDefined();
      for (const dep of t.dependsOn ?? []) {
        const closed = firstTime(`diamond-${dep}`, "Closed");
        expect(closed, `diamond-${dep} closed before diamond-${t.name} started`).toBeDefined();
        expect(closed as number).toBeLessThanOrEqual(started as number);
      }
    }
    // Within the polecat limit (2 per rig): never more than two issues in progress at once.
    let most = 0;
    for (const state of history.beadStates()) {
      const inProgress = [...state.entries()].filter(
        ([n, p]) => !n.includes("-mr-") && !n.includes("landing") && p === "InProgress",
      );
      most = Math.max(most, inProgress.length);
    }
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(2);
    // Sessions are real pods that kwok ran.
    expect(history.pods.some((p) => p.phase === "Running")).toBe(true);
    const agents = await http.json<{ items: { spec: { role: string } }[] }>({
      method: "GET",
      path: `/apis/gastown.dev/v1alpha1/namespaces/${ns}/agents`,
    });
    expect(agents.items.filter((a) => a.spec.role === "Polecat").length).toBeLessThanOrEqual(2);

    // An Event for each step of the story.
    await operator.stop();
    const events = await http.json<{
      items: { reason: string; note: string; regarding: { kind: string; name: string } }[];
    }>({
      method: "GET",
      path: `/apis/events.k8s.io/v1/namespaces/${ns}/events`,
    });
    const reasons = new Set(events.items.map((e) => e.reason));
    for (const step of [
      "PolecatCreated",
      "Dispatched",
      "WorkDone",
      "RefineryCreated",
      "ReviewStarted",
      "Merged",
      "LandingStarted",
      "ConvoyLanded",
    ]) {
      expect(reasons, `an Event with reason ${step}`).toContain(step);
    }
    // What the operator made is told on what it was made for: the tasks on the convoy, each merge
    // request on its task, in the Event of the finished work.
    const notesOf = (kind: string, name: string) =>
      events.items.filter((e) => e.regarding.kind === kind && e.regarding.name === name).map((e) => e.note);
    for (const t of DIAMOND) {
      expect(notesOf("Convoy", "diamond").join("; ")).toContain(
        `task ${t.name} of convoy diamond is bead diamond-${t.name}`,
      );
      const done = events.items.find(
        (e) =>
          e.regarding.name === `diamond-${t.name}` &&
          e.reason === "WorkDone" &&
          e.note.includes(`diamond-${t.name}-mr-1 reviews`),
      );
      expect(done, `diamond-${t.name}'s WorkDone Event tells its merge request`).toBeDefined();
      expect(notesOf("Bead", `diamond-${t.name}-mr-1`).join("; ")).not.toContain("reviews gt/");
    }
  });
});
