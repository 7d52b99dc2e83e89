// `kubectl gt convoy NAME [--dot | --mermaid | -o json|yaml]`.
import type { Bead } from "../../api/bead.ts";
import type { Convoy } from "../../api/convoy.ts";
import { BEADS, CONVOYS } from "../../controller/resources.ts";
import type { Cli } from "../context.ts";
import { usageError } from "../errors.ts";
import { plain, terminalPaint } from "../format.ts";
import { getObject, listAll } from "../objects.ts";
import { type OutputFormat, printDocument } from "../output.ts";
import { convoyGraph } from "./graph.ts";
import { renderDot, renderMermaid, renderTree } from "./render.ts";

export interface ConvoyOptions {
  dot: boolean;
  mermaid: boolean;
  output?: OutputFormat;
}

export async function convoy(cli: Cli, name: string, o: ConvoyOptions): Promise<void> {
  if ([o.dot, o.mermaid, o.output !== undefined].filter(Boolean).length > 1) {
    throw usageError("--dot, --mermaid and -o are alternatives: pick one");
  }
  const [c, beads] = await Promise.all([getObject<Convoy>(cli, CONVOYS, name), listAll<Bead>(cli, BEADS)]);
  const graph = convoyGraph(
    c,
    beads.filter((b) => b.spec.convoy === name || (b.spec.source?.kind === "Convoy" && b.spec.source.name === name)),
  );
  if (o.output) printDocument(cli.io, graph, o.output);
  else if (o.dot) cli.io.out(renderDot(graph));
  else if (o.mermaid) cli.io.out(renderMermaid(graph));
  else cli.io.out(renderTree(graph, cli.io.isTTY ? terminalPaint : plain));
}
