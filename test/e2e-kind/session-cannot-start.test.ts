// Sessions that cannot start, on a real kubelet (docs/rules.md, "Sessions that cannot start"): the
// pod's own waiting reason is on the Bead, the Agent and the Town within one reconcile of the
// kubelet saying it, long before any heartbeat or startup timeout could have noticed.
// - An image the node does not have and cannot pull (no registry answers for it): ErrImagePull /
//   ImagePullBackOff, transient: each attempt fails at once and is retried after the back-off,
//   charged; once the image is loaded into the node (`kind load`), the next session runs it.
// - A Secret the pod's env names that does not exist: CreateContainerConfigError, configuration:
//   the bead is held (Stalled, not charged); once the Secret exists the probe starts it again.
import type { KubernetesObject, V1Pod } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { Town } from "../../src/api/town.ts";
import { LABELS } from "../../src/controller/resources.ts";
import { kubeConfig, runKubectl, waitFor, waitForList } from "../support/kube.ts";
import {
  agentOf,
  applyBead,
  applyTown,
  conditionsOf,
  eventsFor,
  images,
  loadImage,
  scenarioNamespace,
  serveRig,
  waitForBead,
} from "./support/town.ts";

// Far beyond every wait below: a failure seen here came from the pod's state, not a timeout.
const NO_TIMEOUTS = { startupGrace: "15m", heartbeatTimeout: "15m" };

/** When the test first sees a session pod waiting for one of `reasons`, and the pod. */
async function podWaiting(ns: string, reasons: string[]): Promise<{ seen: number; pod: V1Pod }> {
  const waitingReason = (p: V1Pod) => p.status?.containerStatuses?.[0]?.state?.waiting?.reason ?? "";
  const pods = await waitForList<V1Pod>(
    kubeConfig(),
    { apiVersion: "v1", kind: "Pod", namespace: ns, labelSelector: `${LABELS.role}=polecat` },
    (list) => list.some((p) => reasons.includes(waitingReason(p))),
    { description: `a session pod waiting in ${reasons.join(" or ")}`, timeoutMs: 180_000 },
  );
  return { seen: Date.now(), pod: pods.find((p) => reasons.includes(waitingReason(p)))! };
}

function townReady(
  ns: string,
  name: string,
  ready: (c: { status: string; reason: string; message: string }) => boolean,
) {
  return waitFor<KubernetesObject & { status?: Town["status"] }>(
    kubeConfig(),
    { apiVersion: "gastown.dev/v1alpha1", kind: "Town", namespace: ns, name },
    (t) => {
      const c = t?.status?.conditions?.find((x) => x.type === "Ready");
      return c !== undefined && ready(c);
    },
    { description: `town ${name}'s Ready condition`, timeoutMs: 60_000 },
  );
}

describe("a session pod whose image the node does not have", () => {
  it("fails each attempt at once with the kubelet's ErrImagePull, said on Bead, Agent and Town; runs once the image is loaded", async () => {
    const ns = await scenarioNamespace("kind-pull");
    const rig = await serveRig(ns);
    // A name no registry serves (.invalid never resolves), online or offline.
    const image = `gastown-e2e.invalid/agent:${ns}`;
    await applyTown(ns, "pulls", rig, {
      image,
      imagePullPolicy: "IfNotPresent",
      timeouts: { ...NO_TIMEOUTS, dispatchBackoff: ["5s"] },
      // Every failed pull is a charged attempt and a failed session: room for them all.
      limits: { maxDispatchAttempts: 50, maxFailedSessions: 100 },
    });
    const waiting = podWaiting(ns, ["ErrImagePull", "ImagePullBackOff"]);
    await applyBead(ns, "pulls", "needs-image", "Work in an image not loaded yet");
    const { seen, pod } = await waiting;

    const pulling = (r?: string) => r === "ErrImagePull" || r === "ImagePullBackOff";
    const failed = await waitForBead(
      ns,
      "needs-image",
      (b) => pulling(b?.status?.lastFailure?.reason),
      "to record the failed pull",
      60_000,
    );
    const last = failed!.status!.lastFailure!;
    // Within one reconcile of the kubelet's word (what the test saw, on a busy two-core machine).
    expect(Date.parse(last.time) - seen).toBeLessThan(10_000);
    expect(last.message).toContain(image);
    expect(failed?.status?.dispatchAttempts).toBeGreaterThanOrEqual(1);
    expect(failed?.status?.hold).toBeUndefined();

    // Transient: retried after the back-off, the Ready condition says so with the kubelet's words.
    await waitForBead(
      ns,
      "needs-image",
      (b) => {
        const r = b?.status?.conditions?.find((c) => c.type === "Ready");
        return r?.reason === "WaitingForRetry" && r.message.includes(image);
      },
      "to wait for its retry, saying why",
      60_000,
    );
    expect((await conditionsOf(ns, "Bead", "needs-image")).Stalled).toBeUndefined();

    const agent = await agentOf(ns, failed!);
    const agentName = agent.metadata!.name!;
    const sessionFailed = (await conditionsOf(ns, "Agent", agentName)).SessionFailed;
    expect(sessionFailed).toMatchObject({ status: "True" });
    expect(pulling(sessionFailed?.reason)).toBe(true);
    expect(sessionFailed?.message).toContain(image);
    expect(agent.status?.lastSessionExit?.reason).toMatch(/^(ErrImagePull|ImagePullBackOff): /);
    expect((await eventsFor(ns, "Agent", agentName)).join("\n")).toMatch(/(ErrImagePull|ImagePullBackOff): /);
    const notReady = await townReady(ns, "pulls", (c) => c.status === "False" && c.reason === "AgentsCannotStart");
    const ready = notReady?.status?.conditions?.find((c) => c.type === "Ready");
    expect(ready?.message).toContain(image);
    expect(ready?.message).toContain("needs-image");
    // Being retried is not stalled: nothing for a person to fix yet.
    expect(notReady?.status?.conditions?.find((c) => c.type === "Stalled")).toBeUndefined();
    // The operator stopped the pod that cannot start rather than leaving it to the kubelet's back-off.
    await waitForList<V1Pod>(
      kubeConfig(),
      { apiVersion: "v1", kind: "Pod", namespace: ns, labelSelector: `${LABELS.role}=polecat` },
      (list) => !list.some((p) => p.metadata?.name === pod.metadata?.name),
      { description: `the pod ${pod.metadata?.name} that cannot start to be deleted`, timeoutMs: 60_000 },
    );

    // The image appears on the node: the next attempt's pod runs it, and the trouble is over.
    await loadImage(images().agentImage, image);
    const closed = await waitForBead(ns, "needs-image", (b) => b?.status?.phase === "Closed", "to be Closed");
    expect(closed?.status?.lastFailure).toBeUndefined();
    expect(closed?.status?.dispatchAttempts).toBeGreaterThanOrEqual(2);
    await townReady(ns, "pulls", (c) => c.status === "True");
    expect((await conditionsOf(ns, "Agent", agentName)).SessionFailed).toBeUndefined();
    expect(await rig.git("ls-tree", "--name-only", "main", "beads/")).toEqual(["beads/needs-image.md"]);
  });
});

describe("a session pod whose env names a Secret that does not exist", () => {
  it("holds the bead with the kubelet's CreateContainerConfigError, not charged; the probe starts it once the Secret exists", async () => {
    const ns = await scenarioNamespace("kind-secret");
    const rig = await serveRig(ns);
    await applyTown(ns, "keyed", rig, {
      env: [{ name: "MODEL_KEY", valueFrom: { secretKeyRef: { name: "model-key", key: "token" } } }],
      timeouts: { ...NO_TIMEOUTS, configurationProbe: "3s" },
    });
    const waiting = podWaiting(ns, ["CreateContainerConfigError"]);
    await applyBead(ns, "keyed", "needs-secret", "Work that needs a key");
    const { seen } = await waiting;

    const held = await waitForBead(
      ns,
      "needs-secret",
      (b) => b?.status?.hold?.reason === "SessionCannotStart",
      "to be held",
      60_000,
    );
    expect(Date.parse(held!.status!.lastFailure!.time) - seen).toBeLessThan(10_000);
    expect(held?.status?.lastFailure?.reason).toBe("CreateContainerConfigError");
    expect(held?.status?.hold?.message).toContain('CreateContainerConfigError: secret "model-key" not found');
    // The attempt never ran the agent: not charged.
    expect(held?.status?.dispatchAttempts ?? 0).toBe(0);
    const stalled = (await conditionsOf(ns, "Bead", "needs-secret")).Stalled;
    expect(stalled).toMatchObject({ status: "True", reason: "SessionCannotStart" });
    const notReady = await townReady(ns, "keyed", (c) => c.status === "False" && c.reason === "AgentsCannotStart");
    const ready = notReady?.status?.conditions?.find((c) => c.type === "Ready");
    expect(ready?.message).toContain('secret "model-key" not found');
    // Held until someone fixes it: Stalled, which kstatus (Flux) shows as Failed.
    expect(notReady?.status?.conditions?.find((c) => c.type === "Stalled")).toMatchObject({
      status: "True",
      reason: "AgentsCannotStart",
    });
    expect(notReady?.status?.escalations?.map((e) => e.id)).toContain(
      "agents-cannot-start-create-container-config-error",
    );

    // The Secret appears; nothing else changes: the hold's own probe dispatches it again.
    await runKubectl(["create", "secret", "generic", "model-key", "-n", ns, "--from-literal=token=e2e"]);
    const closed = await waitForBead(ns, "needs-secret", (b) => b?.status?.phase === "Closed", "to be Closed");
    expect(closed?.status?.hold).toBeUndefined();
    expect(closed?.status?.lastFailure).toBeUndefined();
    expect(closed?.status?.dispatchAttempts).toBe(1);
    await townReady(ns, "keyed", (c) => c.status === "True");
    expect(await rig.git("ls-tree", "--name-only", "main", "beads/")).toEqual(["beads/needs-secret.md"]);
  });
});
