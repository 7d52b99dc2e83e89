// The review queue on the real apiserver: ReviewAndMerge convoys, the PullRequest strategy against
// a forge served by the test (merged, closed without merging, polling errors), and rework.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bead } from "../../../src/api/bead.ts";
import type { Operator } from "../../../src/controller/operator.ts";
import type { KubeHttp } from "../../../src/kube/http.ts";
import { Crew, finishWork } from "../../support/crew.ts";
import { TestForge } from "../../support/forge.ts";
import {
  adminHttp,
  convoyManifest,
  create,
  getBead,
  kubeConfigFromFile,
  startTestOperator,
  townManifest,
  waitForBead,
} from "../../support/gastown.ts";
import { createNamespace, kubeConfig, waitFor } from "../../support/kube.ts";

function issue(name: string, town: string) {
  return {
    apiVersion: "gastown.dev/v1alpha1",
    kind: "Bead",
    metadata: { name },
    spec: { town, rig: "app", title: `issue ${name}` },
  };
}

describe("the review queue", () => {
  let http: KubeHttp;
  let ns: string;
  let operator: Operator;
  let crew: Crew;
  const forge = new TestForge();
  // Which pull request number a refinery session opens for which issue.
  const prFor = new Map<string, number>([
    ["pr-merged", 1],
    ["pr-closed", 2],
    ["pr-flaky", 3],
  ]);
  const reviewOf = (mr: string) => mr.replace(/-mr-\d+$/, "");

  beforeAll(async () => {
    http = adminHttp();
    ns = await createNamespace("review");
    await forge.start();
    crew = new Crew(kubeConfigFromFile(), ns, async (s) => {
      const pr = s.role === "Refinery" ? prFor.get(reviewOf(s.bead)) : undefined;
      if (pr !== undefined) {
        await s.report({ type: "Done", prURL: TestForge.prURL(pr) });
        await s.exit(0);
        return;
      }
      if (s.role === "Refinery" && s.bead.startsWith("rw-") && !s.bead.includes("rework")) {
        // The first review asks for changes; once the issue went through that cycle, it merges.
        const issue = await getBead(http, ns, reviewOf(s.bead));
        if ((issue.status?.reviewCycles ?? 0) === 0) {
          await s.report({ type: "RequestChanges", feedback: "please add tests", files: ["app.ts"] });
          await s.report({ type: "Done" });
          await s.exit(0);
          return;
        }
      }
      await finishWork(s);
    }).start();
    operator = await startTestOperator(ns, { forgeAllowedHosts: [forge.host] });
    await create(http, ns, townManifest("gt"));
    await create(
      http,
      ns,
      townManifest("prs", {
        rigs: [
          {
            name: "app",
            repo: "https://git.example.com/app.git",
            mergeStrategy: "PullRequest",
            forge: { provider: "GitHub", apiURL: forge.apiURL },
          },
        ],
      }),
    );
  });

  afterAll(async () => {
    await crew?.stop();
    await operator?.stop();
    await forge.stop();
  });

  it("ReviewAndMerge: every bead merges into the default branch and the convoy lands without a landing MR", async () => {
    await create(
      http,
      ns,
      convoyManifest("ram", "gt", [{ name: "x" }, { name: "y", dependsOn: ["x"] }, { name: "z" }], {
        mergeMode: "ReviewAndMerge",
      }),
    );
    await waitFor(
      kubeConfig(),
      { apiVersion: "gastown.dev/v1alpha1", kind: "Convoy", namespace: ns, name: "ram" },
      (c) => (c as { status?: { phase?: string } } | undefined)?.status?.phase === "Landed",
      { description: "convoy ram to land", timeoutMs: 60_000 },
    );
    for (const t of ["x", "y", "z"]) {
      const mr = await getBead(http, ns, `ram-${t}-mr-1`);
      expect(mr.spec.targetBranch).toBe("main");
      expect(mr.status).toMatchObject({ phase: "Closed", resolution: "Merged" });
    }
    const all = await http.json<{ items: Bead[] }>({
      method: "GET",
      path: `/apis/gastown.dev/v1alpha1/namespaces/${ns}/beads`,
    });
    expect(all.items.some((b) => b.spec.source?.kind === "Convoy" && b.spec.convoy === "ram")).toBe(false);
  });

  it("PullRequest: a merged pull request closes the merge request and its issue", async () => {
    forge.pulls.set("1", { merged: false, state: "open" });
    await create(http, ns, issue("pr-merged", "prs"));
    await waitForBead(
      ns,
      "pr-merged-mr-1",
      (b) => b?.status?.prURL === TestForge.prURL(1),
      "to record its pull request",
    );
    // While the PR is open the queue is not blocked and the MR stays InProgress.
    await waitForBead(ns, "pr-merged-mr-1", (b) => (b?.status?.pullRequest?.state ?? "") === "Open", "to be polled");
    forge.pulls.set("1", { merged: true, state: "closed", merge_commit_sha: "feedbee" });
    const mr = await waitForBead(
      ns,
      "pr-merged-mr-1",
      (b) => b?.status?.phase === "Closed",
      "to close after the PR merged",
    );
    expect(mr?.status).toMatchObject({ resolution: "Merged", mergeCommit: "feedbee" });
    const closed = await waitForBead(
      ns,
      "pr-merged",
      (b) => b?.status?.phase === "Closed",
      "to close with its merge request",
    );
    expect(closed?.status?.mergedBy).toBe("pr-merged-mr-1");
  });

  it("PullRequest: a pull request closed without merging fails the review and the issue is redone", async () => {
    forge.pulls.set("2", { merged: false, state: "closed" });
    await create(http, ns, issue("pr-closed", "prs"));
    const mr = await waitForBead(
      ns,
      "pr-closed-mr-1",
      (b) => b?.status?.phase === "Failed",
      "to fail after the PR closed unmerged",
    );
    expect(mr?.status?.resolution).toBe("ReviewFailed");
    // Redone from scratch: a second dispatch and a second merge request.
    prFor.set("pr-closed", 4);
    forge.pulls.set("4", { merged: true, state: "closed", merge_commit_sha: "c0ffee0" });
    await waitForBead(
      ns,
      "pr-closed",
      (b) => b?.status?.phase === "Closed",
      "to close through its second merge request",
    );
    expect((await getBead(http, ns, "pr-closed")).status?.mergedBy).toBe("pr-closed-mr-2");
  });

  it("PullRequest: polling errors are recorded and retried, never mistaken for a decision", async () => {
    forge.pulls.set("3", { error: 502 });
    await create(http, ns, issue("pr-flaky", "prs"));
    const failing = await waitForBead(
      ns,
      "pr-flaky-mr-1",
      (b) => (b?.status?.pullRequest?.consecutiveErrors ?? 0) >= 2,
      "to record polling errors",
    );
    expect(failing?.status?.pullRequest?.lastError).toContain("502");
    expect(failing?.status?.phase).toBe("InProgress");
    forge.pulls.set("3", { merged: true, state: "closed", merge_commit_sha: "abad1de" });
    const merged = await waitForBead(
      ns,
      "pr-flaky-mr-1",
      (b) => b?.status?.phase === "Closed",
      "to merge once the forge answers",
      90_000,
    );
    expect(merged?.status?.pullRequest?.consecutiveErrors).toBe(0);
  });

  it("rework: RequestChanges makes a rework bead; its Done sends the MR back to the queue, where it merges", async () => {
    await create(http, ns, issue("rw-feature", "gt"));
    const rework = await waitForBead(
      ns,
      "rw-feature-mr-1-rework-1",
      (b) => b?.status?.phase === "Closed",
      "to be reworked",
    );
    expect(rework?.spec).toMatchObject({
      reworkOf: "rw-feature-mr-1",
      feedback: "please add tests",
      files: ["app.ts"],
      branch: "gt/app/rw-feature",
    });
    expect(rework?.status?.resolution).toBe("ReworkDone");
    const mr = await waitForBead(
      ns,
      "rw-feature-mr-1",
      (b) => b?.status?.phase === "Closed",
      "to merge after the rework",
    );
    // The review that asked for changes produced a result: the merge request's crash budget started
    // again, so the review that merged is its first attempt; the issue used one review cycle.
    expect(mr?.status).toMatchObject({ resolution: "Merged", dispatchAttempts: 1 });
    const closed = await waitForBead(
      ns,
      "rw-feature",
      (b) => b?.status?.phase === "Closed",
      "to close with its merge request",
    );
    expect(closed?.status?.mergedBy).toBe("rw-feature-mr-1");
    expect(closed?.status?.reviewCycles).toBe(1);
    expect(crew.errors).toEqual([]);
  });
});
