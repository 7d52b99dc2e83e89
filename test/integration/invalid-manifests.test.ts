// The apiserver refuses every manifest in test/fixtures/invalid (format: its README.md) with a
// message that names the offending field, and every CEL rule in crds/ is exercised by one of them.
import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { type KubernetesObject, KubernetesObjectApi } from "@kubernetes/client-node";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { createNamespace, expectApiError, kubeConfig, parseYamlDocuments } from "../support/kube.ts";

const root = join(import.meta.dirname, "..", "..");
const fixtureDir = join(root, "test", "fixtures", "invalid");
const crdDir = join(root, "crds");

interface Fixture {
  file: string;
  expects: string[];
  docs: KubernetesObject[];
}

function loadFixtures(): Fixture[] {
  return readdirSync(fixtureDir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((file) => {
      const text = readFileSync(join(fixtureDir, file), "utf8");
      const expects = [...text.matchAll(/^#\s*expect:\s*(.+?)\s*$/gm)].map((m) => m[1] as string);
      return { file, expects, docs: parseYamlDocuments(text) };
    });
}

interface Rule {
  kind: string;
  rule: string;
  message: string;
}

/** Every x-kubernetes-validations rule of every CRD in crds/, with the kind it belongs to. */
function celRules(): Rule[] {
  const rules: Rule[] = [];
  const walk = (kind: string, node: unknown) => {
    if (Array.isArray(node)) {
      for (const n of node) walk(kind, n);
    }
    if (typeof node !== "object" || node === null) return;
    for (const [key, value] of Object.entries(node)) {
      if (key === "x-kubernetes-validations" && Array.isArray(value)) {
        for (const v of value as { rule: string; message?: string }[]) {
          rules.push({ kind, rule: v.rule, message: v.message ?? v.rule });
        }
      } else {
        walk(kind, value);
      }
    }
  };
  for (const file of readdirSync(crdDir).filter((f) => f.endsWith(".yaml"))) {
    const crd = parse(readFileSync(join(crdDir, file), "utf8"));
    if (crd?.kind === "CustomResourceDefinition") walk(crd.spec.names.kind, crd.spec.versions);
  }
  return rules;
}

const fixtures = loadFixtures();
const kc = kubeConfig();
const client = KubernetesObjectApi.makeApiClient(kc);
/** Refusal messages by kind, for the coverage check at the end. */
const refusals = new Map<string, string[]>();
let ns: string;

beforeAll(async () => {
  ns = await createNamespace("invalid-manifests");
});

describe("invalid manifests", () => {
  it("form a corpus of well-formed fixtures", () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(30);
    for (const f of fixtures) {
      expect(f.expects.length, `${f.file} has no "# expect:" line`).toBeGreaterThan(0);
      expect([1, 2], `${f.file} must hold one or two documents`).toContain(f.docs.length);
      if (f.docs.length === 2) {
        const [original, update] = f.docs as [KubernetesObject, KubernetesObject];
        expect(update.kind, `${f.file}: the update must be the same kind`).toBe(original.kind);
        expect(update.metadata?.name, `${f.file}: the update must be the same object`).toBe(original.metadata?.name);
      }
    }
    const originals = fixtures.filter((f) => f.docs.length === 2).map((f) => f.docs[0]?.metadata?.name);
    expect(new Set(originals).size, "two-document originals need unique names").toBe(originals.length);
  });

  it.each(fixtures.map((f) => [basename(f.file, ".yaml"), f] as const))("%s is refused", async (_, fixture) => {
    const docs = fixture.docs.map((d) => ({ ...d, metadata: { ...d.metadata, namespace: ns } }));
    let attempt: Promise<unknown>;
    if (docs.length === 1) {
      attempt = client.create(docs[0] as KubernetesObject);
    } else {
      const [original, update] = docs as [KubernetesObject, KubernetesObject];
      const stored = await client.create(original);
      update.metadata = { ...update.metadata, resourceVersion: stored.metadata?.resourceVersion };
      attempt = client.replace(update);
    }
    const error = await expectApiError(attempt);
    const kind = docs[0]?.kind as string;
    refusals.set(kind, [...(refusals.get(kind) ?? []), error.message]);
    expect(error.code, error.message).toBe(422);
    for (const text of fixture.expects) expect(error.message).toContain(text);
  });

  it("trigger every CEL rule in crds/ at least once", () => {
    const rules = celRules();
    expect(rules.length).toBeGreaterThan(0);
    const untriggered = rules.filter((r) => !(refusals.get(r.kind) ?? []).some((m) => m.includes(r.message)));
    expect(
      untriggered.map((r) => `${r.kind}: ${r.rule}`),
      "CEL rules no fixture in test/fixtures/invalid triggers",
    ).toEqual([]);
  });
});
