// Writes crds/*.yaml from the zod schemas (make manifests), and the same CRDs into the Helm chart's
// crds/ directory (Helm installs those before the templates and never deletes them on uninstall).
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { chartCrdFiles, renderCrdFiles } from "../src/api/crds.ts";

const root = join(import.meta.dirname, "..");
const files = renderCrdFiles((doc) => stringify(doc, { lineWidth: 0 }));

function write(dir: string, wanted: Map<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const old of readdirSync(dir)) {
    if (old.endsWith(".yaml") && !wanted.has(old)) rmSync(join(dir, old));
  }
  for (const [name, text] of wanted) writeFileSync(join(dir, name), text);
}

write(join(root, "crds"), files);
write(join(root, "charts", "gastown-operator", "crds"), chartCrdFiles(files));
console.log(`wrote ${files.size - 1} CRDs and their kustomization to crds/, and the CRDs to the chart's crds/`);
