// What follows from a convoy's task list alone — its task beads' names, the problems of its graph
// — made once per version of the list rather than once per plan: a steady town replans thousands
// of unchanged tasks on every watch event. Specs are never changed in place (the shell's caches
// deep-freeze what they hold and replace an object when it changes; the simulated world replaces
// an edited spec), so an entry keyed by the task list is exact, and goes when the list does.
import type { ConvoySpec } from "../api/convoy.ts";
import { taskBeadName } from "./names.ts";

type Tasks = ConvoySpec["tasks"];

interface Facts {
  convoy: string;
  names: readonly string[];
  nameSet: ReadonlySet<string>;
  /** The graph's problem for one set of rigs and merge mode (the message names them). */
  problem?: { key: string; value: string | undefined };
}

const memo = new WeakMap<Tasks, Facts>();

function facts(convoy: string, tasks: Tasks): Facts {
  let f = memo.get(tasks);
  if (!f || f.convoy !== convoy) {
    const names = tasks.map((t) => taskBeadName(convoy, t.name));
    f = { convoy, names, nameSet: new Set(names) };
    memo.set(tasks, f);
  }
  return f;
}

/** The bead names of a convoy's tasks, in task order. */
export function taskBeadNames(convoy: string, tasks: Tasks): readonly string[] {
  return facts(convoy, tasks).names;
}

/** The same names as a set: is this bead one of the convoy's tasks? */
export function taskBeadSet(convoy: string, tasks: Tasks): ReadonlySet<string> {
  return facts(convoy, tasks).nameSet;
}

/** A dependency cycle as "a -> b -> a", or undefined. */
export function findCycle(tasks: readonly { name: string; dependsOn: readonly string[] }[]): string[] | undefined {
  const deps = new Map(tasks.map((t) => [t.name, t.dependsOn]));
  const state = new Map<string, "visiting" | "done">();
  const path: string[] = [];
  const visit = (n: string): string[] | undefined => {
    if (state.get(n) === "done") return undefined;
    if (state.get(n) === "visiting") return [...path.slice(path.indexOf(n)), n];
    state.set(n, "visiting");
    path.push(n);
    for (const dep of deps.get(n) ?? []) {
      const cycle = visit(dep);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(n, "done");
    return undefined;
  };
  for (const t of tasks) {
    const cycle = visit(t.name);
    if (cycle) return cycle;
  }
  return undefined;
}

function graphProblem(
  tasks: Tasks,
  mergeMode: ConvoySpec["mergeMode"],
  town: string,
  rigs: ReadonlyMap<string, unknown>,
): string | undefined {
  const badRigs = [...new Set(tasks.map((t) => t.rig).filter((r) => !rigs.has(r)))];
  if (badRigs.length > 0) {
    return `unknown rig ${badRigs.join(", ")}: town ${town} has rigs ${[...rigs.keys()].join(", ")}`;
  }
  const names = new Set(tasks.map((t) => t.name));
  for (const t of tasks) {
    const unknown = t.dependsOn.filter((dep) => !names.has(dep));
    if (unknown.length > 0) return `task ${t.name} depends on unknown task ${unknown.join(", ")}`;
  }
  const cycle = findCycle(tasks);
  if (cycle) return `dependency cycle: ${cycle.join(" -> ")}`;
  if (mergeMode === "ReviewThenLand" && new Set(tasks.map((t) => t.rig)).size > 1) {
    return "a ReviewThenLand convoy lands one feature branch, so all its tasks must use the same rig";
  }
  return undefined;
}

/**
 * What is wrong with a convoy's task graph on its own — an unknown rig, an unknown dependency, a
 * cycle, several rigs for one feature branch — or undefined.
 */
export function taskGraphProblem(
  convoy: string,
  spec: ConvoySpec,
  town: string,
  rigs: ReadonlyMap<string, unknown>,
): string | undefined {
  const f = facts(convoy, spec.tasks);
  const key = `${spec.mergeMode}\n${town}\n${[...rigs.keys()].join("\n")}`;
  if (f.problem?.key !== key) f.problem = { key, value: graphProblem(spec.tasks, spec.mergeMode, town, rigs) };
  return f.problem.value;
}
