// The status screen of a town, as lines of text. One renderer for the one-shot view, every frame of
// --watch and the plain-line fallback, so what a script greps is what a person sees.
import { ago, inTime, type Paint, plain, progressBar, table, truncate } from "../format.ts";
import type {
  AgentRow,
  BeadRow,
  CircuitBreakerView,
  ConvoyRow,
  EscalationView,
  OrphanRow,
  StatusDocument,
  TownView,
} from "./model.ts";

export interface RenderOptions {
  now: number;
  paint?: Paint;
  /** Terminal width; long messages are cut to it. */
  columns?: number;
  /** At most this many beads are listed (attention first); the rest are counted. */
  maxBeads?: number;
}

const PHASE_STYLE: Record<string, Parameters<Paint>[0]> = {
  Closed: "green",
  Landed: "green",
  Complete: "green",
  Working: "cyan",
  InProgress: "cyan",
  InReview: "blue",
  Landing: "blue",
  Failed: "red",
  Stalled: "red",
  Held: "yellow",
  Staged: "yellow",
};

export function phase(p: string, paint: Paint): string {
  const style = PHASE_STYLE[p];
  return style ? paint(style, p) : p;
}

function heading(text: string, paint: Paint): string {
  return paint("bold", text);
}

function rigLines(t: TownView): string[] {
  return table(
    ["NAME", "STRATEGY", "BRANCH", "GATES", "POLECATS", "REFINERY"],
    t.rigs.map((r) => [
      r.name,
      r.mergeStrategy,
      r.defaultBranch,
      String(r.gates),
      `${r.polecats.working} working / ${r.polecats.total} (max ${r.polecats.max})`,
      r.refinery ? `${r.refinery.phase}${r.refinery.hook ? ` on ${r.refinery.hook}` : ""}` : "-",
    ]),
    "  ",
  );
}

function agentLines(agents: AgentRow[], o: Required<RenderOptions>): string[] {
  if (agents.length === 0) return ["  none yet: agents are created when work is dispatched"];
  return table(
    ["NAME", "ROLE", "RIG", "PHASE", "HOOK", "ACTIVITY", "NUDGES"],
    agents.map((a) => [
      a.name,
      a.role,
      a.rig,
      phase(a.escalated ? `${a.phase}!` : a.phase, o.paint),
      a.hook ?? "-",
      a.lastActivity ? ago(a.lastActivity, o.now) : "-",
      a.lastNudge ? `${a.nudges} (last: ${a.lastNudge.tier} ${ago(a.lastNudge.time, o.now)})` : String(a.nudges),
    ]),
    "  ",
  );
}

function convoyLines(convoys: ConvoyRow[], o: Required<RenderOptions>): string[] {
  if (convoys.length === 0) return ["  none: kubectl apply -f a Convoy to start work"];
  const lines = table(
    ["NAME", "PHASE", "PROGRESS", "MODE", "TITLE"],
    convoys.map((c) => [
      c.name,
      phase(c.phase, o.paint),
      `${progressBar(c.closed, c.failed, c.total)} ${c.closed}/${c.total}${c.failed > 0 ? ` (${c.failed} failed)` : ""}`,
      c.mergeMode,
      c.title,
    ]),
    "  ",
  );
  for (const c of convoys) {
    if (c.problem) lines.push(`  ${o.paint("yellow", "!")} ${c.name}: ${c.problem.reason}: ${c.problem.message}`);
  }
  return lines.map((l) => truncate(l, o.columns));
}

/**
 * Why a bead is where it is; nothing for work simply in progress (the assignee says who). What
 * happens next comes before the runtime's message, which is long and the first to be cut.
 */
function why(b: BeadRow, now: number): string {
  if (!b.attention && (b.phase === "InProgress" || b.phase === "InReview")) return "-";
  if (!b.reason) return b.message ?? "-";
  const next =
    b.reason === "SessionCannotStart" && b.attention === "Held"
      ? b.probeAt
        ? ` (tried again ${inTime(b.probeAt, now)}, or when the Town's spec changes)`
        : " (tried again when the Town's spec changes, or retry it)"
      : b.attention === "WaitingForRetry" && b.dispatchAttempts
        ? ` (${b.dispatchAttempts}/${b.maxDispatchAttempts} sessions used${b.lastFailure ? `, last failed ${ago(b.lastFailure.time, now)}` : ""})`
        : "";
  return `${b.reason}${next}${b.message ? `: ${b.message}` : ""}`;
}

function beadLines(t: TownView, o: Required<RenderOptions>): string[] {
  const shown = t.beads.slice(0, o.maxBeads);
  const rest = t.beads.length - shown.length;
  const lines =
    shown.length === 0
      ? ["  nothing open"]
      : table(
          ["NAME", "PHASE", "ATTENTION", "ASSIGNEE", "WHY"],
          shown.map((b: BeadRow) => [
            b.name,
            phase(b.phase, o.paint),
            b.attention ? o.paint(b.attention === "Blocked" ? "dim" : "yellow", b.attention) : "-",
            b.assignee ?? "-",
            why(b, o.now),
          ]),
          "  ",
        ).map((l) => truncate(l, o.columns));
  if (rest > 0) lines.push(`  … and ${rest} more (kubectl gt status -o yaml, or kubectl get beads -n ${t.namespace})`);
  // Failed and held work waits for a person: say what moves it.
  if (t.beads.some((b) => b.attention === "Held" || b.attention === "Failed")) {
    lines.push(
      o.paint("dim", "  a Failed or held bead waits for a person: kubectl gt retry NAME, or kubectl gt cancel NAME"),
    );
  }
  return lines;
}

function escalationLines(t: TownView, o: Required<RenderOptions>): string[] {
  const open = t.escalations.filter((e) => !e.acknowledged);
  const acknowledged = t.escalations.length - open.length;
  const lines: string[] =
    open.length === 0
      ? ["  none open"]
      : table(
          ["SEVERITY", "ID", "ON", "SEEN", "WHY"],
          open.map((e: EscalationView) => [
            o.paint(e.severity === "Low" ? "yellow" : "red", e.severity),
            e.id,
            e.bead ? `bead/${e.bead}` : e.agent ? `agent/${e.agent}` : `town/${t.name}`,
            `${ago(e.lastTime, o.now)}${e.count > 1 ? ` ×${e.count}` : ""}${e.level > 0 ? ` (re-raised ${e.level}×)` : ""}`,
            `${e.reason}: ${e.message}`,
          ]),
          "  ",
        ).map((l) => truncate(l, o.columns));
  if (acknowledged > 0) lines.push(`  ${acknowledged} acknowledged (kubectl gt status -o yaml lists them)`);
  return lines;
}

function orphanLines(doc: StatusDocument, o: Required<RenderOptions>): string[] {
  if (doc.orphans.length === 0) return [];
  return [
    heading(`Orphans (their Town does not exist in ${doc.namespace}: nothing dispatches them)`, o.paint),
    ...table(
      ["KIND", "NAME", "TOWN", "PHASE", "WHY"],
      doc.orphans.map((r: OrphanRow) => [r.kind, r.name, r.town, r.phase, `${r.reason}: ${r.message}`]),
      "  ",
    ).map((l) => truncate(l, o.columns)),
  ];
}

/** Ready=False for a cause other than the breaker (which has its own line): say what the operator said. */
const NOT_READY_SHOWN = new Set(["AgentsCannotStart", "ReconcileFailed", "InvariantViolated"]);

function breakerSummary(b: CircuitBreakerView, paint: Paint): string {
  if (b.open) return paint("red", "circuit breaker OPEN");
  return b.failures > 0
    ? `circuit breaker closed (${b.failures}/${b.maxFailedSessions} failed sessions)`
    : "circuit breaker closed";
}

export function renderTown(t: TownView, opts: RenderOptions): string[] {
  const o: Required<RenderOptions> = { paint: plain, columns: 160, maxBeads: 20, ...opts };
  const ready = t.ready.status === "True" ? o.paint("green", "Ready") : o.paint("red", `Not ready (${t.ready.reason})`);
  const b = t.circuitBreaker;
  const head = [
    `${heading(`Town ${t.name}`, o.paint)}   ${ready}   ${t.suspended ? o.paint("yellow", "SUSPENDED (dispatch stopped)") : b.open ? o.paint("red", "dispatch stopped") : "dispatching"}   ${breakerSummary(b, o.paint)}`,
  ];
  if (b.open) {
    head.push(
      truncate(
        `  ${o.paint("red", "no new session starts")} (since ${ago(b.since, o.now)}): ${b.failures} sessions failed${b.beads.length > 0 ? ` (${b.beads.join(", ")})` : ""}; once fixed: kubectl gt reset-breaker ${t.name}`,
        o.columns,
      ),
    );
  }
  if (t.ready.status !== "True" && NOT_READY_SHOWN.has(t.ready.reason)) {
    head.push(truncate(`  ${o.paint("red", t.ready.reason)}: ${t.ready.message}`, o.columns));
  }
  if (!t.observed)
    head.push(o.paint("yellow", "  the operator has not seen the latest spec of this town yet (kubectl gt doctor)"));
  if (t.degraded) head.push(truncate(`  ${o.paint("red", "Degraded")}: ${t.degraded.message}`, o.columns));
  return [
    ...head,
    heading("Rigs", o.paint),
    ...rigLines(t),
    heading("Agents", o.paint),
    ...agentLines(t.agents, o),
    heading("Convoys", o.paint),
    ...convoyLines(t.convoys, o),
    heading(`Beads (attention first; ${t.closedBeads} closed not listed)`, o.paint),
    ...beadLines(t, o),
    heading(
      t.escalations.some((e) => !e.acknowledged) ? "Escalations (acknowledge: kubectl gt ack ID)" : "Escalations",
      o.paint,
    ),
    ...escalationLines(t, o),
  ];
}

/** Every town's screen, then the orphans; one list of lines for the one-shot view and each --watch frame. */
export function renderStatusLines(doc: StatusDocument, opts: RenderOptions): string[] {
  const o: Required<RenderOptions> = { paint: plain, columns: 160, maxBeads: 20, ...opts };
  const towns = doc.towns.flatMap((t, i) => [...(i > 0 ? [""] : []), ...renderTown(t, o)]);
  const orphans = orphanLines(doc, o);
  const missing = [...new Set(doc.orphans.map((r) => r.town))];
  const none =
    doc.towns.length > 0
      ? []
      : missing.length > 0
        ? [
            `No town ${missing.join(", ")} in namespace ${doc.namespace}, yet work names it: create it (examples/town.yaml shows one) and that work is dispatched.`,
          ]
        : [
            `No towns in namespace ${doc.namespace}. Create one with: kubectl apply -n ${doc.namespace} -f examples/town.yaml`,
          ];
  return [...none, ...towns, ...(orphans.length > 0 ? [""] : []), ...orphans];
}

export function renderStatus(doc: StatusDocument, opts: RenderOptions): string {
  return `${renderStatusLines(doc, opts).join("\n")}\n`;
}
