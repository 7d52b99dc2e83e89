// Every manifest in examples/ is accepted as written, and `kubectl get gastown` lists them with
// the printer columns users will see.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { applyYaml, createNamespace, kubeConfig, parseYamlDocuments, runKubectl } from "../support/kube.ts";

const exampleDir = join(import.meta.dirname, "..", "..", "examples");
const examples = readdirSync(exampleDir)
  .filter((f) => f.endsWith(".yaml"))
  .sort()
  .map((file) => ({ file, text: readFileSync(join(exampleDir, file), "utf8") }));

const kc = kubeConfig();
let ns: string;

beforeAll(async () => {
  ns = await createNamespace("examples");
});

const HEADERS: Record<string, string[]> = {
  Town: ["NAME", "READY", "RIGS", "WORKING", "OPEN", "AGE"],
  Convoy: ["NAME", "PHASE", "PROGRESS", "MODE", "TOKENS", "AGE"],
  Bead: ["NAME", "PHASE", "TYPE", "RIG", "ASSIGNEE", "CONVOY", "TOKENS", "AGE"],
  Agent: ["NAME", "ROLE", "RIG", "PHASE", "HOOK", "LAST HEARTBEAT", "AGE"],
  AgentReport: ["NAME", "AGENT", "BEAD", "TYPE", "OUTCOME", "AGE"],
};

/** Splits `kubectl get` output into tables (one per kind), each a header line and rows. */
function tables(output: string): string[][] {
  return output
    .trim()
    .split(/\n\s*\n/)
    .map((block) => block.split("\n"));
}

function headerCells(header: string): string[] {
  return header.trim().split(/\s{2,}/);
}

describe("examples/", () => {
  it("holds examples of the user-facing kinds", () => {
    const kinds = examples.flatMap((e) => parseYamlDocuments(e.text).map((d) => d.kind));
    expect(kinds).toEqual(expect.arrayContaining(["Town", "Convoy", "Bead"]));
  });

  it.each(examples.map((e) => [e.file, e] as const))("%s is accepted by the apiserver", async (_, example) => {
    const applied = await applyYaml(kc, ns, example.text);
    const docs = parseYamlDocuments(example.text);
    expect(applied.map((o) => `${o.kind}/${o.metadata?.name}`)).toEqual(
      docs.map((d) => `${d.kind}/${d.metadata?.name}`),
    );
    for (const obj of applied) expect(obj.metadata?.uid, `${obj.kind}/${obj.metadata?.name}`).toBeTruthy();
  });

  it("are listed by `kubectl get gastown` with their printer columns", async () => {
    const output = await runKubectl(["get", "gastown", "-n", ns]);
    const byKind = new Map<string, string[]>();
    for (const table of tables(output)) {
      const [header, ...rows] = table as [string, ...string[]];
      const kind = /^(\w+)\.gastown\.dev\//.exec(rows[0]?.trim() ?? "")?.[1];
      expect(kind, `a table without gastown rows:\n${table.join("\n")}`).toBeTruthy();
      const name = Object.keys(HEADERS).find((k) => k.toLowerCase() === kind);
      expect(name, `unexpected kind ${kind}`).toBeTruthy();
      expect(headerCells(header)).toEqual(HEADERS[name!]);
      byKind.set(name!, rows);
    }
    for (const doc of examples.flatMap((e) => parseYamlDocuments(e.text))) {
      const rows = byKind.get(doc.kind!) ?? [];
      const row = rows.find((r) => r.startsWith(`${doc.kind!.toLowerCase()}.gastown.dev/${doc.metadata?.name} `));
      expect(row, `kubectl get gastown does not list ${doc.kind}/${doc.metadata?.name}:\n${output}`).toBeTruthy();
    }
    const bead = byKind.get("Bead")?.[0] ?? "";
    expect(bead.split(/\s{2,}/).slice(1, 3)).toEqual(["Issue", "app"]);
    const convoy = byKind.get("Convoy")?.[0] ?? "";
    expect(convoy).toContain("ReviewThenLand");
  });

  it("resolve through their short names", async () => {
    for (const [short, kind] of [
      ["town", "town"],
      ["cv", "convoy"],
      ["bd", "bead"],
    ]) {
      const names = await runKubectl(["get", short!, "-n", ns, "-o", "name"]);
      expect(names, short).toMatch(new RegExp(`^${kind}\\.gastown\\.dev/`, "m"));
    }
  });
});
