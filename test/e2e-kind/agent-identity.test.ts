// An agent's identity on a real pod: the kubelet mounts the ServiceAccount token bound to that pod,
// and with it the agent can speak only for itself. A session that tries to report as another agent
// is refused by the admission policy; one that reads a bead it was not given is refused by RBAC.
import { describe, expect, it } from "vitest";
import { API_VERSION } from "../../src/api/meta.ts";
import { runKubectl } from "../support/kube.ts";
import {
  applyBead,
  applyTown,
  inFirstPolecatSession,
  onlyPolecat,
  scenarioNamespace,
  serveRig,
  waitForBead,
} from "./support/town.ts";

const ATTEMPTS = [
  "GT_AGENT=mallory gt escalate --severity Low --message 'speaking for mallory'; echo \"as mallory: $?\"",
  'GT_BEAD=secret-plan gt prime; echo "foreign bead: $?"',
  'gt prime >/dev/null; echo "own bead: $?"',
].join("; ");

describe("an agent pod's own credentials", () => {
  it("cannot report as another agent nor read another bead, and still does its own work", async () => {
    const ns = await scenarioNamespace("kind-identity");
    const rig = await serveRig(ns);
    // A bead of another, suspended town in the same namespace: it exists, but is nobody's work here.
    await runKubectl(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: API_VERSION,
        kind: "Town",
        metadata: { name: "elsewhere", namespace: ns },
        spec: { rigs: [{ name: "app", repo: rig.repo }], suspend: true },
      }),
    );
    await applyBead(ns, "elsewhere", "secret-plan", "Not yours");
    await applyTown(ns, "honest", rig, { command: inFirstPolecatSession(ATTEMPTS) });
    await applyBead(ns, "honest", "own-work", "Do only your own work");
    await waitForBead(ns, "own-work", (b) => b?.status?.phase === "Closed", "to be Closed");

    const agent = (await onlyPolecat(ns)).metadata!.name!;
    const logs = await runKubectl(["logs", "-n", ns, `${agent}-1`]);
    const sa = `system:serviceaccount:${ns}:${agent}`;
    // The ValidatingAdmissionPolicy, for the token the kubelet mounted into this very pod.
    expect(logs).toContain(`an agent may only report as itself: ${sa} cannot create a report for agent mallory`);
    expect(logs).toMatch(/^as mallory: [1-9]\d*$/m);
    // RBAC: the agent's Role names its own beads only.
    expect(logs).toContain(`"secret-plan" is forbidden: User "${sa}" cannot get resource "beads"`);
    expect(logs).toMatch(/^foreign bead: [1-9]\d*$/m);
    expect(logs).toMatch(/^own bead: 0$/m);
    const reports = await runKubectl(["get", "agentreports", "-n", ns, "-o", "jsonpath={.items[*].spec.agent}"]);
    expect(reports.split(" ")).not.toContain("mallory");
  });
});
