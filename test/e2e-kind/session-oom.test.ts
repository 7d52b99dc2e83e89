// A session over its memory limit, on a real node: the kernel's OOM killer ends it, the kubelet
// reports OOMKilled, and that is the failed attempt's recorded reason; the next session succeeds.
import { describe, expect, it } from "vitest";
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

// Allocates (and touches) 16 MiB at a time until the cgroup's limit stops it.
const HOG = `node -e 'const held = []; for (;;) held.push(Buffer.alloc(16 << 20, 1))'`;

describe("a session over its memory limit", () => {
  it("is OOMKilled, recorded as the attempt's reason, and the bead is re-dispatched", async () => {
    const ns = await scenarioNamespace("kind-oom");
    const rig = await serveRig(ns);
    await applyTown(ns, "hungry", rig, {
      command: inFirstPolecatSession(`exec ${HOG}`),
      // Room for gt run, git and the demo agent; not for the hog.
      resources: { requests: { memory: "128Mi" }, limits: { memory: "256Mi" } },
    });
    await applyBead(ns, "hungry", "big-data", "Load everything into memory");
    const bead = await waitForBead(ns, "big-data", (b) => b?.status?.phase === "Closed", "to be Closed");
    expect(bead?.status?.dispatchAttempts).toBe(2);

    const polecat = await onlyPolecat(ns);
    const first = await sessionPod(ns, `${polecat.metadata!.name!}-1`);
    expect(first.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({ reason: "OOMKilled" });
    expect(polecat.status?.lastSessionExit?.session).toBe(1);
    expect(polecat.status?.lastSessionExit?.reason).toMatch(/OOMKilled/);
    expect((await eventsFor(ns, "Agent", polecat.metadata!.name!)).join("\n")).toMatch(/OOMKilled/);
  });
});
