// What "nothing was done twice and nothing broke" means after a convoy survived chaos (operator
// kills, a control plane restarted under it): checked on the History the watch recorded and on
// the final objects, by the core's own invariant checker.
import { expect } from "vitest";
import type { Agent } from "../../src/api/agent.ts";
import type { AgentReport } from "../../src/api/agent-report.ts";
import type { Bead } from "../../src/api/bead.ts";
import type { Convoy } from "../../src/api/convoy.ts";
import type { Town } from "../../src/api/town.ts";
import type { KubeHttp } from "../../src/controller/kube-http.ts";
import { checkInvariants } from "../../src/core/invariants.ts";
import { buildSnapshot } from "../../src/core/snapshot.ts";
import { podObservation } from "../../src/runtime/pod-runtime.ts";
import type { History, Transition } from "./history.ts";

const list = async <T>(http: KubeHttp, path: string) =>
  (await http.json<{ items: T[] }>({ method: "GET", path })).items;

/** Names the watch saw with more than one uid: created, deleted and created again. */
export function recreated(transitions: readonly Transition[]): string[] {
  const uids = new Map<string, Set<string>>();
  for (const t of transitions) {
    const uid = t.object.metadata.uid;
    if (uid) uids.set(t.name, (uids.get(t.name) ?? new Set()).add(uid));
  }
  return [...uids].filter(([, set]) => set.size > 1).map(([name]) => name);
}

/** Never two live session pods for one agent or for one bead at the same moment, and no pod or bead made twice. */
export function expectNoDuplicateSessions(history: History): void {
  expect(recreated(history.pods), "pods created twice under one name").toEqual([]);
  expect(recreated(history.beads), "beads created twice under one name").toEqual([]);
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
}

/**
 * A ReviewThenLand convoy whose crew always finishes: exactly one merge request per task, merged
 * (its number is the dispatch attempt, which a dispatch cut short may have used up), and exactly
 * one landing.
 */
export async function expectLandedOnce(http: KubeHttp, namespace: string, convoy: string, tasks: readonly string[]) {
  const beads = await list<Bead>(http, `/apis/gastown.dev/v1alpha1/namespaces/${namespace}/beads`);
  for (const task of tasks) {
    const mrs = beads.filter((b) => b.spec.source?.name === `${convoy}-${task}`);
    expect(mrs, `merge requests of ${convoy}-${task}`).toHaveLength(1);
    expect(mrs[0]?.status).toMatchObject({ phase: "Closed", resolution: "Merged" });
  }
  const landings = beads.filter((b) => b.spec.source?.kind === "Convoy" && b.spec.source.name === convoy);
  expect(landings.map((b) => b.metadata.name)).toEqual([`${convoy}-landing-1`]);
}

/** The final state satisfies every invariant, and the Town never recorded a violation. */
export async function expectNoViolations(http: KubeHttp, namespace: string, town: string): Promise<void> {
  const base = `/apis/gastown.dev/v1alpha1/namespaces/${namespace}`;
  const townObject = await http.json<Town>({ method: "GET", path: `${base}/towns/${town}` });
  const pods = await list<Record<string, unknown>>(http, `/api/v1/namespaces/${namespace}/pods`);
  const snapshot = buildSnapshot({
    town: townObject,
    convoys: await list<Convoy>(http, `${base}/convoys`),
    beads: await list<Bead>(http, `${base}/beads`),
    agents: await list<Agent>(http, `${base}/agents`),
    reports: await list<AgentReport>(http, `${base}/agentreports`),
    sessions: pods.flatMap((p) => podObservation(p as never) ?? []),
    leases: [],
  });
  expect(checkInvariants(snapshot, Date.now())).toEqual([]);
  expect(townObject.status?.violations ?? []).toEqual([]);
}

/** A small seeded generator (mulberry32): a chaos test's choices replay from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
