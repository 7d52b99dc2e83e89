// --watch without a terminal: one line per object whose summary changed, like `kubectl get -w`,
// so a log file or a pipe gets a readable story instead of redraw codes.
import type { StatusDocument } from "./model.ts";

/** Every object of the document as key → one-line summary (no ages: a line changes only when the object does). */
export function summaries(doc: StatusDocument): Map<string, string> {
  const out = new Map<string, string>();
  for (const t of doc.towns) {
    const breaker = t.circuitBreaker.open ? " circuit-breaker=open" : "";
    out.set(
      `town/${t.name}`,
      `town/${t.name} ${t.ready.status === "True" ? "Ready" : `NotReady(${t.ready.reason})`}${t.suspended ? " suspended" : ""}${breaker}`,
    );
    for (const c of t.convoys) {
      out.set(
        `convoy/${c.name}`,
        `convoy/${c.name} ${c.phase} ${c.closed}/${c.total}${c.failed ? ` failed=${c.failed}` : ""}${c.problem ? ` ${c.problem.reason}` : ""}`,
      );
    }
    for (const a of t.agents) {
      out.set(
        `agent/${a.name}`,
        `agent/${a.name} ${a.phase}${a.hook ? ` hook=${a.hook}` : ""}${a.escalated ? " escalated" : ""}`,
      );
    }
    for (const b of t.beads) {
      out.set(
        `bead/${b.name}`,
        `bead/${b.name} ${b.phase}${b.assignee ? ` assignee=${b.assignee}` : ""}${b.attention ? ` attention=${b.attention}` : ""}${b.attention === "Held" || b.attention === "Failed" ? ` reason=${b.reason}` : ""}${b.lastFailure ? ` failure=${b.lastFailure.reason}` : ""}`,
      );
    }
    for (const e of t.escalations) {
      const key = `escalation/${e.id}`;
      out.set(
        key,
        `${key} ${e.severity} ${e.acknowledged ? "acknowledged" : "open"}${e.level > 0 ? ` re-raised=${e.level}` : ""}`,
      );
    }
  }
  for (const r of doc.orphans) {
    const key = `${r.kind.toLowerCase()}/${r.name}`;
    out.set(key, `${key} ${r.phase} orphan town=${r.town} reason=${r.reason}`);
  }
  return out;
}

/** Lines to print going from `before` to `after`; a bead that closed leaves the list, so say so. */
export function changedLines(before: Map<string, string>, after: Map<string, string>): string[] {
  const lines: string[] = [];
  for (const [key, line] of after) if (before.get(key) !== line) lines.push(line);
  for (const key of before.keys()) {
    if (after.has(key)) continue;
    lines.push(
      key.startsWith("bead/") ? `${key} Closed` : key.startsWith("escalation/") ? `${key} resolved` : `${key} gone`,
    );
  }
  return lines;
}
