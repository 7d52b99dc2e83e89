// A real coding-agent CLI in real pods: a convoy of two beads (b depends on a) lands on kind with
// every session — both polecats, their merge requests and the landing — being pi (the preset, at
// the version the agent image pins) inside the agent image, against the scripted model server on
// the host, which the pods reach at the host's address on the kind network. pi edits, commits,
// pushes, merges, runs the rig's gate and calls `gt` through its own bash tool.
import type { KubernetesObject } from "@kubernetes/client-node";
import { afterAll, describe, expect, it, onTestFailed } from "vitest";
import type { Convoy } from "../../src/api/convoy.ts";
import { API_VERSION } from "../../src/api/meta.ts";
import { LABELS } from "../../src/controller/resources.ts";
import { kubeConfig, runKubectl, waitFor } from "../support/kube.ts";
import { convoyManifest } from "../support/manifests.ts";
import { type ModelServer, startModelServer } from "../support/model-server.ts";
import { API_KEY, KEY_SECRET, MODEL, townScripts } from "../support/real-agents.ts";
import { applyTown, images, scenarioNamespace, serveRig, waitForBead } from "./support/town.ts";

type ConvoyObject = KubernetesObject & { status?: Convoy["status"] };

const GATE = "sh scripts/check.sh";
// What each scripted answer reports; pi's own count of it ends up on the Bead and the Convoy.
const USAGE = { input: 120, output: 15, cacheRead: 40 };
const tokens = (u: { input: number; output: number; cacheRead: number; cacheWrite: number }) =>
  u.input + u.output + u.cacheRead + u.cacheWrite;

describe("a real coding-agent CLI in the session pods on kind", () => {
  let model: ModelServer | undefined;
  afterAll(async () => {
    await model?.close();
  });

  it("lands a convoy whose every session is pi in the agent image, against the scripted model on the host", async () => {
    const ns = await scenarioNamespace("kind-cli");
    const rig = await serveRig(ns);
    const server = await startModelServer({ host: images().hostAddress, scriptFor: townScripts([GATE], USAGE) });
    model = server;
    onTestFailed(async () => {
      const served = server.requests.map((r) => `${r.method} ${r.path} ${r.bead ?? "?"}#${r.step ?? "-"} ${r.status}`);
      process.stderr.write(`--- model requests\n${served.join("\n") || "(none)"}\n${await sessionLogs(ns)}\n`);
    });
    await runKubectl(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: KEY_SECRET, namespace: ns },
        stringData: { "api-key": API_KEY },
      }),
    );
    await applyTown(ns, "cli", rig, {
      preset: {
        cli: "pi",
        model: MODEL,
        maxRetries: 2,
        provider: {
          baseURL: `${server.url}/v1`,
          api: "openai-completions",
          apiKeySecret: { name: KEY_SECRET, key: "api-key" },
        },
      },
    });
    const convoy = convoyManifest("cv", "cli", [{ name: "a" }, { name: "b", dependsOn: ["a"] }]);
    await runKubectl(["apply", "-f", "-"], JSON.stringify({ ...convoy, metadata: { name: "cv", namespace: ns } }));

    const landed = await waitFor<ConvoyObject>(
      kubeConfig(),
      { apiVersion: API_VERSION, kind: "Convoy", namespace: ns, name: "cv" },
      (c) => {
        if (c?.status?.phase === "Failed") throw new Error(`convoy failed: ${JSON.stringify(c.status)}`);
        return c?.status?.phase === "Landed";
      },
      { description: "convoy cv to land", timeoutMs: 600_000 },
    );

    // The history of the demo convoy: each polecat's commit, merged once into the feature branch,
    // and main moved once, by the landing merge.
    expect(await rig.git("ls-tree", "--name-only", "main", "notes/")).toEqual(["notes/cv-a.md", "notes/cv-b.md"]);
    for (const t of ["a", "b"]) {
      expect((await rig.git("show", `main:notes/cv-${t}.md`)).join("\n")).toMatch(
        new RegExp(`^# cv-${t}\\nwritten by cli-app-`),
      );
    }
    const merges = await rig.git("log", "--merges", "--format=%s", "convoy/cv");
    for (const t of ["a", "b"]) {
      const merge = new RegExp(`^Merge gt/app/cv-${t} into convoy/cv \\(cv-${t}-mr-\\d+\\)$`);
      expect(
        merges.filter((m) => merge.test(m)),
        `merges of cv-${t}: ${merges.join(" | ")}`,
      ).toHaveLength(1);
    }
    const landing = landed?.status?.landing?.bead;
    expect(await rig.git("log", "--first-parent", "--format=%s", "main")).toEqual([
      `Merge convoy/cv into main (${landing})`,
      "Start the demo rig",
    ]);
    // b waited for a: its branch started from a feature branch that already had a's merge.
    expect(await rig.git("log", "--format=%s", "gt/app/cv-b")).toContain("cv-a: add notes/cv-a.md");

    // Every session was pi talking to this server: each bead's conversation (its prompt, then its
    // tool result) arrived from the cluster, as chat completions offering pi's own tools, and pi
    // asked for nothing else.
    const reviews = [...new Set(server.requests.map((r) => r.bead ?? ""))].filter((b) => /^cv-[ab]-mr-\d+$/.test(b));
    expect(reviews).toHaveLength(2);
    for (const bead of ["cv-a", "cv-b", ...reviews, landing ?? "(no landing)"]) {
      const steps = server
        .requestsFor(bead)
        .filter((r) => r.status === 200)
        .map((r) => r.step);
      expect(steps, bead).toEqual(expect.arrayContaining([0, 1]));
    }
    expect(server.requests.filter((r) => r.protocol !== "chat" || r.bead === undefined)).toEqual([]);
    expect(new Set(server.requests.flatMap((r) => r.tools))).toEqual(new Set(["read", "bash", "edit", "write"]));

    // The pods ran it: each session pod's `gt run` log says it started pi and what pi counted. The
    // convoy lands on the landing's Done; that session gets its last answer and exits after.
    const sessions = await sessionPodNames(ns);
    expect(sessions.length).toBe(5);
    await runKubectl([
      "wait",
      "pod",
      ...sessions,
      "-n",
      ns,
      "--for=jsonpath={.status.phase}=Succeeded",
      "--timeout=60s",
    ]);
    for (const pod of sessions) {
      const log = await runKubectl(["logs", "-n", ns, pod]);
      expect(log, pod).toMatch(/^gt run: starting pi in \/workspace\/repo$/m);
      expect(log, pod).toMatch(/^gt run: usage: \d+ input, \d+ output, \d+ cache read/m);
    }

    // pi's usage, as the sessions published it on their Leases, is what the model served: per
    // task bead (one session each), and summed over the convoy's beads. The landing's session
    // publishes its last count as it exits, after the convoy landed.
    const servedTotal = [...new Set(server.requests.map((r) => r.bead ?? ""))]
      .map((b) => tokens(server.usageServed(b)))
      .reduce((a, n) => a + n, 0);
    expect(servedTotal).toBeGreaterThan(0);
    for (const bead of ["cv-a", "cv-b"]) {
      const served = tokens(server.usageServed(bead));
      const b = await waitForBead(
        ns,
        bead,
        (x) => x?.status?.usage?.tokens === served,
        `to sum the ${served} tokens the model served it`,
        60_000,
      );
      expect(b?.status?.usage?.sessions, bead).toHaveLength(1);
    }
    await waitFor<ConvoyObject>(
      kubeConfig(),
      { apiVersion: API_VERSION, kind: "Convoy", namespace: ns, name: "cv" },
      (c) => c?.status?.usage?.tokens === servedTotal,
      { description: `convoy cv to sum the ${servedTotal} tokens the model served`, timeoutMs: 60_000 },
    );
  });
});

/** Session pods of the namespace (polecats and refinery), by name. */
async function sessionPodNames(ns: string): Promise<string[]> {
  const out = await runKubectl([
    "get",
    "pods",
    "-n",
    ns,
    "-l",
    LABELS.session,
    "-o",
    "jsonpath={range .items[*]}{.metadata.name}{'\\n'}{end}",
  ]);
  return out.split("\n").filter(Boolean).sort();
}

/** The last lines of every session pod's log, for a failure. */
async function sessionLogs(ns: string): Promise<string> {
  const pods = await sessionPodNames(ns).catch(() => []);
  const parts = await Promise.all(
    pods.map(async (pod) => {
      const log = await runKubectl(["logs", "-n", ns, pod, "--tail=25"]).catch((e: Error) => e.message);
      return `--- ${pod}\n${log
        .split("\n")
        .map((l) => l.slice(0, 400))
        .join("\n")}`;
    }),
  );
  return parts.join("\n");
}
