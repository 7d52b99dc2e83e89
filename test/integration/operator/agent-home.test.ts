// Town.spec.agents.home on the real apiserver (kwok nodes, the real scheduler, the PV binder and
// the garbage collector): one PersistentVolumeClaim per agent, owned by the Agent, mounted as HOME
// in every session pod of that agent, and deleted with the Agent. A StorageClass that does not
// exist, or a claim a ResourceQuota refuses, holds the work like any session that cannot start,
// with the reason on the Bead and the Agent; the work resumes once the cause is gone.
import { afterAll, describe, expect, it } from "vitest";
import type { Agent } from "../../../src/api/agent.ts";
import type { KubeHttp } from "../../../src/controller/kube-http.ts";
import { LABELS } from "../../../src/controller/resources.ts";
import { createInformer, type KubeObject } from "../../../src/kube/informer.ts";
import { createKubeListWatch } from "../../../src/kube/list-watch.ts";
import { Crew } from "../../support/crew.ts";
import {
  adminHttp,
  create,
  kubeConfigFromFile,
  startTestOperator,
  townManifest,
  waitForBead,
} from "../../support/gastown.ts";
import { createNamespace, kubeConfig, waitForList } from "../../support/kube.ts";

const API = "gastown.dev/v1alpha1";
const http: KubeHttp = adminHttp();
const stops: (() => Promise<void>)[] = [];
const suffix = Math.random().toString(36).slice(2, 8);
const storageClass = `gt-home-${suffix}`;
const volumes: string[] = [];

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  for (const pv of volumes)
    await http.json({ method: "DELETE", path: `/api/v1/persistentvolumes/${pv}` }).catch(() => {});
  await http.json({ method: "DELETE", path: `/apis/storage.k8s.io/v1/storageclasses/${storageClass}` }).catch(() => {});
});

interface Claim {
  metadata: {
    name: string;
    uid: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
  };
  spec: { storageClassName?: string; resources: { requests: { storage: string } } };
}

interface SessionPod {
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    volumes: { name: string; persistentVolumeClaim?: { claimName: string } }[];
    containers: { env?: { name: string; value?: string }[]; volumeMounts?: { name: string; mountPath: string }[] }[];
  };
}

/** The class (no provisioner: the binder binds claims to the volumes made here) and `n` volumes. */
async function storage(n: number): Promise<void> {
  if (volumes.length === 0)
    await http.json({
      method: "POST",
      path: "/apis/storage.k8s.io/v1/storageclasses",
      body: {
        apiVersion: "storage.k8s.io/v1",
        kind: "StorageClass",
        metadata: { name: storageClass },
        provisioner: "kubernetes.io/no-provisioner",
        volumeBindingMode: "Immediate",
      },
    });
  for (let i = 0; i < n; i++) {
    const name = `${storageClass}-${volumes.length}`;
    volumes.push(name);
    await http.json({
      method: "POST",
      path: "/api/v1/persistentvolumes",
      body: {
        apiVersion: "v1",
        kind: "PersistentVolume",
        metadata: { name },
        spec: {
          storageClassName: storageClass,
          capacity: { storage: "1Gi" },
          accessModes: ["ReadWriteOnce"],
          persistentVolumeReclaimPolicy: "Retain",
          hostPath: { path: `/tmp/${name}` },
        },
      },
    });
  }
}

/** Every session pod of the namespace as it was created (kwok pods are deleted when they end). */
function recordPods(ns: string): SessionPod[] {
  const seen: SessionPod[] = [];
  const informer = createInformer({
    name: "home-test-pods",
    listWatch: createKubeListWatch(http, { group: "", version: "v1", plural: "pods", namespace: ns }),
  });
  informer.addHandlers({ onAdd: (p: KubeObject) => void seen.push(p as unknown as SessionPod) });
  informer.start();
  stops.push(async () => informer.stop());
  return seen;
}

async function scene(prefix: string, home: Record<string, unknown>, before?: (ns: string) => Promise<void>) {
  const ns = await createNamespace(prefix);
  await before?.(ns);
  const pods = recordPods(ns);
  const crew = new Crew(kubeConfigFromFile(), ns).start();
  const operator = await startTestOperator(ns);
  stops.push(async () => {
    await crew.stop();
    await operator.stop();
  });
  const town = townManifest("gt", {
    timeouts: { configurationProbe: "2s", dispatchBackoff: ["2s"] },
    limits: { maxDispatchAttempts: 50, maxPolecatsPerRig: 1 },
  });
  Object.assign(town.spec.agents, { home });
  await create(http, ns, town);
  return { ns, crew, pods };
}

const bead = (ns: string, name: string) =>
  create(http, ns, {
    apiVersion: API,
    kind: "Bead",
    metadata: { name },
    spec: { town: "gt", rig: "app", title: name },
  });

const claims = async (ns: string) =>
  (await http.json<{ items: Claim[] }>({ method: "GET", path: `/api/v1/namespaces/${ns}/persistentvolumeclaims` }))
    .items;

const agentOf = (ns: string, name: string) =>
  http.json<Agent & { metadata: { uid: string } }>({
    method: "GET",
    path: `/apis/${API}/namespaces/${ns}/agents/${name}`,
  });

describe("Town.spec.agents.home: a home claim per agent", () => {
  it("is made once per agent, owned by it, mounted at HOME in each of its sessions, and goes with it", async () => {
    await storage(2); // the polecat's and the refinery's
    const s = await scene("home", { storageClassName: storageClass, size: "1Gi" });
    // One polecat does both beads, one after the other: two sessions on one claim.
    await bead(s.ns, "first");
    await waitForBead(s.ns, "first", (b) => b?.status?.phase === "Closed", "first to land", 90_000);
    await bead(s.ns, "second");
    await waitForBead(s.ns, "second", (b) => b?.status?.phase === "Closed", "second to land", 90_000);

    const agents = [...new Set(s.crew.sessions.map((x) => x.agent))].sort();
    const polecat = s.crew.sessions.find((x) => x.role === "Polecat")?.agent ?? "";
    expect(s.crew.sessions.filter((x) => x.agent === polecat).map((x) => x.bead)).toEqual(["first", "second"]);
    const made = await claims(s.ns);
    expect(made.map((c) => c.metadata.name).sort()).toEqual(agents.map((a) => `${a}-home`));
    for (const c of made) {
      const owner = c.metadata.labels?.[LABELS.agent] ?? "";
      const agent = await agentOf(s.ns, owner);
      expect(c.metadata.name).toBe(`${owner}-home`);
      expect(c.metadata.ownerReferences).toEqual([
        expect.objectContaining({ kind: "Agent", name: owner, uid: agent.metadata.uid, controller: true }),
      ]);
      expect(c.spec.storageClassName).toBe(storageClass);
      expect(c.spec.resources.requests.storage).toBe("1Gi");
    }
    // Every session pod mounts its own agent's claim at HOME, and only that one.
    const sessionPods = s.pods.filter((p) => p.metadata.labels?.[LABELS.agent]);
    expect(sessionPods.length).toBe(s.crew.sessions.length);
    for (const p of sessionPods) {
      const agent = p.metadata.labels?.[LABELS.agent];
      const claimVolumes = p.spec.volumes.filter((v) => v.persistentVolumeClaim);
      expect(claimVolumes).toEqual([{ name: "home", persistentVolumeClaim: { claimName: `${agent}-home` } }]);
      const c = p.spec.containers[0];
      expect(c?.volumeMounts).toContainEqual({ name: "home", mountPath: "/workspace/home" });
      expect(c?.env).toContainEqual({ name: "HOME", value: "/workspace/home" });
    }

    // Deleting the Agent deletes its claim (the garbage collector, once no pod uses it).
    await http.json({ method: "DELETE", path: `/apis/${API}/namespaces/${s.ns}/agents/${polecat}` });
    await waitForList(
      kubeConfig(),
      { apiVersion: "v1", kind: "PersistentVolumeClaim", namespace: s.ns },
      (items) => !items.some((c) => c.metadata?.name === `${polecat}-home`),
      { description: `claim ${polecat}-home to go with its Agent`, timeoutMs: 60_000 },
    );
  });
});

describe("Town.spec.agents.home that cannot be had: the work is held, not charged, and resumes by itself", () => {
  const agentCondition = async (ns: string) => {
    const list = await http.json<{ items: Agent[] }>({ method: "GET", path: `/apis/${API}/namespaces/${ns}/agents` });
    return list.items.flatMap((a) => a.status?.conditions ?? []).find((c) => c.type === "SessionFailed");
  };

  it("a StorageClass that does not exist: said at once, no claim made; lands once the Town names one", async () => {
    await storage(2);
    const s = await scene("home-class", { storageClassName: `${storageClass}-missing` });
    await bead(s.ns, "x");
    const held = await waitForBead(s.ns, "x", (b) => b?.status?.hold?.reason === "SessionCannotStart", "x to be held");
    const missing = `storageclass.storage.k8s.io "${storageClass}-missing" not found`;
    expect(held?.status?.hold?.message).toContain(missing);
    expect(held?.status?.hold?.message).toContain("HOME");
    expect(held?.status?.dispatchAttempts ?? 0).toBe(0);
    expect((await agentCondition(s.ns))?.message).toContain(missing);
    expect(await claims(s.ns)).toEqual([]);

    await http.json({
      method: "PATCH",
      path: `/apis/${API}/namespaces/${s.ns}/towns/gt`,
      contentType: "application/merge-patch+json",
      body: { spec: { agents: { home: { storageClassName: storageClass } } } },
    });
    const closed = await waitForBead(s.ns, "x", (b) => b?.status?.phase === "Closed", "x to land", 90_000);
    expect(closed?.status?.dispatchAttempts).toBe(1);
  });

  it("a claim a ResourceQuota refuses: held with the apiserver's message; lands once the quota is gone", async () => {
    await storage(2);
    const s = await scene("home-quota", { storageClassName: storageClass }, async (ns) => {
      await http.json({
        method: "POST",
        path: `/api/v1/namespaces/${ns}/resourcequotas`,
        body: {
          apiVersion: "v1",
          kind: "ResourceQuota",
          metadata: { name: "fence" },
          spec: { hard: { persistentvolumeclaims: "0" } },
        },
      });
    });
    await bead(s.ns, "x");
    const held = await waitForBead(s.ns, "x", (b) => b?.status?.hold?.reason === "SessionCannotStart", "x to be held");
    expect(held?.status?.hold?.message).toContain("exceeded quota");
    expect(held?.status?.hold?.message).toMatch(/the apiserver refused PersistentVolumeClaim .*-home, agent .*'s HOME/);
    expect(held?.status?.dispatchAttempts ?? 0).toBe(0);
    expect((await agentCondition(s.ns))?.message).toContain("exceeded quota");

    await http.json({ method: "DELETE", path: `/api/v1/namespaces/${s.ns}/resourcequotas/fence` });
    const closed = await waitForBead(s.ns, "x", (b) => b?.status?.phase === "Closed", "x to land", 90_000);
    expect(closed?.status?.dispatchAttempts).toBe(1);
  });
});
