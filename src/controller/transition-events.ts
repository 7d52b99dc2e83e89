// One Event per object and plan: everything a plan did to an object is one transition of it (a
// dispatch claims the bead, hooks the agent, starts its session and marks it Working, and its
// Ready condition flips with it), so `kubectl describe` shows one line per step instead of one per
// write, and the API gets a third of the Event writes. The first reason names the step; the note
// keeps every distinct message, in plan order; any warning makes the Event a Warning.
import type { Why } from "../core/actions.ts";

export interface Transition {
  type: "Normal" | "Warning";
  reason: string;
  note: string;
}

export function transitionOf(whys: readonly Why[]): Transition | undefined {
  const first = whys[0];
  if (!first) return undefined;
  const notes: string[] = [];
  for (const w of whys) if (!notes.includes(w.message)) notes.push(w.message);
  return {
    type: whys.some((w) => w.warning) ? "Warning" : "Normal",
    reason: first.reason,
    note: notes.join("; "),
  };
}
