import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { renderCrdFiles } from "../../src/api/crds.ts";

const crdDir = join(import.meta.dirname, "..", "..", "crds");

describe("checked-in CRDs", () => {
  const generated = renderCrdFiles((doc) => stringify(doc, { lineWidth: 0 }));

  it("are exactly what the zod schemas generate (run `make manifests` after changing src/api)", () => {
    const onDisk = readdirSync(crdDir).filter((f) => f.endsWith(".yaml"));
    expect(onDisk.sort()).toEqual([...generated.keys()].sort());
    for (const [name, text] of generated) {
      expect(readFileSync(join(crdDir, name), "utf8"), `crds/${name} is stale`).toBe(text);
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
