// `kubectl gt stage|start CONVOY`: spec.staged, which holds (true) or starts (false) its dispatch.
import type { Convoy } from "../../api/convoy.ts";
import { CONVOYS } from "../../controller/resources.ts";
import type { Cli } from "../context.ts";
import { CliError } from "../errors.ts";
import { getObject } from "../objects.ts";
import { mergePatch } from "./write.ts";

export async function setStaged(cli: Cli, name: string, staged: boolean): Promise<string> {
  const convoy = await getObject<Convoy>(cli, CONVOYS, name);
  const phase = convoy.status?.phase ?? "Pending";
  if ((convoy.spec.staged === true) === staged) {
    return `convoy/${name} unchanged: already ${staged ? "staged" : "started"} (${phase})`;
  }
  if (staged && (phase === "Landed" || phase === "Failed")) {
    throw new CliError(`convoy/${name} is ${phase}: staging it would change nothing`);
  }
  await mergePatch(cli, CONVOYS, name, { spec: { staged } });
  return staged
    ? `convoy/${name} staged (spec.staged=true): nothing new is dispatched; sessions already running go on`
    : `convoy/${name} started (spec.staged=false): its unblocked tasks are dispatched now`;
}
