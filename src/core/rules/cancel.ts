// Cancel cascades (docs/rules.md, "Cancel"). A bead is cancelled by its own spec.cancel, by its
// convoy's spec.cancel or deletion, by being removed from its convoy's tasks before it merged, or
// by the cancel of the work it belongs to: an issue's merge requests, a merge request's reworks.
// Cancelled work is never merged: its sessions are stopped and its agents released at once.
import type { Draft } from "../draft.ts";
import type { BeadView } from "../snapshot.ts";
import { isTerminal } from "../snapshot.ts";
import { taskBeadSet } from "../task-graph.ts";
import { release, why } from "./work.ts";

/** Why a bead must be cancelled now, or undefined. */
function ownCancel(d: Draft, bead: BeadView): { reason: string; message: string } | undefined {
  if (bead.spec.cancel) return { reason: "Cancelled", message: `${bead.name} was cancelled (spec.cancel)` };
  const convoyName = bead.spec.convoy ?? bead.ownerConvoy;
  if (!convoyName) return undefined;
  const convoy = d.convoy(convoyName);
  if (!convoy) {
    // Owned by a convoy that is gone: the garbage collector is about to delete it; never merge it.
    if (bead.ownerConvoy) return { reason: "ConvoyDeleted", message: `convoy ${convoyName} was deleted` };
    // A merge request or rework names the convoy of the issue it was made for. It has no owner
    // when that convoy was already gone as it was made (its issue's Done applied in the plan that
    // first saw the deletion): the garbage collector then takes the issue, and with it the only
    // cascade that would have cancelled this one, so it is cancelled on its own.
    const made = bead.spec.type === "MergeRequest" || bead.spec.reworkOf !== undefined;
    return made ? { reason: "ConvoyDeleted", message: `convoy ${convoyName} no longer exists` } : undefined;
  }
  if (convoy.deleting) return { reason: "ConvoyDeleted", message: `convoy ${convoy.name} is being deleted` };
  if (convoy.spec.cancel) return { reason: "ConvoyCancelled", message: `convoy ${convoy.name} was cancelled` };
  const isTask = bead.spec.type === "Issue" && !bead.spec.reworkOf && bead.ownerConvoy === convoy.name;
  if (isTask && !taskBeadSet(convoy.name, convoy.spec.tasks).has(bead.name)) {
    return { reason: "TaskRemoved", message: `task ${bead.name} was removed from convoy ${convoy.name}` };
  }
  return undefined;
}

/** The work a bead belongs to: a merge request's source issue, a rework's merge request. */
function parentOf(bead: BeadView): string | undefined {
  if (bead.spec.type === "MergeRequest" && bead.spec.source?.kind === "Bead") return bead.spec.source.name;
  return bead.spec.reworkOf;
}

const cancelledAlready = (b: BeadView | undefined) =>
  b !== undefined && b.state.phase === "Failed" && b.state.resolution === "Cancelled";

export function cancelBeads(d: Draft): void {
  const cancel = new Map<string, { reason: string; message: string }>();
  for (const snapBead of d.snap.activeBeads) {
    const bead = d.current(snapBead);
    if (isTerminal(bead.state.phase)) continue;
    const own = ownCancel(d, bead);
    if (own) cancel.set(bead.name, own);
  }
  // Cascade down: merge requests of cancelled issues, reworks of cancelled merge requests (and the
  // reworks' own merge requests' … — the loop runs until nothing new is found).
  for (let grew = true; grew; ) {
    grew = false;
    for (const snapBead of d.snap.activeBeads) {
      if (cancel.has(snapBead.name)) continue;
      const bead = d.current(snapBead);
      const parent = parentOf(bead);
      if (!parent || isTerminal(bead.state.phase)) continue;
      if (cancel.has(parent) || cancelledAlready(d.bead(parent))) {
        cancel.set(bead.name, { reason: "ParentCancelled", message: `${parent} was cancelled` });
        grew = true;
      }
    }
  }
  for (const [name, c] of cancel) {
    const bead = d.bead(name) as BeadView;
    const w = why(c.reason, c.message);
    d.updateBead(
      bead.name,
      { phase: "Failed", phaseSince: d.now, resolution: "Cancelled", reason: c.reason, hold: undefined },
      w,
    );
    for (const agent of d.hookedTo(bead.name)) {
      for (const s of d.liveSessions(agent.name)) d.stopSession(agent.name, s.name, w);
      release(d, agent.name, w);
    }
  }
}
