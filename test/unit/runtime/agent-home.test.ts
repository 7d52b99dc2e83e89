// The claim that holds an agent's HOME: named after the agent, labelled as the operator's, the
// Agent its controller (so the garbage collector deletes it with the Agent), one ReadWriteOnce
// volume of the Town's size (1Gi by default) and class (the cluster's default when absent).
import { describe, expect, it } from "vitest";
import { homeClaim, homeClaimName } from "../../../src/runtime/agent-home.ts";

const agent = { namespace: "ns", town: "gt", name: "gt-app-toast", uid: "a-1" };

describe("an agent's home claim", () => {
  it("is the agent's, owned by its Agent, with the Town's class and size", () => {
    const c = homeClaim(agent, { storageClassName: "fast", size: "2Gi" }) as {
      metadata: { name: string; namespace: string; labels: Record<string, string>; ownerReferences: unknown[] };
      spec: Record<string, unknown>;
    };
    expect(c.metadata.name).toBe(homeClaimName("gt-app-toast"));
    expect(c.metadata.name).toBe("gt-app-toast-home");
    expect(c.metadata.namespace).toBe("ns");
    expect(c.metadata.labels).toMatchObject({
      "app.kubernetes.io/managed-by": "gastown-operator",
      "app.kubernetes.io/component": "agent-home",
      "gastown.dev/agent": "gt-app-toast",
      "gastown.dev/town": "gt",
    });
    expect(c.metadata.ownerReferences).toEqual([
      {
        apiVersion: "gastown.dev/v1alpha1",
        kind: "Agent",
        name: "gt-app-toast",
        uid: "a-1",
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    expect(c.spec).toEqual({
      accessModes: ["ReadWriteOnce"],
      storageClassName: "fast",
      resources: { requests: { storage: "2Gi" } },
    });
  });

  it("asks for 1Gi of the cluster's default class when the Town names neither", () => {
    const c = homeClaim(agent, {}) as { spec: Record<string, unknown> };
    expect(c.spec).toEqual({ accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } });
  });
});
