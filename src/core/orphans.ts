// Convoys and Beads that name a Town that does not exist (docs/rules.md, "Orphans"): they say so —
// Ready=False and Stalled=True with reason TownNotFound — so kubectl and GitOps tools do not show
// them as healthy forever. The town's first plan, once it exists, rewrites their conditions.
import type { Bead } from "../api/bead.ts";
import type { Convoy } from "../api/convoy.ts";
import type { Condition } from "../api/meta.ts";
import type { Action, Why } from "./actions.ts";
import { setCondition } from "./conditions.ts";

function orphaned(
  conditions: readonly Condition[],
  generation: number,
  message: string,
  now: number,
): readonly Condition[] {
  const c = setCondition(
    conditions,
    { type: "Ready", status: "False", reason: "TownNotFound", message },
    now,
    generation,
  );
  return setCondition(c, { type: "Stalled", status: "True", reason: "TownNotFound", message }, now, generation);
}

/** Status writes for the convoys and beads of a town that does not exist; none once they say so. */
export function planOrphans(
  input: { town: string; namespace: string; convoys: readonly Convoy[]; beads: readonly Bead[] },
  now: number,
): Action[] {
  const message = `town ${input.town} does not exist in namespace ${input.namespace}: create it, or set spec.town to an existing Town`;
  const w: Why = { reason: "TownNotFound", message, warning: true };
  const out: Action[] = [];
  const write = (
    type: "UpdateConvoyStatus" | "UpdateBeadStatus",
    o: { metadata: Bead["metadata"]; status?: { conditions?: Condition[]; observedGeneration?: number } },
  ) => {
    const before = o.status?.conditions ?? [];
    const generation = o.metadata.generation ?? 0;
    const after = orphaned(before, generation, message, now);
    if (after === before && o.status?.observedGeneration === generation) return;
    out.push({
      type,
      name: o.metadata.name,
      resourceVersion: o.metadata.resourceVersion ?? "",
      status: { conditions: [...after], observedGeneration: generation },
      events: after === before ? [] : [w],
    });
  };
  for (const c of input.convoys)
    if (c.spec.town === input.town && !c.metadata.deletionTimestamp) write("UpdateConvoyStatus", c);
  for (const b of input.beads)
    if (b.spec.town === input.town && !b.metadata.deletionTimestamp) write("UpdateBeadStatus", b);
  return out;
}
