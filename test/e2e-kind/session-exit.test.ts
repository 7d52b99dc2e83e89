// A session whose agent command exits non-zero, on a real pod: the attempt fails with the
// container's exit code, the bead is dispatched again after the back-off (to the same polecat,
// session 2), and the failed pod's `kubectl logs` is the `gt run` log that says what happened.
import { describe, expect, it } from "vitest";
import { runKubectl } from "../support/kube.ts";
import {
  applyBead,
  applyTown,
  eventsFor,
  inFirstPolecatSession,
  onlyPolecat,
  scenarioNamespace,
  serveRig,
  sessionPod,
  waitForBead,
} from "./support/town.ts";

describe("a session that exits non-zero", () => {
  it("fails that attempt with its exit code, is re-dispatched, and its pod's logs are the gt run log", async () => {
    const ns = await scenarioNamespace("kind-exit");
    const rig = await serveRig(ns);
    await applyTown(ns, "exits", rig, {
      command: inFirstPolecatSession("echo 'giving up on purpose' >&2; exit 3"),
    });
    await applyBead(ns, "exits", "flaky-start", "Survive a crashing agent");
    const bead = await waitForBead(ns, "flaky-start", (b) => b?.status?.phase === "Closed", "to be Closed");
    expect(bead?.status?.dispatchAttempts).toBe(2);

    const polecat = await onlyPolecat(ns);
    const agent = polecat.metadata!.name!;
    expect(polecat.status?.lastSessionExit).toMatchObject({ session: 1, exitCode: 3 });
    expect(polecat.status?.lastSessionExit?.reason).toMatch(/exit code 3/);
    const first = await sessionPod(ns, `${agent}-1`);
    expect(first.status?.phase).toBe("Failed");
    expect(first.status?.containerStatuses?.[0]?.state?.terminated?.exitCode).toBe(3);
    expect((await eventsFor(ns, "Bead", "flaky-start")).join("\n")).toMatch(/exit code 3/);

    const logs = await runKubectl(["logs", "-n", ns, `${agent}-1`]);
    expect(logs).toMatch(/^gt run: starting .* in \/workspace\/repo$/m);
    expect(logs).toContain("giving up on purpose");
    expect(logs).toMatch(/^gt run: agent exited with status 3$/m);
    // The second session ran the demo agent to the end.
    expect(await runKubectl(["logs", "-n", ns, `${agent}-2`])).toMatch(/^gt run: agent exited with status 0$/m);
    expect(await rig.git("ls-tree", "--name-only", "main", "beads/")).toEqual(["beads/flaky-start.md"]);
  });
});
