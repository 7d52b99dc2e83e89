// Town.spec.agents pod template → the session Pod: every scheduling and placement field reaches the
// pod, a rig's perRig entry wins over the town-wide value, and the operator's own labels, security
// context and ServiceAccount cannot be overridden by the Town.
import { describe, expect, it } from "vitest";
import { TownSchema } from "../../../src/api/town.ts";
import type { ActionOf } from "../../../src/core/actions.ts";
import { sessionPod } from "../../../src/runtime/pod-spec.ts";

const toleration = { key: "gastown.dev/agents", operator: "Exists", effect: "NoSchedule" };
const zoneAffinity = {
  nodeAffinity: {
    requiredDuringSchedulingIgnoredDuringExecution: {
      nodeSelectorTerms: [{ matchExpressions: [{ key: "zone", operator: "In", values: ["a"] }] }],
    },
  },
};

function town(agents: Record<string, unknown>) {
  return TownSchema.parse({
    apiVersion: "gastown.dev/v1alpha1",
    kind: "Town",
    metadata: { name: "gt", namespace: "ns", uid: "t-1" },
    spec: {
      rigs: [
        { name: "app", repo: "https://git.example.com/app.git" },
        { name: "gpu", repo: "https://git.example.com/gpu.git" },
      ],
      agents,
    },
  });
}

function pod(agents: Record<string, unknown>, rig = "app") {
  const action = {
    type: "StartSession",
    agent: `gt-${rig}-toast`,
    role: "Polecat",
    rig,
    session: 3,
    pod: `gt-${rig}-toast-3`,
    bead: "b1",
    context: {
      beadTitle: "t",
      beadDescription: "",
      branch: `gt/${rig}/b1`,
      baseBranch: "main",
      targetBranch: "main",
      mergeStrategy: "Direct",
      gates: [],
    },
    why: { reason: "Dispatched", message: "m" },
  } as unknown as ActionOf<"StartSession">;
  const p = sessionPod({ namespace: "ns", town: town(agents), agent: { name: action.agent, uid: "a-1" }, action }) as {
    metadata: { labels: Record<string, string>; annotations: Record<string, string> };
    spec: Record<string, unknown> & { containers: Record<string, unknown>[] };
  };
  return p;
}

const full = {
  image: "registry.example/agent:v1",
  imagePullSecrets: [{ name: "regcred" }],
  nodeSelector: { pool: "agents" },
  tolerations: [toleration],
  affinity: zoneAffinity,
  priorityClassName: "agents-low",
  runtimeClassName: "gvisor",
  podLabels: { team: "platform" },
  podAnnotations: { "example.com/cost-center": "42" },
  resources: { requests: { cpu: "500m", memory: "1Gi" }, limits: { memory: "2Gi" } },
};

describe("session pod template", () => {
  it("passes every town-wide field to the pod", () => {
    const p = pod(full);
    expect(p.spec).toMatchObject({
      imagePullSecrets: [{ name: "regcred" }],
      nodeSelector: { pool: "agents" },
      tolerations: [toleration],
      affinity: zoneAffinity,
      priorityClassName: "agents-low",
      runtimeClassName: "gvisor",
    });
    expect(p.spec.containers[0]?.resources).toEqual(full.resources);
    expect(p.metadata.labels.team).toBe("platform");
    expect(p.metadata.annotations["example.com/cost-center"]).toBe("42");
  });

  it("sets none of them when the town sets none", () => {
    const p = pod({});
    for (const field of [
      "imagePullSecrets",
      "nodeSelector",
      "tolerations",
      "affinity",
      "priorityClassName",
      "runtimeClassName",
    ])
      expect(p.spec, field).not.toHaveProperty(field);
    expect(p.spec.containers[0]).not.toHaveProperty("resources");
  });

  it("lets a rig replace scheduling fields and merge labels, for that rig only", () => {
    const agents = {
      ...full,
      perRig: [
        {
          rig: "gpu",
          nodeSelector: { accelerator: "yes" },
          tolerations: [],
          runtimeClassName: "kata",
          resources: { limits: { memory: "8Gi" } },
          podLabels: { team: "ml", gpu: "true" },
        },
      ],
    };
    const gpu = pod(agents, "gpu");
    expect(gpu.spec.nodeSelector).toEqual({ accelerator: "yes" });
    expect(gpu.spec.tolerations).toEqual([]);
    expect(gpu.spec.runtimeClassName).toBe("kata");
    expect(gpu.spec.priorityClassName).toBe("agents-low");
    expect(gpu.spec.containers[0]?.resources).toEqual({ limits: { memory: "8Gi" } });
    expect(gpu.metadata.labels).toMatchObject({ team: "ml", gpu: "true" });
    const app = pod(agents, "app");
    expect(app.spec.nodeSelector).toEqual({ pool: "agents" });
    expect(app.spec.runtimeClassName).toBe("gvisor");
    expect(app.metadata.labels.team).toBe("platform");
  });

  it("keeps the operator's labels, ServiceAccount and restricted security context whatever the town says", () => {
    // The schema refuses reserved keys at admission; the pod builder does not rely on it.
    const p = pod({ podLabels: { "app.kubernetes.io/name": "x", "gastown.dev/agent": "someone-else" } });
    expect(p.metadata.labels).toMatchObject({
      "app.kubernetes.io/managed-by": "gastown-operator",
      "app.kubernetes.io/name": "gastown-session",
      "app.kubernetes.io/instance": "gt",
      "app.kubernetes.io/component": "polecat",
      "app.kubernetes.io/part-of": "gastown",
      "gastown.dev/agent": "gt-app-toast",
      "gastown.dev/session": "3",
    });
    expect(p.spec.serviceAccountName).toBe("gt-app-toast");
    expect(p.spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
  });

  it("refuses a toleration with operator Exists and a value, and reserved label keys, in the schema's CEL rules", () => {
    // The CEL rules themselves run in the apiserver (test/integration/pod-template.test.ts); here
    // the zod side: keys and values must be Kubernetes label syntax.
    expect(() => town({ podLabels: { "bad key!": "x" } })).toThrow();
    expect(() => town({ nodeSelector: { pool: "not a label value" } })).toThrow();
    expect(() => town({ tolerations: [{ operator: "Sometimes" }] })).toThrow();
  });

  it("mounts the agent's own home claim at HOME with Town.spec.agents.home, and keeps HOME on the workspace without", () => {
    type Spec = {
      volumes: Record<string, unknown>[];
      containers: { env: { name: string; value?: string }[]; volumeMounts: Record<string, unknown>[] }[];
    };
    const withHome = pod({ home: { storageClassName: "fast", size: "2Gi" } }).spec as unknown as Spec;
    expect(withHome.volumes).toContainEqual({
      name: "home",
      persistentVolumeClaim: { claimName: "gt-app-toast-home" },
    });
    expect(withHome.containers[0]?.volumeMounts).toContainEqual({ name: "home", mountPath: "/workspace/home" });
    expect(withHome.containers[0]?.env).toContainEqual({ name: "HOME", value: "/workspace/home" });
    // A rig's perRig home replaces the town-wide one; a rig without one has none.
    const perRig = { perRig: [{ rig: "gpu", home: { size: "5Gi" } }] };
    const gpu = pod(perRig, "gpu").spec as unknown as Spec;
    expect(gpu.volumes).toContainEqual({ name: "home", persistentVolumeClaim: { claimName: "gt-gpu-toast-home" } });
    expect((pod(perRig, "app").spec as unknown as Spec).volumes.map((v) => v.name)).not.toContain("home");
    const without = pod({}).spec as unknown as Spec;
    expect(without.volumes.map((v) => v.name)).not.toContain("home");
    expect(without.containers[0]?.volumeMounts.map((m) => m.name)).not.toContain("home");
    expect(without.containers[0]?.env).toContainEqual({ name: "HOME", value: "/workspace/home" });
  });
});
