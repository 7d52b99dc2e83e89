// A session pod deleted while its agent works (a node drain, a person, an eviction): the agent is
// seen to have lost its session, and the bead is dispatched again to finish the work.
import type { V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { LABELS } from "../../src/controller/resources.ts";
import { kubeConfig, retryUntil, runKubectl, waitForList } from "../support/kube.ts";
import {
  applyBead,
  applyTown,
  inFirstPolecatSession,
  onlyPolecat,
  scenarioNamespace,
  serveRig,
  waitForBead,
} from "./support/town.ts";

const MARK = "working on it, for a long time";

describe("a session pod deleted mid-run", () => {
  it("is noticed as a lost session and the bead is re-dispatched", async () => {
    const ns = await scenarioNamespace("kind-deleted");
    const rig = await serveRig(ns);
    await applyTown(ns, "drained", rig, { command: inFirstPolecatSession(`echo '${MARK}'; exec sleep 600`) });
    await applyBead(ns, "drained", "long-haul", "Work that outlives its pod");

    const [pod] = await waitForList<V1Pod>(
      kubeConfig(),
      { apiVersion: "v1", kind: "Pod", namespace: ns, labelSelector: `${LABELS.role}=polecat,${LABELS.session}=1` },
      (pods) => pods.length === 1 && pods[0]?.status?.phase === "Running",
      { description: "the first polecat session to run", timeoutMs: 180_000 },
    );
    const name = pod!.metadata!.name!;
    // Logs have no watch: poll until the agent command itself is running.
    await retryUntil(
      `${name} to print its mark`,
      async () => {
        const logs = await runKubectl(["logs", "-n", ns, name]);
        if (!logs.includes(MARK)) throw new Error(`not yet: ${logs}`);
      },
      120_000,
    );
    await runKubectl(["delete", "pod", "-n", ns, name, "--wait=false"]);

    const bead = await waitForBead(ns, "long-haul", (b) => b?.status?.phase === "Closed", "to be Closed");
    expect(bead?.status?.dispatchAttempts).toBe(2);
    const polecat = await onlyPolecat(ns);
    expect(polecat.status?.lastSessionExit?.session).toBe(1);
    // Gone, or seen failing on the SIGTERM the deletion sent (tini → gt → sleep: 128 + 15).
    expect(polecat.status?.lastSessionExit?.reason).toMatch(/is gone|exit code 143/);
    expect(await rig.git("ls-tree", "--name-only", "main", "beads/")).toEqual(["beads/long-haul.md"]);
  });
});
