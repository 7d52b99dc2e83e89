// The README quick start, end to end: `make run` (the operator with the process runtime and the
// demo agent, on a local bare git repository), `kubectl apply -f examples/...`, and the convoy
// lands with real branches, reviews and merges. Afterwards the repository's history is the proof,
// and Ctrl-C leaves no process behind.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { KubernetesObject } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { Bead as BeadResource } from "../../src/api/bead.ts";
import type { Convoy as ConvoyResource } from "../../src/api/convoy.ts";
import { type Demo, demoProcesses, git, startDemo } from "../support/demo.ts";
import { kubeConfig, runKubectl, waitFor, waitForList } from "../support/kube.ts";
import { pollUntil } from "../support/processes.ts";

const EXAMPLES = join(import.meta.dirname, "..", "..", "examples");
const kc = kubeConfig();
const API = "gastown.dev/v1alpha1";

type Convoy = KubernetesObject & { status?: ConvoyResource["status"] };
type Bead = KubernetesObject & { spec: BeadResource["spec"]; status?: BeadResource["status"] };

let demo: Demo | undefined;
afterEach(async () => {
  // A failed test still stops its demo; the assertions on a clean stop live in the tests.
  await demo?.interrupt();
  demo = undefined;
});

function convoyExample(file: string): { path: string; name: string; tasks: string[] } {
  const path = join(EXAMPLES, file);
  const doc = parse(readFileSync(path, "utf8")) as { metadata: { name: string }; spec: { tasks: { name: string }[] } };
  return { path, name: doc.metadata.name, tasks: doc.spec.tasks.map((t) => t.name) };
}

async function applyAndWaitLanded(d: Demo, example: { path: string; name: string }): Promise<Convoy> {
  await runKubectl(["apply", `--namespace=${d.namespace}`, "-f", example.path]);
  const convoy = await waitFor<Convoy>(
    kc,
    { apiVersion: API, kind: "Convoy", namespace: d.namespace, name: example.name },
    (c) => {
      if (c?.status?.phase === "Failed") throw new Error(`convoy failed: ${JSON.stringify(c.status)}\n${d.output()}`);
      return c?.status?.phase === "Landed";
    },
    { description: `convoy ${example.name} to land`, timeoutMs: 300_000 },
  );
  return convoy!;
}

async function beads(d: Demo): Promise<Bead[]> {
  return waitForList<Bead>(kc, { apiVersion: API, kind: "Bead", namespace: d.namespace }, () => true, {
    description: "the beads",
  });
}

/** Ctrl-C: make run exits 0 and every process it started (operator, sessions, git) is gone. */
async function stopCleanly(d: Demo): Promise<void> {
  demo = undefined;
  const exit = await d.interrupt();
  expect([0, "SIGINT"]).toContain(exit.code ?? exit.signal);
  // The recipe itself (hack/run.ts) stopped everything in order and said so.
  expect(d.output()).toMatch(/run: SIGINT: stopping\n(.*\n)*run: stopped\n/);
  await pollUntil(
    () => `no process of the demo to be left; left: ${JSON.stringify(demoProcesses(d.stateDir))}`,
    () => demoProcesses(d.stateDir).length === 0,
    10_000,
  );
}

/** Every bead file on main, and for each the commits on main that changed it. */
function beadFileHistory(repo: string): Map<string, string[]> {
  const files = git(repo, "ls-tree", "-r", "--name-only", "main", "beads/");
  return new Map(files.map((f) => [f, git(repo, "log", "--format=%s", "main", "--", f)]));
}

describe("the make run demo", () => {
  it("lands the quick start convoy (ReviewThenLand): each change merged once into the feature branch, then one landing merge", async () => {
    demo = await startDemo("e2e-rtl");
    const d = demo;
    expect(d.output()).toContain("kubectl apply -n");
    const example = convoyExample("convoy.yaml");
    expect(example.tasks.length).toBeGreaterThanOrEqual(5);
    const convoy = await applyAndWaitLanded(d, example);
    const landingBead = convoy.status?.landing?.bead;
    expect(landingBead).toMatch(new RegExp(`^${example.name}-landing-\\d+$`));

    const feature = `convoy/${example.name}`;
    const expectedFiles = example.tasks.map((t) => `beads/${example.name}-${t}.md`).sort();
    const history = beadFileHistory(d.repo);
    expect([...history.keys()].sort()).toEqual(expectedFiles);
    for (const [file, commits] of history) {
      // One change per bead: the polecat's commit, reached through its merge (merges are TREESAME).
      expect(commits, file).toHaveLength(1);
    }
    const merges = git(d.repo, "log", "--merges", "--format=%s", "main");
    for (const task of example.tasks) {
      const bead = `${example.name}-${task}`;
      expect(
        merges.filter((m) => m === `Merge gt/app/${bead} into ${feature} (${bead}-mr-1)`),
        bead,
      ).toHaveLength(1);
    }
    const landing = merges.filter((m) => m.startsWith(`Merge ${feature} into main (`));
    expect(landing).toEqual([`Merge ${feature} into main (${landingBead})`]);
    expect(merges).toHaveLength(example.tasks.length + 1);
    // main itself moved once: by the landing merge.
    expect(git(d.repo, "log", "--first-parent", "--format=%s", "main")).toEqual([landing[0], "Start the demo rig"]);

    const all = await beads(d);
    const landings = all.filter((b) => b.metadata?.name?.startsWith(`${example.name}-landing-`));
    expect(landings.map((b) => b.status?.phase)).toEqual(["Closed"]);
    expect(all.filter((b) => b.status?.phase !== "Closed").map((b) => b.metadata?.name)).toEqual([]);

    await stopCleanly(d);
  });

  it("lands a ReviewAndMerge convoy straight onto main, with one bead reworked after its gate failed", async () => {
    demo = await startDemo("e2e-ram");
    const d = demo;
    const example = convoyExample("convoy-review-and-merge.yaml");
    expect(example.tasks.length).toBeGreaterThanOrEqual(5);
    const convoy = await applyAndWaitLanded(d, example);
    expect(convoy.status?.landing?.bead).toBeUndefined();

    const history = beadFileHistory(d.repo);
    expect([...history.keys()].sort()).toEqual(example.tasks.map((t) => `beads/${example.name}-${t}.md`).sort());
    const reworked = `${example.name}-expiry`;
    for (const [file, commits] of history) {
      if (file !== `beads/${reworked}.md`) expect(commits, file).toHaveLength(1);
      else {
        // The polecat's change, then the rework on the same branch; both reached main in one merge.
        expect(commits, file).toHaveLength(2);
        expect(commits[0]).toMatch(new RegExp(`^${reworked}-mr-1-rework-1: `));
        expect(commits[1]).toBe(`${reworked}: Expire reset tokens`);
      }
    }
    const merges = git(d.repo, "log", "--merges", "--format=%s", "main");
    for (const task of example.tasks) {
      const bead = `${example.name}-${task}`;
      expect(
        merges.filter((m) => m === `Merge gt/app/${bead} into main (${bead}-mr-1)`),
        bead,
      ).toHaveLength(1);
    }
    expect(merges).toHaveLength(example.tasks.length);
    expect(git(d.repo, "log", "--first-parent", "--format=%s", "main")).toHaveLength(example.tasks.length + 1);

    // The gate failed once on the TODO line: changes requested, one rework, then the merge.
    const text = git(d.repo, "show", `main:beads/${reworked}.md`).join("\n");
    expect(text).not.toMatch(/^TODO/m);
    expect(text).toMatch(/^DONE: decide how long a reset token lives\./m);
    expect(text).toMatch(/^reworked: gate 'sh scripts\/check.sh' failed/m);
    const all = await beads(d);
    const reworks = all.filter((b) => b.spec.reworkOf !== undefined);
    expect(reworks.map((b) => [b.metadata?.name, b.status?.phase])).toEqual([[`${reworked}-mr-1-rework-1`, "Closed"]]);
    const requests = await runKubectl([
      "get",
      "agentreports",
      `--namespace=${d.namespace}`,
      "-o",
      "jsonpath={range .items[?(@.spec.type=='RequestChanges')]}{.spec.bead}{'\\n'}{end}",
    ]);
    expect(requests.trim().split("\n")).toEqual([`${reworked}-mr-1`]);

    await stopCleanly(d);
  });
});
