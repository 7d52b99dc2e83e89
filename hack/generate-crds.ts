// Writes crds/*.yaml from the zod schemas (make manifests).
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { renderCrdFiles } from "../src/api/crds.ts";

const dir = join(import.meta.dirname, "..", "crds");
mkdirSync(dir, { recursive: true });
const files = renderCrdFiles((doc) => stringify(doc, { lineWidth: 0 }));
for (const old of readdirSync(dir)) {
  if (old.endsWith(".yaml") && !files.has(old)) rmSync(join(dir, old));
}
for (const [name, text] of files) writeFileSync(join(dir, name), text);
console.log(`wrote ${files.size - 1} CRDs and their kustomization to crds/`);
