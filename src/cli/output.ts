// -o json|yaml: documents for scripts. YAML through the yaml package (the operator's own choice).
import { stringify } from "yaml";
import type { Output } from "./context.ts";
import { usageError } from "./errors.ts";

export const OUTPUT_FORMATS = ["json", "yaml"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export function outputFormat(value: string | undefined): OutputFormat | undefined {
  if (value === undefined) return undefined;
  if ((OUTPUT_FORMATS as readonly string[]).includes(value)) return value as OutputFormat;
  throw usageError(`unknown output format "${value}"`, `use -o json or -o yaml`);
}

/** One document; with stream, YAML documents are separated by --- as kubectl get -w -o yaml does. */
export function printDocument(io: Output, doc: unknown, format: OutputFormat, o: { stream?: boolean } = {}): void {
  if (format === "json") io.out(`${JSON.stringify(doc, null, 2)}\n`);
  else io.out(`${o.stream ? "---\n" : ""}${stringify(doc, { lineWidth: 0 })}`);
}
