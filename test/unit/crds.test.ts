import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { allCustomResourceDefinitions, chartCrdFiles, renderCrdFiles } from "../../src/api/crds.ts";

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

type Schema = { description?: string; properties?: Record<string, Schema>; items?: Schema };

/** Every property path under a schema (arrays as `[]`) whose description is missing or says nothing. */
function undescribed(schema: Schema, path: string): string[] {
  const missing: string[] = [];
  for (const [name, child] of Object.entries(schema.properties ?? {})) {
    const at = `${path}.${name}`;
    // Kubernetes describes ObjectMeta itself; a CRD's metadata schema is not shown by kubectl explain.
    if (at.split(".").length === 2 && name === "metadata") continue;
    if (!child.description?.trim() || child.description === TIMESTAMP_ONLY) missing.push(at);
    missing.push(...undescribed(child, at));
  }
  if (schema.items) missing.push(...undescribed(schema.items, `${path}[]`));
  return missing;
}

// timestamp()'s own description says only the format; each field must say which instant it is.
const TIMESTAMP_ONLY = "An RFC 3339 timestamp, e.g. 2026-01-02T15:04:05Z.";

describe("CRD field descriptions (kubectl explain)", () => {
  const crds = allCustomResourceDefinitions() as {
    spec: { names: { kind: string }; versions: { schema: { openAPIV3Schema: Schema } }[] };
  }[];

  it("cover all five kinds", () => {
    expect(crds.map((c) => c.spec.names.kind).sort()).toEqual(["Agent", "AgentReport", "Bead", "Convoy", "Town"]);
  });

  for (const crd of crds) {
    const kind = crd.spec.names.kind;
    const root = crd.spec.versions[0]?.schema.openAPIV3Schema as Schema;

    it(`${kind}: the kind, its spec and its status say what they are`, () => {
      expect(root.description, `${kind} has no description`).toBeTruthy();
      for (const part of ["spec", "status"]) {
        expect(root.properties?.[part]?.description, `${kind}.${part} has no description`).toBeTruthy();
      }
    });

    it(`${kind}: every field has a description (add .describe() in src/api)`, () => {
      expect(undescribed(root, kind)).toEqual([]);
    });
  }

  it("finds a field without one", () => {
    const schema: Schema = {
      description: "x",
      properties: {
        metadata: {},
        spec: { description: "s", properties: { a: { items: { properties: { b: { description: "b" }, c: {} } } } } },
      },
    };
    expect(undescribed(schema, "K")).toEqual(["K.spec.a", "K.spec.a[].c"]);
  });
});
