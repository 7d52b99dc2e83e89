// Agent identities against the real apiserver: the first session of an agent creates its
// ServiceAccount, Role, RoleBinding and Lease; later sessions only rewrite the Role's bead list;
// an object deleted behind the operator's back is noticed and created again; an object with the
// agent's name the operator did not make is never adopted, and the session does not start; the
// same for an agent's home claim (Town.spec.agents.home).
import { beforeAll, describe, expect, it } from "vitest";
import { TownSchema } from "../../../src/api/town.ts";
import { silentLogger } from "../../../src/controller/logger.ts";
import type { KubeHttp, KubeRequest } from "../../../src/kube/http.ts";
import { ensureAgentHome, HomeVolumeBusyError } from "../../../src/runtime/agent-home.ts";
import { createAgentIdentities } from "../../../src/runtime/agent-identity.ts";
import { createPodRuntime } from "../../../src/runtime/pod-runtime.ts";
import type { StartRequest } from "../../../src/runtime/session-runtime.ts";
import { adminHttp, townManifest } from "../../support/gastown.ts";
import { createNamespace } from "../../support/kube.ts";
import { createAgent } from "./support.ts";

const AGENT = "gt-app-maple";

describe("agent identities", () => {
  let admin: KubeHttp;
  let ns: string;
  let uid: string;
  const writes: string[] = [];
  // Every request the identities make, as "METHOD path", so the test can count them.
  const counted: KubeHttp = {
    json<T>(r: KubeRequest) {
      writes.push(`${r.method} ${r.path}`);
      return admin.json<T>(r);
    },
    lines: (r, onLine) => admin.lines(r, onLine),
  };
  const rbac = () => `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}`;
  const roleBeads = async () =>
    (
      await admin.json<{ rules: { resources: string[]; resourceNames?: string[] }[] }>({
        method: "GET",
        path: `${rbac()}/roles/${AGENT}`,
      })
    ).rules.find((r) => r.resources.includes("beads"))?.resourceNames;

  beforeAll(async () => {
    admin = adminHttp();
    ns = await createNamespace("identities");
    uid = await createAgent(admin, ns, AGENT);
  });

  it("creates everything once, then costs one write per session", async () => {
    const identities = createAgentIdentities(counted);
    const agent = { namespace: ns, town: "gt", name: AGENT, uid };
    await identities.ensure(agent, ["b1"], 90);
    expect(writes.filter((w) => w.startsWith("POST"))).toHaveLength(4);
    for (const path of [`/api/v1/namespaces/${ns}/serviceaccounts/${AGENT}`, `${rbac()}/rolebindings/${AGENT}`])
      await admin.json({ method: "GET", path });
    await admin.json({ method: "GET", path: `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${AGENT}` });
    expect(await roleBeads()).toEqual(["b1"]);

    writes.length = 0;
    await identities.ensure(agent, ["b2", "b2-mr-1"], 90);
    expect(writes).toEqual([`PATCH ${rbac()}/roles/${AGENT}`]);
    expect(await roleBeads()).toEqual(["b2", "b2-mr-1"]);
  });

  it("creates the Role again when it was deleted, and everything again after forget()", async () => {
    const identities = createAgentIdentities(counted);
    const agent = { namespace: ns, town: "gt", name: AGENT, uid };
    await identities.ensure(agent, ["b3"], 90);
    await admin.json({ method: "DELETE", path: `${rbac()}/roles/${AGENT}` });
    await identities.ensure(agent, ["b4"], 90);
    expect(await roleBeads()).toEqual(["b4"]);

    await admin.json({ method: "DELETE", path: `/api/v1/namespaces/${ns}/serviceaccounts/${AGENT}` });
    identities.forget(uid);
    await identities.ensure(agent, ["b5"], 90);
    await admin.json({ method: "GET", path: `/api/v1/namespaces/${ns}/serviceaccounts/${AGENT}` });
  });

  const startRequest = (agent: string, agentUid: string): StartRequest => ({
    namespace: ns,
    town: TownSchema.parse({ ...townManifest("gt"), metadata: { name: "gt", namespace: ns } }),
    agent: { name: agent, uid: agentUid },
    action: {
      type: "StartSession",
      agent,
      role: "Polecat",
      rig: "app",
      session: 1,
      pod: `${agent}-1`,
      bead: "b1",
      context: {
        beadTitle: "t",
        beadDescription: "",
        branch: "gt/app/b1",
        baseBranch: "main",
        targetBranch: "main",
        mergeStrategy: "Direct",
        gates: [],
      },
      why: { reason: "Dispatched", message: "test" },
    },
  });

  it.each([
    {
      kind: "Role",
      plural: "roles",
      path: () => `${rbac()}/roles`,
      body: (name: string) => ({
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: { name },
        rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get", "list"] }],
      }),
    },
    {
      kind: "ServiceAccount",
      plural: "serviceaccounts",
      path: () => `/api/v1/namespaces/${ns}/serviceaccounts`,
      body: (name: string) => ({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name } }),
    },
    {
      kind: "RoleBinding",
      plural: "rolebindings",
      path: () => `${rbac()}/rolebindings`,
      body: (name: string) => ({
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { name },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "admin" },
        subjects: [{ kind: "ServiceAccount", name, namespace: ns }],
      }),
    },
  ])(
    "a planted $kind with the agent's name is not adopted: the session is refused naming it and the fix",
    async (c) => {
      const agent = `gt-app-planted-${c.kind.toLowerCase()}`;
      const agentUid = await createAgent(admin, ns, agent);
      const planted = await admin.json<{ metadata: { resourceVersion: string } }>({
        method: "POST",
        path: c.path(),
        body: c.body(agent),
      });
      const runtime = createPodRuntime({ http: admin, namespace: ns, logger: silentLogger() });
      // Refused like a pod the apiserver refuses (the work is held), not thrown as a failed reconcile.
      await runtime.start(startRequest(agent, agentUid));
      const [refused] = runtime.observe(ns, "gt").filter((o) => o.agent === agent);
      expect(refused?.refused?.reason).toBe("IdentityConflict");
      expect(refused?.refused?.what).toBe(`agent ${agent}'s identity`);
      const message = refused?.refused?.message ?? "";
      expect(message).toContain(
        `${c.kind} ${ns}/${agent} already exists and has no controller reference to Agent ${agent}`,
      );
      expect(message).toContain(`kubectl -n ${ns} delete ${c.plural} ${agent}`);
      // Untouched, and no session was started with it.
      const after = await admin.json<{ metadata: { resourceVersion: string } }>({
        method: "GET",
        path: `${c.path()}/${agent}`,
      });
      expect(after.metadata.resourceVersion).toBe(planted.metadata.resourceVersion);
      const pod = await admin.json({ method: "GET", path: `/api/v1/namespaces/${ns}/pods/${agent}-1` }).then(
        () => "created",
        () => "absent",
      );
      expect(pod).toBe("absent");
    },
  );

  it("a planted claim with the agent's home name is not mounted: the session is refused naming it", async () => {
    const agent = "gt-app-planted-home";
    const agentUid = await createAgent(admin, ns, agent);
    const claims = `/api/v1/namespaces/${ns}/persistentvolumeclaims`;
    const planted = await admin.json<{ metadata: { resourceVersion: string } }>({
      method: "POST",
      path: claims,
      body: {
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        metadata: { name: `${agent}-home` },
        spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
      },
    });
    const runtime = createPodRuntime({ http: admin, namespace: ns, logger: silentLogger() });
    const req = startRequest(agent, agentUid);
    // No storage class is checked for a claim that exists already: the class is fixed with it.
    req.town.spec.agents.home = { size: "1Gi" };
    await runtime.start(req);
    const [refused] = runtime.observe(ns, "gt").filter((o) => o.agent === agent);
    expect(refused?.refused?.reason).toBe("HomeVolumeConflict");
    expect(refused?.refused?.what).toBe(`agent ${agent}'s HOME`);
    expect(refused?.refused?.message).toContain(
      `PersistentVolumeClaim ${ns}/${agent}-home already exists and has no controller reference to Agent ${agent}`,
    );
    expect(refused?.refused?.message).toContain(`kubectl -n ${ns} delete persistentvolumeclaims ${agent}-home`);
    const after = await admin.json<{ metadata: { resourceVersion: string } }>({
      method: "GET",
      path: `${claims}/${agent}-home`,
    });
    expect(after.metadata.resourceVersion).toBe(planted.metadata.resourceVersion);
    const pod = await admin.json({ method: "GET", path: `/api/v1/namespaces/${ns}/pods/${agent}-1` }).then(
      () => "created",
      () => "absent",
    );
    expect(pod).toBe("absent");
  });

  it("does not reuse the home claim of an earlier Agent of the same name: the start waits", async () => {
    const agent = "gt-app-renewed";
    const first = await createAgent(admin, ns, agent);
    const claim = `/api/v1/namespaces/${ns}/persistentvolumeclaims/${agent}-home`;
    // A finalizer keeps the claim while the garbage collector deletes it, so what the operator sees
    // is deterministic: a claim controlled by the earlier Agent's uid, gone or not yet.
    await admin.json({
      method: "POST",
      path: `/api/v1/namespaces/${ns}/persistentvolumeclaims`,
      body: {
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        metadata: {
          name: `${agent}-home`,
          finalizers: ["gastown.dev/test-hold"],
          ownerReferences: [
            { apiVersion: "gastown.dev/v1alpha1", kind: "Agent", name: agent, uid: first, controller: true },
          ],
        },
        spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
      },
    });
    try {
      await admin.json({ method: "DELETE", path: `/apis/gastown.dev/v1alpha1/namespaces/${ns}/agents/${agent}` });
      const second = await createAgent(admin, ns, agent);
      const failure = await ensureAgentHome(admin, { namespace: ns, town: "gt", name: agent, uid: second }, {}).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((failure as Error).message).toContain(`belongs to an earlier Agent ${agent} (uid ${first})`);
      expect(failure).toBeInstanceOf(HomeVolumeBusyError);
    } finally {
      await admin.json({
        method: "PATCH",
        path: claim,
        contentType: "application/merge-patch+json",
        body: { metadata: { finalizers: null } },
      });
    }
  });

  it("replaces what an earlier Agent of the same name left behind", async () => {
    const agent = "gt-app-reborn";
    const first = await createAgent(admin, ns, agent);
    await createAgentIdentities(admin).ensure({ namespace: ns, town: "gt", name: agent, uid: first }, ["b1"], 90);
    // The Agent is deleted and made again, likely before the garbage collector took its identity:
    // what it left is either gone or controlled by the old uid, never a reason to refuse.
    await admin.json({ method: "DELETE", path: `/apis/gastown.dev/v1alpha1/namespaces/${ns}/agents/${agent}` });
    const second = await createAgent(admin, ns, agent);
    await createAgentIdentities(admin).ensure({ namespace: ns, town: "gt", name: agent, uid: second }, ["b2"], 90);
    const role = await admin.json<{ metadata: { ownerReferences: { uid: string }[] } }>({
      method: "GET",
      path: `${rbac()}/roles/${agent}`,
    });
    expect(role.metadata.ownerReferences.map((r) => r.uid)).toEqual([second]);
  });
});
