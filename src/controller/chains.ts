// Which of a plan's actions depend on each other. The plan's order keeps every prefix safe (see
// core/actions.ts), but most of that order only matters within one piece of work: a bead's claim,
// its agent's hook, session and status; a report's effects and then the report's own status.
// Actions that touch the same objects, directly or through the work they belong to, form one
// chain and keep their plan order; different chains are independent, so the actuator applies
// them concurrently, and one chain's failure does not hold back the others.
//
// Objects are joined by what they name: an action's object, its agent and bead (hook, session,
// poll), the report that caused it; an agent belongs with the work it is hooked to when the plan
// starts (so a release stays after the bead's own write); a bead belongs to the issue it was made
// from (a merge request to its source, a rework to its merge request), so a merge, the source's
// closing and its sibling merge requests stay in order; a bead's writes follow those of the beads
// it depends on (a dependent is dispatched only after its blocker's closing is written), except a
// write that leaves it Blocked and its creation, which cannot move it past a blocker. The
// town's and the convoys' status are summaries of everything else, and a convoy's landing merge
// request follows from all its members: these come last, and only when every chain went through.
import type { BeadSpec } from "../api/bead.ts";
import type { Action } from "../core/actions.ts";

export interface Chains {
  /** Independent chains, each in plan order: those that start a session first, then by first action. */
  chains: Action[][];
  /** Summaries, in plan order, applied after all chains (and only if none failed). */
  last: Action[];
}

/** What the split needs to know of a bead: where it comes from. */
export type BeadOrigin = Partial<Pick<BeadSpec, "source" | "reworkOf" | "dependsOn">>;

export interface PlanView {
  /** The bead's origin as the plan read it (beads the plan creates are read from the plan). */
  beadOf(name: string): BeadOrigin | undefined;
  /** The agent's hook as the plan read it. */
  hookOf(agent: string): string | undefined;
}

export function splitIntoChains(actions: readonly Action[], view: PlanView): Chains {
  const beadOf = (name: string) => view.beadOf(name);
  const created = new Map<string, BeadOrigin>();
  for (const a of actions) if (a.type === "CreateBead") created.set(a.name, a.spec);
  const origin = (name: string) => created.get(name) ?? beadOf(name);
  const roots = new Map<string, string>();
  const work = (bead: string): string => {
    const known = roots.get(bead);
    if (known) return known;
    let key = `Bead/${bead}`;
    const seen = new Set<string>();
    for (let name = bead; !seen.has(name); ) {
      seen.add(name);
      const o = origin(name);
      const next = o?.source?.kind === "Bead" ? o.source.name : o?.reworkOf;
      if (o?.source?.kind === "Convoy") {
        key = `Convoy/${o.source.name}`;
        break;
      }
      if (!next) {
        key = `Bead/${name}`;
        break;
      }
      name = next;
    }
    roots.set(bead, key);
    return key;
  };

  const parent = new Map<string, string>();
  const find = (k: string): string => {
    let r = k;
    while (parent.has(r) && parent.get(r) !== r) r = parent.get(r) as string;
    for (let n = k; n !== r; ) {
      const next = parent.get(n) as string;
      parent.set(n, r);
      n = next;
    }
    if (!parent.has(r)) parent.set(r, r);
    return r;
  };
  const union = (keys: string[]) => {
    const [first, ...rest] = keys.map(find);
    for (const k of rest) if (k !== first) parent.set(k, first as string);
  };

  const last: Action[] = [];
  const keyed: [Action, string][] = [];
  for (const a of actions) {
    const keys = a.type === "CreateBead" && a.spec.source?.kind === "Convoy" ? undefined : objectsOf(a, work);
    if (keys === undefined) {
      last.push(a);
      continue;
    }
    if (a.cause) keys.push(`AgentReport/${a.cause}`);
    const bead = "bead" in a && a.bead ? a.bead : a.type === "UpdateBeadStatus" ? a.name : undefined;
    for (const dep of (bead && !staysBlocked(a) ? origin(bead)?.dependsOn : undefined) ?? []) keys.push(work(dep));
    for (const k of [...keys]) {
      const hooked = k.startsWith("Agent/") ? view.hookOf(k.slice("Agent/".length)) : undefined;
      if (hooked) keys.push(work(hooked));
    }
    union(keys);
    keyed.push([a, keys[0] as string]);
  }
  const byRoot = new Map<string, Action[]>();
  for (const [a, key] of keyed) {
    const root = find(key);
    const chain = byRoot.get(root);
    if (chain) chain.push(a);
    else byRoot.set(root, [a]);
  }
  // Chains that start a session go first: a pod is what the work waits for, and a convoy's first
  // statuses (one chain per blocked bead) would otherwise take the write slots ahead of them.
  const chains = [...byRoot.values()];
  const starts = (c: Action[]) => c.some((a) => a.type === "StartSession");
  return { chains: [...chains.filter(starts), ...chains.filter((c) => !starts(c))], last };
}

/**
 * A bead status write that leaves the bead Blocked does not depend on its blockers' writes: it
 * is not dispatched in this plan, whatever they say. Chaining it to them put a whole convoy's
 * first statuses in one chain, one write after another (a 100-task convoy's beads without
 * dependencies waited 2.4 s at the median for their pod behind their dependents' statuses). A
 * bead's creation needs no order either: a dependency not created yet is an open blocker.
 */
function staysBlocked(a: Action): boolean {
  if (a.type !== "UpdateBeadStatus") return false;
  const conditions = a.status.conditions;
  return (
    Array.isArray(conditions) &&
    conditions.some((c: { type?: string; status?: string }) => c.type === "Blocked" && c.status === "True")
  );
}

/** The objects an action reads or writes, by kind/name; undefined for the summaries. */
function objectsOf(a: Action, work: (bead: string) => string): string[] | undefined {
  switch (a.type) {
    case "CreateBead":
    case "UpdateBeadStatus":
      return [work(a.name)];
    case "CreateAgent":
    case "UpdateAgentStatus":
    case "DeleteAgent":
      return [`Agent/${a.name}`];
    case "SetHook":
      return a.hook ? [`Agent/${a.agent}`, work(a.hook)] : [`Agent/${a.agent}`];
    case "StartSession":
      return [`Agent/${a.agent}`, work(a.bead)];
    case "StopSession":
    case "Nudge":
      return [`Agent/${a.agent}`];
    case "Escalate":
      return a.bead ? [`Agent/${a.agent}`, work(a.bead)] : [`Agent/${a.agent}`];
    case "UpdateReportStatus":
    case "DeleteReport":
      return [`AgentReport/${a.name}`];
    case "PollPullRequest":
      return [work(a.bead)];
    case "UpdateConvoyStatus":
    case "UpdateTownStatus":
      return undefined;
    default:
      // A new action type must say what it touches (and whether it is a summary).
      return a satisfies never;
  }
}
