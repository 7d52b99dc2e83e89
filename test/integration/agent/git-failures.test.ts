// gt run says what failed (issue 9): a rig whose repository does not exist is not "exit code 1".
// With the process runtime and the real `gt run`, the clone fails, gt writes git's own words as its
// termination message, and the operator holds the bead (a configuration error, not charged) with
// that message on the Bead and the Town — until the Town's rig points at a repository that exists,
// when the work resumes at once and lands.
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Town } from "../../../src/api/town.ts";
import { silentLogger } from "../../../src/controller/logger.ts";
import { type Operator, startOperator } from "../../../src/controller/operator.ts";
import { createProcessRuntime } from "../../../src/runtime/process-runtime.ts";
import { adminHttp, create, townManifest, waitForBead } from "../../support/gastown.ts";
import { createNamespace, kubeConfig, kubeconfigPath, waitFor } from "../../support/kube.ts";
import { createOrigin, git } from "../../unit/agent/fixtures.ts";
import { tempDir } from "./support.ts";

const API = "gastown.dev/v1alpha1";

describe("gt run's failures on the objects", () => {
  const http = adminHttp();
  let ns: string;
  let operator: Operator;

  beforeAll(async () => {
    ns = await createNamespace("git-failures");
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath());
    const dir = tempDir("gt-git-failures-");
    operator = await startOperator({
      kubeConfig: kc,
      namespace: ns,
      runtime: (h) => createProcessRuntime({ http: h, kubeConfig: kc, dir, logger: silentLogger() }),
      identity: `test-${ns}`,
      logger: silentLogger(),
      port: 0,
    });
    await operator.waitUntilLeading();
  });

  afterAll(async () => {
    await operator?.stop();
  });

  it("a repository that does not exist: held with git's message, resumes once the rig is fixed", async () => {
    const missing = "/nonexistent/gastown/app.git";
    const town = townManifest("gt", {
      rigs: [{ name: "app", repo: missing, gates: ["true"] }],
      timeouts: { heartbeatPeriod: "1s", configurationProbe: "1h" },
    });
    await create(http, ns, town);
    await create(http, ns, {
      apiVersion: API,
      kind: "Bead",
      metadata: { name: "x" },
      spec: { town: "gt", rig: "app", title: "x" },
    });

    const held = await waitForBead(ns, "x", (b) => b?.status?.hold?.reason === "SessionCannotStart", "x to be held");
    expect(held?.status?.lastFailure?.reason).toBe("RepositoryNotFound");
    expect(held?.status?.hold?.message).toContain("RepositoryNotFound");
    expect(held?.status?.hold?.message).toContain(missing);
    expect(held?.status?.dispatchAttempts ?? 0).toBe(0);
    const t = (await waitFor(
      kubeConfig(),
      { apiVersion: API, kind: "Town", namespace: ns, name: "gt" },
      (o) =>
        (o as unknown as Town | undefined)?.status?.conditions?.some((c) => c.reason === "AgentsCannotStart") === true,
      { description: "the town to name the cause", timeoutMs: 30_000 },
    )) as unknown as Town;
    expect(t.status?.conditions?.find((c) => c.type === "Ready")?.message).toContain("RepositoryNotFound");

    // The fix is a Town edit: the held work is tried again at once (the probe is an hour away).
    const origin = createOrigin();
    await http.json({
      method: "PATCH",
      path: `/apis/${API}/namespaces/${ns}/towns/gt`,
      contentType: "application/merge-patch+json",
      body: { spec: { rigs: [{ name: "app", repo: origin.bare, gates: ["true"] }] } },
    });
    const closed = await waitForBead(
      ns,
      "x",
      (b) => b?.status?.phase === "Closed",
      "x to land once the rig is fixed",
      120_000,
    );
    expect(closed?.status?.lastFailure).toBeUndefined();
    expect(git(origin.root, "--git-dir", origin.bare, "log", "--format=%s", "main")).toContain("Merge");
  });
});
