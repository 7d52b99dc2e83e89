// Drawing a convoy graph: a tree for the terminal (each task under the tasks it waits for; a task
// with several dependencies is drawn in full once and referred to afterwards), Graphviz dot, Mermaid.
import { type Paint, plain, progressBar, table } from "../format.ts";
import { phase } from "../status/render.ts";
import { type ConvoyGraph, dependents, type TaskNode } from "./graph.ts";

function mrSummary(t: TaskNode): string {
  const mr = t.mergeRequests[t.mergeRequests.length - 1];
  if (!mr) return "-";
  const reworks = mr.reworks.filter((r) => r.phase !== "Closed" && r.phase !== "Failed");
  const extra = [
    ...(t.mergeRequests.length > 1 ? [`attempt ${t.mergeRequests.length}`] : []),
    ...(mr.reworks.length > 0
      ? [
          `${mr.reworks.length} rework${mr.reworks.length > 1 ? "s" : ""}${reworks.length ? `, ${reworks.map((r) => `${r.name} ${r.phase}`).join(", ")}` : ""}`,
        ]
      : []),
  ];
  return `${mr.name} ${mr.phase}${extra.length ? ` (${extra.join("; ")})` : ""}`;
}

const DONE = new Set(["Closed", "Failed"]);

export function renderTree(g: ConvoyGraph, paint: Paint = plain): string {
  const kids = dependents(g);
  const byTask = new Map(g.tasks.map((t) => [t.task, t]));
  const drawn = new Set<string>();
  const rows: { prefix: string; node?: TaskNode; ref?: string; landing?: true }[] = [];
  const walk = (task: string, prefix: string, last: boolean) => {
    const branch = `${prefix}${last ? "└─ " : "├─ "}`;
    const below = `${prefix}${last ? "   " : "│  "}`;
    if (drawn.has(task)) {
      rows.push({ prefix: branch, ref: task });
      return;
    }
    drawn.add(task);
    rows.push({ prefix: branch, node: byTask.get(task)! });
    const children = kids.get(task) ?? [];
    children.forEach((c, i) => {
      walk(c, below, i === children.length - 1);
    });
  };
  const roots = g.tasks.filter((t) => t.dependsOn.length === 0).map((t) => t.task);
  const hasLanding = g.mergeMode === "ReviewThenLand";
  roots.forEach((r, i) => {
    walk(r, "", i === roots.length - 1 && !hasLanding);
  });
  // Tasks in a cycle have no root; the operator rejects such a convoy, but show them anyway.
  for (const t of g.tasks) if (!drawn.has(t.task)) walk(t.task, "", !hasLanding);
  const cells = rows.map((r) => {
    if (r.ref) return [`${r.prefix}${r.ref}`, "", "", "", paint("dim", "(shown above)")];
    const t = r.node!;
    const open = t.dependsOn.filter((d) => !DONE.has(byTask.get(d)?.phase ?? ""));
    const why = t.hold
      ? `held: ${t.hold.reason}: ${t.hold.message}`
      : t.phase === "Open" && open.length > 0
        ? `waits for ${open.join(", ")}`
        : t.reason && t.phase !== "InProgress" && t.phase !== "InReview"
          ? `${t.reason}: ${t.message ?? ""}`.trim()
          : "";
    return [`${r.prefix}${t.task}`, phase(t.phase, paint), t.assignee ?? "-", mrSummary(t), why];
  });
  if (hasLanding) {
    const l = g.landing;
    cells.push([
      "└─ (landing)",
      l ? phase(l.phase, paint) : "-",
      "",
      l ? `${l.name}${l.attempts > 1 ? ` (attempt ${l.attempts})` : ""}` : "-",
      l ? "" : "waits for every task to merge",
    ]);
  }
  const head = `Convoy ${paint("bold", g.name)}   ${phase(g.phase, paint)}   ${progressBar(g.progress.closed, g.progress.failed, g.progress.total)} ${g.progress.closed}/${g.progress.total}   ${g.mergeMode}${g.featureBranch ? ` → ${g.featureBranch}` : ""}   town ${g.town}`;
  const lines = [head, `  ${g.title}`];
  if (g.problem) lines.push(`  ${paint("yellow", "!")} ${g.problem.reason}: ${g.problem.message}`);
  lines.push(...table(["TASK", "PHASE", "ASSIGNEE", "MERGE REQUEST", "WHY"], cells));
  return `${lines.join("\n")}\n`;
}

const FILL: Record<string, string> = {
  Closed: "#c8e6c9",
  Landed: "#c8e6c9",
  InProgress: "#bbdefb",
  InReview: "#d1c4e9",
  Failed: "#ffcdd2",
  Open: "#eeeeee",
  NotCreated: "#ffffff",
};

const dotString = (s: string) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

function nodeLabel(t: TaskNode): string {
  return [t.task, `${t.phase}${t.assignee ? ` · ${t.assignee}` : ""}`].join("\n");
}

export function renderDot(g: ConvoyGraph): string {
  const lines = [
    `digraph ${dotString(g.name)} {`,
    `  label=${dotString(`convoy ${g.name}: ${g.phase} ${g.progress.closed}/${g.progress.total}`)};`,
    "  labelloc=t;",
    "  rankdir=LR;",
    '  node [shape=box, style="rounded,filled", fontname="Helvetica"];',
  ];
  for (const t of g.tasks) {
    lines.push(
      `  ${dotString(t.task)} [label=${dotString(nodeLabel(t))}, fillcolor=${dotString(FILL[t.phase] ?? "#eeeeee")}];`,
    );
  }
  for (const t of g.tasks) for (const d of t.dependsOn) lines.push(`  ${dotString(d)} -> ${dotString(t.task)};`);
  if (g.mergeMode === "ReviewThenLand") {
    const phaseOf = g.landing?.phase ?? "waiting";
    lines.push(
      `  "(landing)" [label=${dotString(`landing\n${phaseOf}`)}, shape=doubleoctagon, fillcolor=${dotString(FILL[phaseOf] ?? "#ffffff")}];`,
    );
    const kids = dependents(g);
    for (const t of g.tasks)
      if ((kids.get(t.task) ?? []).length === 0) lines.push(`  ${dotString(t.task)} -> "(landing)";`);
  }
  lines.push("}");
  return `${lines.join("\n")}\n`;
}

const mermaidId = (task: string) => `t_${task.replace(/-/g, "_")}`;
const mermaidText = (s: string) => s.replace(/"/g, "#quot;");

export function renderMermaid(g: ConvoyGraph): string {
  const lines = ["flowchart LR"];
  const classes = new Set<string>();
  for (const t of g.tasks) {
    const cls = t.phase.toLowerCase();
    classes.add(t.phase);
    lines.push(
      `  ${mermaidId(t.task)}["${mermaidText(t.task)}<br/>${mermaidText(t.phase)}${t.assignee ? ` · ${mermaidText(t.assignee)}` : ""}"]:::${cls}`,
    );
  }
  for (const t of g.tasks) for (const d of t.dependsOn) lines.push(`  ${mermaidId(d)} --> ${mermaidId(t.task)}`);
  if (g.mergeMode === "ReviewThenLand") {
    const p = g.landing?.phase ?? "waiting";
    lines.push(`  landing{{"landing<br/>${p}"}}`);
    const kids = dependents(g);
    for (const t of g.tasks)
      if ((kids.get(t.task) ?? []).length === 0) lines.push(`  ${mermaidId(t.task)} --> landing`);
  }
  for (const p of classes) lines.push(`  classDef ${p.toLowerCase()} fill:${FILL[p] ?? "#eeeeee"}`);
  return `${lines.join("\n")}\n`;
}
