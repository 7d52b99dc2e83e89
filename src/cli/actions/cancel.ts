// `kubectl gt cancel BEAD|convoy/NAME`: spec.cancel=true, which the operator reads as "stop this
// work and fail it" (docs/rules.md, Cancel): its sessions are stopped, its merge requests and
// reworks (and a convoy's tasks and landing) cancelled with it, and nothing of it is merged.
import type { Bead } from "../../api/bead.ts";
import type { Convoy } from "../../api/convoy.ts";
import { BEADS, CONVOYS } from "../../controller/resources.ts";
import type { Cli } from "../context.ts";
import { CliError } from "../errors.ts";
import { resolveTarget } from "../objects.ts";
import { type Decision, decideAndWrite } from "./write.ts";

const TERMINAL = new Set(["Closed", "Failed"]);

export function decideBeadCancel(bead: Bead): Decision {
  const name = bead.metadata.name;
  const phase = bead.status?.phase ?? "Open";
  if (bead.spec.cancel) return { result: `bead/${name} unchanged: spec.cancel is already true (${phase})` };
  if (TERMINAL.has(phase)) {
    throw new CliError(`bead/${name} is already ${phase}: there is nothing left to cancel`, {
      ...(phase === "Failed" ? { hint: `to run it again instead: kubectl gt retry ${name}` } : {}),
    });
  }
  return {
    spec: { cancel: true },
    result: `bead/${name} cancelled (spec.cancel=true): the operator stops its sessions and fails it with reason Cancelled`,
  };
}

export function decideConvoyCancel(convoy: Convoy): Decision {
  const name = convoy.metadata.name;
  const phase = convoy.status?.phase ?? "Pending";
  if (convoy.spec.cancel) return { result: `convoy/${name} unchanged: spec.cancel is already true (${phase})` };
  if (phase === "Landed") {
    throw new CliError(`convoy/${name} has Landed: there is nothing left to cancel`, {
      hint: "its work is merged; revert it in git if it must go",
    });
  }
  return {
    spec: { cancel: true },
    result: `convoy/${name} cancelled (spec.cancel=true): the operator stops its sessions, fails its unfinished tasks, merge requests and landing (ConvoyCancelled), and the convoy becomes Failed`,
  };
}

export async function cancel(cli: Cli, target: string): Promise<string> {
  const { resource, object } = await resolveTarget(cli, target, [BEADS, CONVOYS]);
  const name = object.metadata.name;
  const { line } =
    resource === CONVOYS
      ? await decideAndWrite<Convoy>(cli, CONVOYS, name, decideConvoyCancel)
      : await decideAndWrite<Bead>(cli, BEADS, name, decideBeadCancel);
  return line;
}
