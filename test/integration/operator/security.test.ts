// Agents are confined to their own objects: with an agent's own token, the apiserver (RBAC and the
// admission policy) refuses everything docs/security.md does not grant.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentClient } from "../../../src/agent/client.ts";
import type { Operator } from "../../../src/controller/operator.ts";
import { createKubeHttp, type KubeHttp } from "../../../src/kube/http.ts";
import { Crew } from "../../support/crew.ts";
import {
  adminHttp,
  agentKubeConfig,
  create,
  kubeConfigFromFile,
  refused,
  startTestOperator,
  townManifest,
  waitForBead,
} from "../../support/gastown.ts";
import { createNamespace, retryUntil, runKubectl } from "../../support/kube.ts";

const POLICY = join(import.meta.dirname, "..", "..", "..", "manifests", "base", "admission-policy.yaml");

describe("agent confinement", () => {
  let http: KubeHttp;
  let ns: string;
  let operator: Operator;
  let crew: Crew;
  let agentHttp: KubeHttp;
  let me: AgentClient;

  beforeAll(async () => {
    http = adminHttp();
    ns = await createNamespace("security");
    await runKubectl(["apply", "-f", "-"], readFileSync(POLICY, "utf8"));
    // Both polecats hang on their work, so both identities exist while the test runs.
    crew = new Crew(kubeConfigFromFile(), ns, async () => {}).start();
    operator = await startTestOperator(ns);
    await create(http, ns, townManifest("gt"));
    for (const name of ["mine", "theirs"]) {
      await create(http, ns, {
        apiVersion: "gastown.dev/v1alpha1",
        kind: "Bead",
        metadata: { name },
        spec: { town: "gt", rig: "app", title: name },
      });
    }
    await waitForBead(ns, "mine", (b) => b?.status?.phase === "InProgress", "to be dispatched");
    await waitForBead(ns, "theirs", (b) => b?.status?.phase === "InProgress", "to be dispatched");
    const mine = await http.json<{ status: { assignee: string } }>({
      method: "GET",
      path: `/apis/gastown.dev/v1alpha1/namespaces/${ns}/beads/mine`,
    });
    agentHttp = createKubeHttp(await agentKubeConfig(http, ns, mine.status.assignee));
    me = new AgentClient(agentHttp, { namespace: ns, town: "gt", agent: mine.status.assignee, session: 1 });
  });

  afterAll(async () => {
    await crew?.stop();
    await operator?.stop();
  });

  const other = async () => {
    const b = await http.json<{ status: { assignee: string } }>({
      method: "GET",
      path: `/apis/gastown.dev/v1alpha1/namespaces/${ns}/beads/theirs`,
    });
    return b.status.assignee;
  };

  it("may report as itself, renew its own Lease and read its own Agent and bead", async () => {
    await me.heartbeat("pod", { time: Date.now(), kind: "test", activeTools: 0 });
    expect((await me.agent()).metadata.name).toBe(me.id.agent);
    expect((await me.bead("mine")).spec.title).toBe("mine");
    expect(await me.report({ type: "Escalate", bead: "mine", severity: "Low", message: "just checking" })).toMatch(
      /^gt-app-/,
    );
  });

  it("cannot create a report for another agent (the admission policy denies it)", async () => {
    const theirs = await other();
    const impostor = new AgentClient(agentHttp, { namespace: ns, town: "gt", agent: theirs, session: 1 });
    // The policy reaches the apiserver's admission cache asynchronously after it is applied.
    const err = await retryUntil("the admission policy to deny impostor reports", () =>
      refused(impostor.report({ type: "Done", bead: "theirs", branch: "gt/app/theirs" })),
    );
    expect(err.statusCode).toBe(403);
    expect(err.message).toContain(`cannot create a report for agent ${theirs}`);
  });

  it("cannot read Secrets, patch beads, or touch other agents and their Leases", async () => {
    const theirs = await other();
    await http.json({
      method: "POST",
      path: `/api/v1/namespaces/${ns}/secrets`,
      body: { metadata: { name: "model-keys" }, stringData: { KEY: "sk-secret" } },
    });
    const cases: [string, () => Promise<unknown>][] = [
      ["get a secret", () => agentHttp.json({ method: "GET", path: `/api/v1/namespaces/${ns}/secrets/model-keys` })],
      ["list secrets", () => agentHttp.json({ method: "GET", path: `/api/v1/namespaces/${ns}/secrets` })],
      [
        "patch its own bead",
        () =>
          agentHttp.json({
            method: "PATCH",
            path: `/apis/gastown.dev/v1alpha1/namespaces/${ns}/beads/mine/status`,
            contentType: "application/merge-patch+json",
            body: { status: { phase: "Closed" } },
          }),
      ],
      [
        "read another bead",
        () => agentHttp.json({ method: "GET", path: `/apis/gastown.dev/v1alpha1/namespaces/${ns}/beads/theirs` }),
      ],
      [
        "read another agent",
        () => agentHttp.json({ method: "GET", path: `/apis/gastown.dev/v1alpha1/namespaces/${ns}/agents/${theirs}` }),
      ],
      [
        "patch another agent",
        () =>
          agentHttp.json({
            method: "PATCH",
            path: `/apis/gastown.dev/v1alpha1/namespaces/${ns}/agents/${theirs}`,
            contentType: "application/merge-patch+json",
            body: { spec: { hook: "mine" } },
          }),
      ],
      [
        "patch its own agent",
        () =>
          agentHttp.json({
            method: "PATCH",
            path: `/apis/gastown.dev/v1alpha1/namespaces/${ns}/agents/${me.id.agent}`,
            contentType: "application/merge-patch+json",
            body: { spec: { hook: "theirs" } },
          }),
      ],
      [
        "renew another agent's Lease",
        () =>
          agentHttp.json({
            method: "PATCH",
            path: `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${theirs}`,
            contentType: "application/merge-patch+json",
            body: { spec: { holderIdentity: "me" } },
          }),
      ],
      [
        "create a pod",
        () =>
          agentHttp.json({
            method: "POST",
            path: `/api/v1/namespaces/${ns}/pods`,
            body: { metadata: { name: "x" }, spec: { containers: [{ name: "x", image: "x" }] } },
          }),
      ],
      [
        "delete a report",
        () =>
          agentHttp.json({
            method: "DELETE",
            path: `/apis/gastown.dev/v1alpha1/namespaces/${ns}/agentreports/anything`,
          }),
      ],
    ];
    for (const [what, call] of cases) {
      const err = await refused(call());
      expect(err.statusCode, `${what}: ${err.message}`).toBe(403);
    }
  });
});
