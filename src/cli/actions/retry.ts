// `kubectl gt retry BEAD|convoy/NAME`: raises spec.retry by one, which the operator reads as "retry
// this once" (docs/rules.md, Retry). It refuses, with the reason and what to do instead, wherever
// the operator would ignore the raise (a RetryIgnored Event nobody reads) or the retry would be
// undone at once (work cancelled by its convoy).
import type { Bead } from "../../api/bead.ts";
import type { Convoy } from "../../api/convoy.ts";
import type { Town } from "../../api/town.ts";
import { BEADS, CONVOYS, TOWNS } from "../../controller/resources.ts";
import { taskBeadName } from "../../core/names.ts";
import type { Cli } from "../context.ts";
import { CliError } from "../errors.ts";
import { findObject, listAll, resolveTarget } from "../objects.ts";
import { type Decision, decideAndWrite } from "./write.ts";

const refuse = (message: string, hint?: string) => new CliError(message, hint ? { hint } : {});

function pending(
  kind: string,
  name: string,
  spec: number | undefined,
  acted: number | undefined,
): Decision | undefined {
  if ((spec ?? 0) <= (acted ?? 0)) return undefined;
  return {
    result: `${kind}/${name} unchanged: a retry is already requested (spec.retry=${spec}) and the operator has not acted on it yet`,
  };
}

/** Why a Failed bead was cancelled by something else than its own spec.cancel, while that still holds. */
function cancelledByOthers(bead: Bead, convoy: Convoy | undefined): CliError | undefined {
  const s = bead.status;
  if (s?.phase !== "Failed" || s.resolution !== "Cancelled") return undefined;
  const name = bead.metadata.name;
  const again = "a retry would be cancelled again";
  switch (s.reason) {
    case "ConvoyCancelled":
      if (convoy && !convoy.spec.cancel) return undefined; // the convoy's cancel was taken back
      return refuse(
        `bead/${name} was cancelled with convoy ${bead.spec.convoy}: ${again}`,
        `take the convoy's cancel back and retry it in one edit: kubectl patch convoy ${bead.spec.convoy} --type=merge -p '{"spec":{"cancel":false,"retry":${(convoy?.spec.retry ?? 0) + 1}}}'`,
      );
    case "TaskRemoved":
      return refuse(
        `bead/${name} was cancelled when its task was removed from convoy ${bead.spec.convoy}: ${again}`,
        `add the task back to the convoy's spec.tasks`,
      );
    case "ConvoyDeleted":
      return refuse(`bead/${name} was cancelled when its convoy was deleted: ${again}`, "kubectl gt sling it again");
    case "ParentCancelled":
      return refuse(
        `bead/${name} was cancelled with the work it belongs to (${bead.spec.reworkOf ?? "its issue"}): ${again}`,
        "retry that work instead",
      );
    default:
      return undefined;
  }
}

/** Raises Bead.spec.retry, or says why the operator would not retry it. */
export function decideBeadRetry(bead: Bead, convoy?: Convoy): Decision {
  const name = bead.metadata.name;
  const s = bead.status;
  const src = bead.spec.source;
  if (bead.spec.type === "MergeRequest" && src?.kind === "Bead") {
    throw refuse(
      `bead/${name} is a merge request of ${src.name}: a merge request is redone with its issue`,
      `kubectl gt retry ${src.name}`,
    );
  }
  if (bead.spec.type === "MergeRequest" && src?.kind === "Convoy") {
    throw refuse(
      `bead/${name} is a landing of convoy ${src.name}: a landing is retried with its convoy`,
      `kubectl gt retry convoy/${src.name}`,
    );
  }
  const next = (bead.spec.retry ?? 0) + 1;
  if (bead.spec.cancel) {
    throw refuse(
      `bead/${name} was cancelled (spec.cancel=true): the operator ignores a retry of a cancelled bead`,
      `take the cancel back and retry in one edit: kubectl patch bead ${name} --type=merge -p '{"spec":{"cancel":false,"retry":${next}}}'`,
    );
  }
  const byOthers = cancelledByOthers(bead, convoy);
  if (byOthers) throw byOthers;
  const phase = s?.phase ?? "Open";
  if (phase !== "Failed" && !s?.hold) {
    throw refuse(
      `bead/${name} is ${phase}, not Failed or held: the operator would ignore a retry`,
      phase === "Closed"
        ? "it was merged; for more work: kubectl gt sling"
        : "it is still in the operator's hands; kubectl gt status shows why it waits",
    );
  }
  const already = pending("bead", name, bead.spec.retry, s?.retry);
  if (already) return already;
  const was = s?.hold ? `held: ${s.hold.reason}` : `Failed: ${s?.resolution ?? s?.reason ?? "failed"}`;
  return {
    spec: { retry: next },
    result: `bead/${name} retry requested (spec.retry=${next}): the operator reopens it with fresh budgets and dispatches it again (it was ${was})`,
  };
}

/** Raises Convoy.spec.retry, or says why there is nothing for the operator to retry. */
export function decideConvoyRetry(convoy: Convoy, beads: readonly Bead[]): Decision {
  const name = convoy.metadata.name;
  const next = (convoy.spec.retry ?? 0) + 1;
  if (convoy.spec.cancel) {
    throw refuse(
      `convoy/${name} is cancelled (spec.cancel=true): the operator ignores a retry of a cancelled convoy`,
      `take the cancel back and retry in one edit: kubectl patch convoy ${name} --type=merge -p '{"spec":{"cancel":false,"retry":${next}}}'`,
    );
  }
  const byName = new Map(beads.map((b) => [b.metadata.name, b]));
  const tasks = convoy.spec.tasks.map((t) => byName.get(taskBeadName(name, t.name)));
  const retried = tasks
    .filter(
      (b): b is Bead =>
        b !== undefined && !b.spec.cancel && (b.status?.phase === "Failed" || b.status?.hold !== undefined),
    )
    .map((b) => b.metadata.name);
  const phase = convoy.status?.phase ?? "Pending";
  if (retried.length === 0) {
    if (tasks.length > 0 && tasks.every((b) => b?.spec.cancel)) {
      throw refuse(`every task of convoy/${name} was cancelled by its own spec.cancel: nothing to retry`);
    }
    if (phase !== "Failed") {
      throw refuse(
        `convoy/${name} is ${phase} with no Failed or held task: nothing to retry`,
        phase === "Landed" ? "it landed; for more work add tasks to it" : `kubectl gt convoy ${name} shows where it is`,
      );
    }
  }
  const already = pending("convoy", name, convoy.spec.retry, convoy.status?.retry);
  if (already) return already;
  return {
    spec: { retry: next },
    result: `convoy/${name} retry requested (spec.retry=${next}): the operator ${
      retried.length > 0 ? `retries ${retried.join(", ")} and resets` : "resets"
    } its landing attempts`,
  };
}

/** What keeps the town from dispatching the retried work, if anything. */
async function dispatchHeld(cli: Cli, town: string): Promise<string> {
  const t = await findObject<Town>(cli, TOWNS, town);
  if (t?.spec.suspend) return `; town ${town} is suspended, so it waits for kubectl gt resume ${town}`;
  if (t?.status?.circuitBreaker?.open) {
    return `; town ${town}'s circuit breaker is open, so it waits for the breaker to close (kubectl gt reset-breaker ${town})`;
  }
  return "";
}

export async function retry(cli: Cli, target: string): Promise<string> {
  const { resource, object } = await resolveTarget(cli, target, [BEADS, CONVOYS]);
  const name = object.metadata.name;
  let town = "";
  const { line, written } =
    resource === CONVOYS
      ? await decideAndWrite<Convoy>(cli, CONVOYS, name, async (c) => {
          town = c.spec.town;
          const beads = (await listAll<Bead>(cli, BEADS)).filter((b) => b.spec.convoy === name);
          return decideConvoyRetry(c, beads);
        })
      : await decideAndWrite<Bead>(cli, BEADS, name, async (b) => {
          town = b.spec.town;
          const convoy = b.spec.convoy ? await findObject<Convoy>(cli, CONVOYS, b.spec.convoy) : undefined;
          return decideBeadRetry(b, convoy);
        });
  return written ? line + (await dispatchHeld(cli, town)) : line;
}
