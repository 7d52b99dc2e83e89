// A convoy as a graph: its tasks (each with its bead's phase, assignee and merge requests), the
// dependency edges, and the landing. Pure, like the status model; the renderers below draw it as a
// tree in the terminal, as Graphviz dot, or as a Mermaid flowchart.
import type { Bead } from "../../api/bead.ts";
import type { Convoy } from "../../api/convoy.ts";
import { landingName, taskBeadName } from "../../core/names.ts";

export interface MergeRequestView {
  name: string;
  phase: string;
  reworks: { name: string; phase: string }[];
}

export interface TaskNode {
  task: string;
  bead: string;
  title: string;
  phase: string;
  assignee?: string;
  dependsOn: string[];
  reason?: string;
  message?: string;
  /** Held by the operator until a person retries or cancels it (Bead.status.hold). */
  hold?: { reason: string; message: string; since: string };
  /** Retries the operator has acted on. */
  retries?: number;
  /** Newest last. */
  mergeRequests: MergeRequestView[];
}

export interface ConvoyGraph {
  apiVersion: "cli.gastown.dev/v1alpha1";
  kind: "ConvoyGraph";
  name: string;
  namespace: string;
  title: string;
  town: string;
  phase: string;
  mergeMode: string;
  featureBranch?: string;
  progress: { closed: number; failed: number; total: number };
  tasks: TaskNode[];
  landing?: { name: string; phase: string; attempts: number; landedAt?: string };
  problem?: { reason: string; message: string };
}

const seq = (name: string) => Number(/-(\d+)$/.exec(name)?.[1] ?? 0);

export function convoyGraph(convoy: Convoy, beads: Bead[]): ConvoyGraph {
  const name = convoy.metadata.name;
  const byName = new Map(beads.map((b) => [b.metadata.name, b]));
  const mrsOf = (source: string, kind: "Bead" | "Convoy") =>
    beads
      .filter((b) => b.spec.type === "MergeRequest" && b.spec.source?.kind === kind && b.spec.source.name === source)
      .sort((a, b) => seq(a.metadata.name) - seq(b.metadata.name));
  const mrView = (mr: Bead): MergeRequestView => ({
    name: mr.metadata.name,
    phase: mr.status?.phase ?? "Open",
    reworks: beads
      .filter((b) => b.spec.reworkOf === mr.metadata.name)
      .sort((a, b) => seq(a.metadata.name) - seq(b.metadata.name))
      .map((b) => ({ name: b.metadata.name, phase: b.status?.phase ?? "Open" })),
  });
  const tasks: TaskNode[] = convoy.spec.tasks.map((t) => {
    const beadName = taskBeadName(name, t.name);
    const bead = byName.get(beadName);
    const s = bead?.status;
    const stalled = s?.conditions?.find((c) => c.type === "Stalled" && c.status === "True");
    const blocked = s?.conditions?.find((c) => c.type === "Blocked" && c.status === "True");
    const ready = s?.conditions?.find((c) => c.type === "Ready");
    const shown = stalled ?? blocked ?? (s?.phase === "Closed" ? undefined : ready);
    return {
      task: t.name,
      bead: beadName,
      title: t.title,
      phase: bead ? (s?.phase ?? "Open") : "NotCreated",
      ...(s?.assignee ? { assignee: s.assignee } : {}),
      dependsOn: [...(t.dependsOn ?? [])],
      ...(shown ? { reason: shown.reason, message: shown.message } : {}),
      ...(s?.hold ? { hold: { ...s.hold } } : {}),
      ...(s?.retry ? { retries: s.retry } : {}),
      mergeRequests: mrsOf(beadName, "Bead").map(mrView),
    };
  });
  const s = convoy.status;
  const landingBead = s?.landing?.bead ?? (s?.landing?.attempts ? landingName(name, s.landing.attempts) : undefined);
  const landing = landingBead ? byName.get(landingBead) : undefined;
  const problem = s?.conditions?.find((c) => c.type === "Stalled" && c.status === "True");
  return {
    apiVersion: "cli.gastown.dev/v1alpha1",
    kind: "ConvoyGraph",
    name,
    namespace: convoy.metadata.namespace ?? "",
    title: convoy.spec.title,
    town: convoy.spec.town,
    phase: s?.phase ?? (convoy.spec.staged ? "Staged" : "Pending"),
    mergeMode: convoy.spec.mergeMode ?? "ReviewThenLand",
    ...(s?.featureBranch ? { featureBranch: s.featureBranch } : {}),
    progress: {
      closed: s?.progress?.closed ?? 0,
      failed: s?.progress?.failed ?? 0,
      total: s?.progress?.total ?? convoy.spec.tasks.length,
    },
    tasks,
    ...(landingBead
      ? {
          landing: {
            name: landingBead,
            phase: landing?.status?.phase ?? "Open",
            attempts: s?.landing?.attempts ?? 1,
            ...(s?.landing?.landedAt ? { landedAt: s.landing.landedAt } : {}),
          },
        }
      : {}),
    ...(problem ? { problem: { reason: problem.reason, message: problem.message } } : {}),
  };
}

/** Tasks that depend on each task, in spec order. */
export function dependents(g: ConvoyGraph): Map<string, string[]> {
  const out = new Map<string, string[]>(g.tasks.map((t) => [t.task, []]));
  for (const t of g.tasks) for (const d of t.dependsOn) out.get(d)?.push(t.task);
  return out;
}
