// Durable escalations (docs/rules.md, "Escalations"): every problem a person must look at is kept
// on the Town's status, deduplicated by id (its reason and object), until it is resolved (the
// bead was retried) or acknowledged through spec.acknowledgedEscalations. One left unacknowledged
// is raised again after timeouts.reEscalateAfter, one severity higher, at most
// limits.maxReEscalations times. Raising (first or again) is an Escalate action: a Warning Event
// on the Town (and the agent) and the escalations metric.
import type { Severity } from "../../api/agent-report.ts";
import { SEVERITIES } from "../../api/agent-report.ts";
import type { Escalation } from "../../api/town.ts";
import { MAX_ESCALATIONS } from "../../api/town.ts";
import type { Draft, EscalationIntent } from "../draft.ts";
import { formatTime, parseTime } from "../time.ts";
import { why } from "./work.ts";

const rank = (s: Severity) => SEVERITIES.indexOf(s);
const higher = (a: Severity, b: Severity): Severity => (rank(a) >= rank(b) ? a : b);
const bump = (s: Severity): Severity => SEVERITIES[Math.min(rank(s) + 1, SEVERITIES.length - 1)] as Severity;

function raise(
  d: Draft,
  e: Pick<Escalation, "id" | "severity" | "reason" | "message" | "agent" | "bead">,
  again: boolean,
) {
  d.other({
    type: "Escalate",
    ...(e.agent ? { agent: e.agent } : {}),
    ...(e.bead ? { bead: e.bead } : {}),
    severity: e.severity,
    why: why(again ? "ReEscalated" : e.reason, `${again ? "still unacknowledged: " : ""}${e.message}`, true),
  });
}

/** The town's escalations after this plan: merged, acknowledged, re-raised, bounded. */
export function mergeEscalations(d: Draft): Escalation[] {
  const cfg = d.snap.config;
  const now = formatTime(d.now);
  const byId = new Map<string, Escalation>();
  for (const e of d.snap.town.status.escalations ?? []) {
    if ((e.bead && d.resolved.has(e.bead)) || d.resolved.has(e.id)) continue;
    byId.set(e.id, { ...e, acknowledged: cfg.acknowledged.has(e.id) });
  }
  const seen = new Set<string>();
  for (const intent of d.escalations) {
    const old = byId.get(intent.id);
    if (old) {
      if (seen.has(intent.id)) continue;
      seen.add(intent.id);
      byId.set(intent.id, {
        ...old,
        severity: higher(old.severity, intent.severity),
        message: intent.message.slice(0, 1024),
        lastTime: now,
        count: old.count + 1,
      });
      continue;
    }
    seen.add(intent.id);
    const fresh = create(intent, now, cfg.acknowledged.has(intent.id));
    byId.set(intent.id, fresh);
    raise(d, fresh, false);
  }
  for (const [id, e] of byId) {
    if (e.acknowledged || e.level >= cfg.maxReEscalations) continue;
    const raised = parseTime(e.raisedTime) ?? d.now;
    const due = raised + cfg.timeouts.reEscalateAfter;
    if (d.now < due) {
      d.wake.at(due);
      continue;
    }
    const again = { ...e, level: e.level + 1, severity: bump(e.severity), raisedTime: now };
    byId.set(id, again);
    raise(d, again, true);
  }
  return bounded([...byId.values()]);
}

function create(intent: EscalationIntent, now: string, acknowledged: boolean): Escalation {
  return {
    id: intent.id,
    severity: intent.severity,
    reason: intent.reason,
    message: intent.message.slice(0, 1024),
    ...(intent.agent ? { agent: intent.agent } : {}),
    ...(intent.bead ? { bead: intent.bead } : {}),
    firstTime: now,
    lastTime: now,
    raisedTime: now,
    count: 1,
    level: 0,
    acknowledged,
  };
}

/** Keeps the newest MAX_ESCALATIONS, dropping acknowledged ones first. */
function bounded(list: Escalation[]): Escalation[] {
  if (list.length <= MAX_ESCALATIONS) return list;
  const byAge = (a: Escalation, b: Escalation) => (a.lastTime < b.lastTime ? -1 : a.lastTime > b.lastTime ? 1 : 0);
  const acked = list.filter((e) => e.acknowledged).sort(byAge);
  const drop = new Set<Escalation>(acked.slice(0, Math.max(0, list.length - MAX_ESCALATIONS)));
  const rest = list.filter((e) => !drop.has(e));
  return rest.length <= MAX_ESCALATIONS ? rest : [...rest].sort(byAge).slice(-MAX_ESCALATIONS);
}
