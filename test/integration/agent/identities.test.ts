// Agent identities against the real apiserver: the first session of an agent creates its
// ServiceAccount, Role, RoleBinding and Lease; later sessions only rewrite the Role's bead list;
// an object deleted behind the operator's back is noticed and created again.
import { beforeAll, describe, expect, it } from "vitest";
import type { KubeHttp, KubeRequest } from "../../../src/kube/http.ts";
import { createAgentIdentities } from "../../../src/runtime/agent-identity.ts";
import { adminHttp } from "../../support/gastown.ts";
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
});
