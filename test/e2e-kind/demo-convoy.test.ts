// The README's quick start on real pods: examples/convoy.yaml applied to a Town whose sessions run
// the agent image in kind, against a rig served from the cluster. Every task's change is merged
// once into the convoy's feature branch, which lands on main with one merge.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { KubernetesObject } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { Convoy } from "../../src/api/convoy.ts";
import { API_VERSION } from "../../src/api/meta.ts";
import { kubeConfig, runKubectl, waitFor } from "../support/kube.ts";
import { applyTown, scenarioNamespace, serveRig } from "./support/town.ts";

const EXAMPLE = join(import.meta.dirname, "..", "..", "examples", "convoy.yaml");

describe("the demo convoy on kind", () => {
  it("lands examples/convoy.yaml with real session pods", async () => {
    const example = parse(readFileSync(EXAMPLE, "utf8")) as {
      metadata: { name: string };
      spec: { town: string; tasks: { name: string }[] };
    };
    const name = example.metadata.name;
    const ns = await scenarioNamespace("kind-demo");
    const rig = await serveRig(ns);
    await applyTown(ns, example.spec.town, rig);
    await runKubectl(["apply", "-n", ns, "-f", EXAMPLE]);

    const convoy = await waitFor<KubernetesObject & { status?: Convoy["status"] }>(
      kubeConfig(),
      { apiVersion: API_VERSION, kind: "Convoy", namespace: ns, name },
      (c) => {
        if (c?.status?.phase === "Failed") throw new Error(`convoy failed: ${JSON.stringify(c.status)}`);
        return c?.status?.phase === "Landed";
      },
      { description: `convoy ${name} to land`, timeoutMs: 600_000 },
    );
    const tasks = example.spec.tasks.map((t) => t.name);
    expect(await rig.git("ls-tree", "--name-only", "main", "beads/")).toEqual(
      tasks.map((t) => `beads/${name}-${t}.md`).sort(),
    );
    const merges = await rig.git("log", "--merges", "--format=%s", `convoy/${name}`);
    for (const t of tasks) {
      expect(
        merges.filter((m) => m.startsWith(`Merge gt/app/${name}-${t} into convoy/${name} `)),
        t,
      ).toHaveLength(1);
    }
    // main moved once, by the landing merge.
    expect(await rig.git("log", "--first-parent", "--format=%s", "main")).toEqual([
      `Merge convoy/${name} into main (${convoy?.status?.landing?.bead})`,
      "Start the demo rig",
    ]);
  });
});
