// Sessions that cannot start, said at once on the real apiserver (issue 9): kwok stages put session
// pods into ErrImagePull, ImagePullBackOff and CreateContainerConfigError (hack/local-cluster/
// kwok-failure-stages.yaml), the real scheduler leaves one Unschedulable, a ResourceQuota and a
// LimitRange make the apiserver refuse the pod. For each: the Bead and the Agent carry the original
// message within seconds, one Warning Event, the attempt budget is spent (transient) or not
// (configuration), the Town is Ready=False naming the cause, kstatus says what Flux would show, and
// once the cause is removed the work resumes and lands.
import { afterAll, describe, expect, it } from "vitest";
import type { Agent } from "../../../src/api/agent.ts";
import type { Bead } from "../../../src/api/bead.ts";
import type { Convoy } from "../../../src/api/convoy.ts";
import type { Town } from "../../../src/api/town.ts";
import type { KubeHttp } from "../../../src/controller/kube-http.ts";
import type { Operator } from "../../../src/controller/operator.ts";
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
import { kstatusOf } from "../../support/kstatus.ts";
import { createNamespace, kubeConfig, waitFor, waitForList } from "../../support/kube.ts";

const API = "gastown.dev/v1alpha1";
const http: KubeHttp = adminHttp();
const stops: (() => Promise<void>)[] = [];

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
});

interface Scene {
  ns: string;
  town: string;
}

/** A namespace of its own (quotas are per namespace) with an operator, a crew and a town. */
async function scene(
  prefix: string,
  agents: Record<string, unknown>,
  before?: (ns: string) => Promise<void>,
): Promise<Scene> {
  const ns = await createNamespace(prefix);
  await before?.(ns);
  const crew = new Crew(kubeConfigFromFile(), ns).start();
  const operator: Operator = await startTestOperator(ns);
  stops.push(async () => {
    await crew.stop();
    await operator.stop();
  });
  const town = townManifest("gt", {
    timeouts: { configurationProbe: "2s", dispatchBackoff: ["2s"] },
    limits: { maxDispatchAttempts: 50, maxPolecatsPerRig: 1 },
  });
  Object.assign(town.spec.agents, agents);
  await create(http, ns, town);
  await create(http, ns, {
    apiVersion: API,
    kind: "Bead",
    metadata: { name: "x" },
    spec: { town: "gt", rig: "app", title: "x" },
  });
  return { ns, town: "gt" };
}

const get = <T>(ns: string, plural: string, name: string) =>
  http.json<T>({ method: "GET", path: `/apis/${API}/namespaces/${ns}/${plural}/${name}` });

const patchTown = (ns: string, agents: Record<string, unknown>) =>
  http.json({
    method: "PATCH",
    path: `/apis/${API}/namespaces/${ns}/towns/gt`,
    contentType: "application/merge-patch+json",
    body: { spec: { agents } },
  });

/** When the test first sees a session pod that cannot start (its waiting reason, or Unschedulable). */
async function podCannotStart(ns: string, reason: string): Promise<number> {
  await waitForList(
    kubeConfig(),
    { apiVersion: "v1", kind: "Pod", namespace: ns },
    (pods) =>
      pods.some((p) => {
        const st = (p as { status?: Record<string, unknown> }).status as
          | {
              containerStatuses?: { state?: { waiting?: { reason?: string } } }[];
              conditions?: { type: string; status: string; reason?: string }[];
            }
          | undefined;
        return (
          st?.containerStatuses?.[0]?.state?.waiting?.reason === reason ||
          st?.conditions?.some((c) => c.type === "PodScheduled" && c.status === "False" && c.reason === reason) === true
        );
      }),
    { description: `a session pod in ${reason}`, timeoutMs: 60_000 },
  );
  return Date.now();
}

async function warningEvents(ns: string, name: string, reason: string): Promise<number> {
  const events = await http.json<{ items: { reason: string; type: string; regarding: { name: string } }[] }>({
    method: "GET",
    path: `/apis/events.k8s.io/v1/namespaces/${ns}/events`,
  });
  return events.items.filter((e) => e.regarding.name === name && e.reason === reason && e.type === "Warning").length;
}

async function townNotReady(ns: string, reason: string, text: string): Promise<Town> {
  return (await waitFor(
    kubeConfig(),
    { apiVersion: API, kind: "Town", namespace: ns, name: "gt" },
    (t) => {
      const c = (t as unknown as Town | undefined)?.status?.conditions?.find((x) => x.type === "Ready");
      return c?.status === "False" && c.reason === reason && c.message.includes(text);
    },
    { description: `the town Ready=False ${reason} naming ${text}`, timeoutMs: 30_000 },
  )) as unknown as Town;
}

async function townReady(ns: string): Promise<void> {
  await waitFor(
    kubeConfig(),
    { apiVersion: API, kind: "Town", namespace: ns, name: "gt" },
    (t) => (t as unknown as Town | undefined)?.status?.conditions?.find((x) => x.type === "Ready")?.status === "True",
    { description: "the town Ready again", timeoutMs: 30_000 },
  );
}

const agentName = "gt-app-toast";

describe("sessions that cannot start, transient: the attempt fails at once, with the normal back-off", () => {
  it.each([
    { name: "ErrImagePull", image: "kwok.gastown.test/err-image-pull:1", message: "failed to pull and unpack image" },
    { name: "ImagePullBackOff", image: "kwok.gastown.test/image-pull-backoff:1", message: "Back-off pulling image" },
  ])(
    "$name: said on the bead, the agent and the town; lands once the image is fixed",
    async ({ name, image, message }) => {
      const s = await scene(name.toLowerCase(), { image });
      const seen = await podCannotStart(s.ns, name);
      const bead = await waitForBead(s.ns, "x", (b) => b?.status?.lastFailure?.reason === name, `x to say ${name}`);
      expect(Date.parse(bead?.status?.lastFailure?.time ?? "") - seen).toBeLessThan(5000);
      expect(bead?.status?.lastFailure?.message).toContain(message);
      expect(bead?.status?.dispatchAttempts).toBeGreaterThanOrEqual(1);
      const agent = await get<Agent>(s.ns, "agents", agentName);
      const failed = agent.status?.conditions?.find((c) => c.type === "SessionFailed");
      expect(failed).toMatchObject({ status: "True", reason: name });
      expect(failed?.message).toContain(message);
      await townNotReady(s.ns, "AgentsCannotStart", message);
      expect(await warningEvents(s.ns, agentName, name)).toBe(1);

      await patchTown(s.ns, { image: "ghcr.io/gastown-operator/agent:test" });
      const closed = await waitForBead(s.ns, "x", (b) => b?.status?.phase === "Closed", "x to land after the fix");
      expect(closed?.status?.resolution).toBe("Merged");
      await townReady(s.ns);
    },
  );

  it("Unschedulable: the scheduler's own message; lands once the request fits", async () => {
    const s = await scene("unschedulable", { resources: { requests: { cpu: "5000" } } });
    await podCannotStart(s.ns, "Unschedulable");
    const bead = await waitForBead(
      s.ns,
      "x",
      (b) => b?.status?.lastFailure?.reason === "Unschedulable",
      "x to say Unschedulable",
    );
    expect(bead?.status?.lastFailure?.message).toMatch(/nodes are available/);
    await townNotReady(s.ns, "AgentsCannotStart", "Unschedulable");
    await patchTown(s.ns, { resources: { requests: { cpu: "100m" } } });
    await waitForBead(s.ns, "x", (b) => b?.status?.phase === "Closed", "x to land once it fits");
  });
});

describe("sessions that cannot start, configuration: the work is held, not charged, and resumes by itself", () => {
  it("CreateContainerConfigError (a missing Secret): held, Failed in kstatus; runs once the Town names one that exists", async () => {
    const s = await scene("secret", {
      env: [{ name: "MODEL_KEY", valueFrom: { secretKeyRef: { name: "missing-model-key", key: "k" } } }],
    });
    const seen = await podCannotStart(s.ns, "CreateContainerConfigError");
    const held = await waitForBead(s.ns, "x", (b) => b?.status?.hold?.reason === "SessionCannotStart", "x to be held");
    expect(Date.parse(held?.status?.lastFailure?.time ?? "") - seen).toBeLessThan(5000);
    expect(held?.status?.hold?.message).toContain('CreateContainerConfigError: secret "missing-model-key" not found');
    expect(held?.status?.dispatchAttempts ?? 0).toBe(0);
    expect((await kstatusOf(held)).status).toBe("Failed");
    const town = await townNotReady(s.ns, "AgentsCannotStart", 'secret "missing-model-key" not found');
    expect((await kstatusOf(town)).status).toBe("Failed");
    expect(town.status?.escalations?.map((e) => e.id)).toContain("agents-cannot-start-create-container-config-error");
    expect(await warningEvents(s.ns, "x", "SessionCannotStart")).toBe(1);

    await http.json({
      method: "POST",
      path: `/api/v1/namespaces/${s.ns}/secrets`,
      body: { apiVersion: "v1", kind: "Secret", metadata: { name: "model-key" }, stringData: { k: "v" } },
    });
    await patchTown(s.ns, {
      env: [{ name: "MODEL_KEY", valueFrom: { secretKeyRef: { name: "model-key", key: "k" } } }],
    });
    const closed = await waitForBead(s.ns, "x", (b) => b?.status?.phase === "Closed", "x to land after the fix");
    expect(closed?.status?.dispatchAttempts).toBe(1);
    expect((await kstatusOf(closed)).status).toBe("Current");
  });

  it.each([
    {
      name: "a ResourceQuota",
      kind: "ResourceQuota",
      plural: "resourcequotas",
      spec: { hard: { pods: "0" } },
      text: "exceeded quota",
      agents: {},
    },
    {
      name: "a LimitRange",
      kind: "LimitRange",
      plural: "limitranges",
      spec: { limits: [{ type: "Container", max: { cpu: "100m" } }] },
      text: "maximum cpu usage per Container is 100m",
      agents: { resources: { requests: { cpu: "200m" }, limits: { cpu: "200m" } } },
    },
  ])("refused by $name: held with the apiserver's message; resumes by itself once it is removed", async (c) => {
    const s = await scene(c.kind.toLowerCase(), c.agents, async (ns) => {
      await http.json({
        method: "POST",
        path: `/api/v1/namespaces/${ns}/${c.plural}`,
        body: { apiVersion: "v1", kind: c.kind, metadata: { name: "fence" }, spec: c.spec },
      });
    });
    const held = await waitForBead(s.ns, "x", (b) => b?.status?.hold?.reason === "SessionCannotStart", "x to be held");
    expect(held?.status?.hold?.message).toContain(c.text);
    expect(held?.status?.dispatchAttempts ?? 0).toBe(0);
    await townNotReady(s.ns, "AgentsCannotStart", c.text);
    const agent = await get<Agent>(s.ns, "agents", agentName);
    expect(agent.status?.conditions?.find((x) => x.type === "SessionFailed")?.message).toContain(c.text);

    // Removing the cause is all a person does: the hold is probed again by itself.
    await http.json({ method: "DELETE", path: `/api/v1/namespaces/${s.ns}/${c.plural}/fence` });
    const closed = await waitForBead(
      s.ns,
      "x",
      (b) => b?.status?.phase === "Closed",
      "x to land once the cause is gone",
    );
    expect(closed?.status?.dispatchAttempts).toBe(1);
    await townReady(s.ns);
  });
});

describe("orphans speak", () => {
  it("a Convoy applied before its Town: TownNotFound (Failed in kstatus), then it runs and lands", async () => {
    const ns = await createNamespace("orphan");
    const crew = new Crew(kubeConfigFromFile(), ns).start();
    const operator = await startTestOperator(ns);
    stops.push(async () => {
      await crew.stop();
      await operator.stop();
    });
    await create(http, ns, convoyManifest("early", "later", [{ name: "a" }]));
    const orphan = (await waitFor(
      kubeConfig(),
      { apiVersion: API, kind: "Convoy", namespace: ns, name: "early" },
      (o) =>
        (o as unknown as Convoy | undefined)?.status?.conditions?.some((c) => c.reason === "TownNotFound") === true,
      { description: "the convoy to say TownNotFound", timeoutMs: 30_000 },
    )) as unknown as Convoy;
    expect(orphan.status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      status: "False",
      reason: "TownNotFound",
    });
    expect(orphan.status?.conditions?.find((c) => c.type === "Ready")?.message).toContain("town later does not exist");
    expect((await kstatusOf(orphan)).status).toBe("Failed");

    await create(http, ns, townManifest("later"));
    const running = (await waitFor(
      kubeConfig(),
      { apiVersion: API, kind: "Convoy", namespace: ns, name: "early" },
      (o) => {
        const c = o as unknown as Convoy | undefined;
        return c?.status?.phase === "Active" || c?.status?.phase === "Landing";
      },
      { description: "the convoy to run", timeoutMs: 60_000 },
    )) as unknown as Convoy;
    expect(running.status?.conditions?.some((c) => c.reason === "TownNotFound")).toBe(false);
    expect((await kstatusOf(running)).status).toBe("InProgress");
    const landed = (await waitFor(
      kubeConfig(),
      { apiVersion: API, kind: "Convoy", namespace: ns, name: "early" },
      (o) => (o as unknown as Convoy | undefined)?.status?.phase === "Landed",
      { description: "the convoy to land", timeoutMs: 120_000 },
    )) as unknown as Convoy;
    expect((await kstatusOf(landed)).status).toBe("Current");
  });

  it("a Bead naming a Town that does not exist says so", async () => {
    const ns = await createNamespace("orphan-bead");
    const operator = await startTestOperator(ns);
    stops.push(() => operator.stop());
    await create(http, ns, {
      apiVersion: API,
      kind: "Bead",
      metadata: { name: "lost" },
      spec: { town: "nowhere", title: "lost" },
    });
    const b = (await waitForBead(
      ns,
      "lost",
      (x) => x?.status?.conditions?.some((c) => c.reason === "TownNotFound") === true,
      "TownNotFound",
    )) as Bead;
    expect(b.status?.conditions?.find((c) => c.type === "Stalled")).toMatchObject({
      status: "True",
      reason: "TownNotFound",
    });
  });
});
