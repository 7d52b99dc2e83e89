// A Town whose session workspaces are PersistentVolumeClaims (agents.workspace.storageClassName):
// each session pod gets its own ephemeral claim, the node image's local-path provisioner binds it,
// and the agent works in it as in an emptyDir.
import type { V1PersistentVolume, V1PersistentVolumeClaim } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { runKubectl } from "../support/kube.ts";
import { applyBead, applyTown, onlyPolecat, scenarioNamespace, serveRig, waitForBead } from "./support/town.ts";

describe("session workspaces on PersistentVolumeClaims", () => {
  it("binds a claim per session through the node's provisioner, and the bead is done in it", async () => {
    const ns = await scenarioNamespace("kind-pvc");
    const rig = await serveRig(ns);
    await applyTown(ns, "stored", rig, { workspace: { storageClassName: "standard", size: "64Mi" } });
    await applyBead(ns, "stored", "on-disk", "Work on a persistent volume");
    await waitForBead(ns, "on-disk", (b) => b?.status?.phase === "Closed", "to be Closed");

    const pod = `${(await onlyPolecat(ns)).metadata!.name!}-1`;
    // An ephemeral volume's claim is named <pod>-<volume> and owned by the pod.
    const claim = JSON.parse(
      await runKubectl(["get", "pvc", `${pod}-workspace`, "-n", ns, "-o", "json"]),
    ) as V1PersistentVolumeClaim;
    expect(claim.status?.phase).toBe("Bound");
    expect(claim.spec?.storageClassName).toBe("standard");
    expect(claim.metadata?.ownerReferences?.map((o) => `${o.kind}/${o.name}`)).toEqual([`Pod/${pod}`]);
    const volume = JSON.parse(
      await runKubectl(["get", "pv", claim.spec!.volumeName!, "-o", "json"]),
    ) as V1PersistentVolume;
    expect(volume.metadata?.annotations?.["pv.kubernetes.io/provisioned-by"]).toBe("rancher.io/local-path");
    expect(await rig.git("ls-tree", "--name-only", "main", "beads/")).toEqual(["beads/on-disk.md"]);
  });
});
