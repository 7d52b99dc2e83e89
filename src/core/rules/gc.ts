// §5.7 Garbage collection: idle agents, finished session pods (the newest one per agent stays for
// its logs) and processed reports (poisoned ones stay: they are evidence someone must read).
import type { Draft } from "../draft.ts";
import { isLive } from "../snapshot.ts";
import { why } from "./work.ts";

export function collectGarbage(d: Draft): void {
  const t = d.snap.config.timeouts;
  for (const name of d.snap.agents.keys()) {
    const agent = d.agent(name);
    if (!agent || agent.deleting) continue;
    const sessions = d.sessions(name);
    const newest = sessions[sessions.length - 1];
    for (const s of sessions) {
      if (s === newest || isLive(s) || s.deleting) continue;
      const ended = s.finished ?? s.created;
      if (d.now - ended > t.podRetention) {
        d.stopSession(
          name,
          s.name,
          why("SessionCollected", `${s.name} finished more than ${t.podRetention / 60000} min ago`),
        );
      } else {
        d.wake.at(ended + t.podRetention + 1);
      }
    }
    if (agent.state.phase !== "Idle" || agent.state.hook || d.liveSessions(name).length > 0) continue;
    const idleSince = agent.state.idleSince ?? agent.created;
    if (d.now - idleSince > t.agentGC) {
      d.other({
        type: "DeleteAgent",
        name,
        uid: agent.uid,
        resourceVersion: agent.resourceVersion,
        why: why("AgentCollected", `${name} was idle for more than ${t.agentGC / 3_600_000} h`),
      });
    } else {
      d.wake.at(idleSince + t.agentGC + 1);
    }
  }
  for (const r of d.snap.processedReports) {
    if (r.state.outcome === "Poisoned") continue;
    const at = r.state.processedAt ?? r.created;
    if (d.now - at > t.reportRetention) {
      d.other({ type: "DeleteReport", name: r.name, why: why("ReportCollected", `${r.name} processed long ago`) });
    } else {
      d.wake.at(at + t.reportRetention + 1);
    }
  }
}
