import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { chartCrdFiles, renderCrdFiles } from "../../src/api/crds.ts";

const crdDir = join(import.meta.dirname, "..", "..", "crds");
const chartCrdDir = join(import.meta.dirname, "..", "..", "charts", "gastown-operator", "crds");

describe("checked-in CRDs", () => {
  const generated = renderCrdFiles((doc) => stringify(doc, { lineWidth: 0 }));

  it("are exactly what the zod schemas generate (run `make manifests` after changing src/api)", () => {
    const onDisk = readdirSync(crdDir).filter((f) => f.endsWith(".yaml"));
    expect(onDisk.sort()).toEqual([...generated.keys()].sort());
    for (const [name, text] of generated) {
      expect(readFileSync(join(crdDir, name), "utf8"), `crds/${name} is stale`).toBe(text);
    }
  });

  it("are the same in the Helm chart's crds/ (run `make manifests`)", () => {
    const wanted = chartCrdFiles(generated);
    const onDisk = readdirSync(chartCrdDir).filter((f) => f.endsWith(".yaml"));
    expect(onDisk.sort()).toEqual([...wanted.keys()].sort());
    for (const [name, text] of wanted) {
      expect(readFileSync(join(chartCrdDir, name), "utf8"), `charts/gastown-operator/crds/${name} is stale`).toBe(text);
    }
  });

  it("carry the gastown category, short names and a status subresource", () => {
    for (const [name, text] of generated) {
      if (name === "kustomization.yaml") continue;
      expect(text).toContain("- gastown");
      expect(text).toMatch(/shortNames:\n\s+- \w+/);
      expect(text).toContain("status: {}");
    }
  });
});
