// Which nudges a running session still has to receive: GUPP's (Agent.status.nudges, written by the
// operator) made after the session started, and the user's (Agent.spec.nudge, written by a person
// or a GitOps repo; a new id is a new nudge). Each is delivered once per session.
import type { Agent } from "../api/agent.ts";

export interface PendingNudge {
  key: string;
  tier: string;
  message: string;
}

export function pendingNudges(agent: Agent, sessionStart: number, delivered: ReadonlySet<string>): PendingNudge[] {
  const out: PendingNudge[] = [];
  for (const n of agent.status?.nudges ?? []) {
    const key = `${n.tier}@${n.time}`;
    const t = Date.parse(n.time);
    // The status keeps second resolution: a nudge written in the second the session started counts.
    if (Number.isFinite(t) && t >= Math.floor(sessionStart / 1000) * 1000 && !delivered.has(key))
      out.push({ key, tier: n.tier, message: n.message });
  }
  const user = agent.spec.nudge;
  if (user && !delivered.has(`user@${user.id}`))
    out.push({ key: `user@${user.id}`, tier: "user", message: user.message });
  return out;
}
