// One Event per object and plan: everything a plan did to an object is one transition of it (a
// dispatch claims the bead, hooks the agent, starts its session and marks it Working, and its
// Ready condition flips with it), so `kubectl describe` shows one line per step instead of one per
// write, and the API gets a third of the Event writes. The first reason names the step; the note
// keeps every distinct message, in plan order; any warning makes the Event a Warning.
//
// An agent's transition that only retells its bead's (a dispatch, a finished session, a merge) is
// not an Event of its own: the bead's Event names the agent as `related` (`kubectl gt feed
// --agent` shows it). Those were a quarter of a convoy's Events (Dispatched, WorkDone, Released
// once each on the bead and on the agent).
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

/** What one plan did to one object, in the order the plan did it. */
export interface Story {
  kind: string;
  name: string;
  whys: readonly Why[];
  /** The objects the plan made for this one (told after its own steps: they follow from them). */
  made?: readonly Why[];
}

/**
 * Whose story a created bead is, as Kubernetes' own controllers tell a pod's creation on its
 * ReplicaSet: a merge request's or a landing's on its source, a rework's on the merge request it
 * answers, a task's on its convoy. `kubectl describe convoy` then says which tasks it made in one
 * Event instead of an Event on each new bead (a tenth of a convoy's Events).
 */
export function creatorOf(spec: {
  source?: { kind: "Bead" | "Convoy"; name: string };
  reworkOf?: string;
  convoy?: string;
}): { kind: "Bead" | "Convoy"; name: string } | undefined {
  if (spec.source) return spec.source;
  if (spec.reworkOf) return { kind: "Bead", name: spec.reworkOf };
  if (spec.convoy) return { kind: "Convoy", name: spec.convoy };
  return undefined;
}

export interface Told<S extends Story> {
  story: S;
  transition: Transition;
  /** The agent whose own story this Event also tells. */
  related?: S;
}

const stepKey = (w: Why) => `${w.reason}\n${w.message}`;

/**
 * The Events a plan's stories make, in story order. An Agent story without warnings whose every
 * step is also a step of a Bead story is told by those beads' Events only, each naming the agent
 * as related (a refinery that merged one merge request and started the next in one plan is told
 * by both); a bead names one related agent, so an agent whose step is on a bead that already
 * names another keeps its own Event.
 */
export function tellStories<S extends Story>(stories: Iterable<S>): Told<S>[] {
  const all = [...stories];
  // The beads that tell each step, in story order: a plan of 1k dispatches looks each step up once.
  const beadsBy = new Map<string, S[]>();
  for (const b of all) {
    if (b.kind !== "Bead") continue;
    for (const key of new Set(b.whys.map(stepKey))) beadsBy.set(key, [...(beadsBy.get(key) ?? []), b]);
  }
  const relatedOf = new Map<S, S>();
  const folded = new Set<S>();
  for (const agent of all) {
    // A failure is news on both objects: `kubectl describe agent` must show why its session died.
    if (agent.kind !== "Agent" || agent.whys.length === 0 || agent.whys.some((w) => w.warning)) continue;
    const free = (b: S) => relatedOf.get(b) === undefined || relatedOf.get(b) === agent;
    const tellers = agent.whys.map((w) => beadsBy.get(stepKey(w))?.find(free));
    if (tellers.some((b) => b === undefined)) continue;
    for (const bead of tellers as S[]) relatedOf.set(bead, agent);
    folded.add(agent);
  }
  const told: Told<S>[] = [];
  for (const story of all) {
    if (folded.has(story)) continue;
    const transition = transitionOf(story.made ? [...story.whys, ...story.made] : story.whys);
    if (!transition) continue;
    const related = relatedOf.get(story);
    told.push({ story, transition, ...(related ? { related } : {}) });
  }
  return told;
}
