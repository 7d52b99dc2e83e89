// The agent pod template fields of a Town on the real apiserver: the CRD's CEL rules refuse what a
// pod could never carry (reserved labels, an Exists toleration with a value) with a message naming
// the field, and the session pod built from a stored Town, with a RuntimeClass, a PriorityClass,
// tolerations, affinity and pull secrets, passes the apiserver's admission in a namespace that
// enforces the restricted Pod Security profile. A RuntimeClass that does not exist is refused:
// the fields really reach the pod.

import { KubernetesObjectApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Town, TownSchema } from "../../src/api/town.ts";
import type { ActionOf } from "../../src/core/actions.ts";
import { ensureAgentIdentity } from "../../src/runtime/agent-identity.ts";
import { sessionPod } from "../../src/runtime/pod-spec.ts";
import { adminHttp, create, refused, townManifest } from "../support/gastown.ts";
import { createNamespace, kubeConfig } from "../support/kube.ts";

const http = adminHttp();
let ns: string;
const suffix = Math.random().toString(36).slice(2, 8);
const runtimeClass = `sandbox-${suffix}`;
const priorityClass = `agents-${suffix}`;

const template = {
  image: "registry.example/agent:v1",
  imagePullSecrets: [{ name: "regcred" }],
  nodeSelector: { "kubernetes.io/os": "linux" },
  tolerations: [{ key: "gastown.dev/agents", operator: "Exists", effect: "NoSchedule" }],
  affinity: {
    nodeAffinity: {
      preferredDuringSchedulingIgnoredDuringExecution: [
        { weight: 10, preference: { matchExpressions: [{ key: "zone", operator: "In", values: ["a"] }] } },
      ],
    },
  },
  priorityClassName: priorityClass,
  runtimeClassName: runtimeClass,
  podLabels: { team: "platform" },
  podAnnotations: { "example.com/owner": "platform" },
  serviceAccountAnnotations: { "iam.example.com/role": "agents" },
  resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "1Gi" } },
};

function townWith(name: string, agents: Record<string, unknown>) {
  const t = townManifest(name);
  return { ...t, spec: { ...t.spec, agents: { ...t.spec.agents, ...agents } } };
}

const objects = KubernetesObjectApi.makeApiClient(kubeConfig());

beforeAll(async () => {
  ns = await createNamespace("pod-template", { labels: { "pod-security.kubernetes.io/enforce": "restricted" } });
  await http.json({
    method: "POST",
    path: "/apis/node.k8s.io/v1/runtimeclasses",
    body: { apiVersion: "node.k8s.io/v1", kind: "RuntimeClass", metadata: { name: runtimeClass }, handler: "runsc" },
  });
  await http.json({
    method: "POST",
    path: "/apis/scheduling.k8s.io/v1/priorityclasses",
    body: { apiVersion: "scheduling.k8s.io/v1", kind: "PriorityClass", metadata: { name: priorityClass }, value: 10 },
  });
  await http.json({
    method: "POST",
    path: `/api/v1/namespaces/${ns}/serviceaccounts`,
    body: { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "gt-app-toast" } },
  });
});

afterAll(async () => {
  await http.json({ method: "DELETE", path: `/apis/node.k8s.io/v1/runtimeclasses/${runtimeClass}` }).catch(() => {});
  await http
    .json({ method: "DELETE", path: `/apis/scheduling.k8s.io/v1/priorityclasses/${priorityClass}` })
    .catch(() => {});
});

function startAction(): ActionOf<"StartSession"> {
  return {
    type: "StartSession",
    agent: "gt-app-toast",
    role: "Polecat",
    rig: "app",
    session: 1,
    pod: "gt-app-toast-1",
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
  } as unknown as ActionOf<"StartSession">;
}

async function dryRunPod(town: Town) {
  const pod = sessionPod({ namespace: ns, town, agent: { name: "gt-app-toast", uid: "0000" }, action: startAction() });
  // No owner: the Agent does not exist; the dry run is about the pod spec.
  delete (pod.metadata as { ownerReferences?: unknown }).ownerReferences;
  return http.json({ method: "POST", path: `/api/v1/namespaces/${ns}/pods`, query: { dryRun: "All" }, body: pod });
}

describe("Town.spec.agents pod template on the apiserver", () => {
  it("stores every field and builds a pod the restricted namespace admits", async () => {
    await create(http, ns, townWith("full", template));
    const stored = await objects.read({
      apiVersion: "gastown.dev/v1alpha1",
      kind: "Town",
      metadata: { name: "full", namespace: ns },
    });
    const town = TownSchema.parse(JSON.parse(JSON.stringify(stored)));
    expect(town.spec.agents).toMatchObject(template);
    await dryRunPod(town);
  });

  it("refuses reserved pod label and annotation keys, naming the field", async () => {
    for (const [field, value] of [
      ["podLabels", { "gastown.dev/agent": "someone-else" }],
      ["podAnnotations", { "gastown.dev/bead": "x" }],
      ["podLabels", { "app.kubernetes.io/managed-by": "me" }],
      ["podLabels", { "app.kubernetes.io/name": "not-a-session" }],
    ] as const) {
      const err = await refused(
        create(http, ns, townWith(`reserved-${suffix}`, { [field]: value })).then(() => "created"),
      );
      expect(err.statusCode).toBe(422);
      expect(err.message).toContain(`spec.agents.${field}`);
      expect(err.message).toContain("the operator owns them");
    }
  });

  it("refuses a toleration that names a value with operator Exists", async () => {
    const err = await refused(
      create(
        http,
        ns,
        townWith(`toleration-${suffix}`, { tolerations: [{ key: "k", operator: "Exists", value: "v" }] }),
      ),
    );
    expect(err.message).toContain("spec.agents.tolerations[0].value");
  });

  it("passes the fields to the apiserver: a RuntimeClass that does not exist is refused", async () => {
    const t = TownSchema.parse({
      ...townWith("missing-rc", { ...template, runtimeClassName: "no-such-runtime" }),
      metadata: { name: "missing-rc", namespace: ns },
    });
    const err = await refused(dryRunPod(t));
    expect(err.message).toMatch(/no-such-runtime/);
  });

  it("puts serviceAccountAnnotations and the recommended labels on the agent's ServiceAccount", async () => {
    const name = `gt-app-maple-${suffix}`;
    // A real Agent to own the identity (the garbage collector removes objects of a missing owner).
    await create(http, ns, {
      apiVersion: "gastown.dev/v1alpha1",
      kind: "Agent",
      metadata: { name },
      spec: { town: "full", role: "Polecat", rig: "app" },
    });
    const owner = await http.json<{ metadata: { uid: string } }>({
      method: "GET",
      path: `/apis/gastown.dev/v1alpha1/namespaces/${ns}/agents/${name}`,
    });
    const agent = {
      namespace: ns,
      town: "full",
      name,
      uid: owner.metadata.uid,
      serviceAccountAnnotations: template.serviceAccountAnnotations,
    };
    await ensureAgentIdentity(http, agent, ["b1"], 90);
    const sa = await http.json<{ metadata: { annotations?: Record<string, string>; labels?: Record<string, string> } }>(
      {
        method: "GET",
        path: `/api/v1/namespaces/${ns}/serviceaccounts/${agent.name}`,
      },
    );
    expect(sa.metadata.annotations).toMatchObject(template.serviceAccountAnnotations);
    expect(sa.metadata.labels).toMatchObject({
      "app.kubernetes.io/name": "gastown-agent-identity",
      "app.kubernetes.io/instance": "full",
      "app.kubernetes.io/managed-by": "gastown-operator",
      "gastown.dev/agent": agent.name,
    });
  });
});
