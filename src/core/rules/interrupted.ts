// A dispatch cut short by a dying operator, shared by the rules that repair one (beads for
// polecats, the review queue for refineries): did its session ever exist, and if not, the attempt
// it was charged is given back, a bounded number of times.
import type { Draft } from "../draft.ts";
import type { AgentView, BeadState, BeadView } from "../snapshot.ts";

/**
 * The hooked agent's session for this claim never came to be: the agent was never marked Working
 * for it (that write carries the claim's time) and no pod numbered after the agent's last session
 * exists. A session that ran and was lost is not this: it was marked Working first.
 */
export function neverStarted(d: Draft, bead: BeadView, agent: AgentView): boolean {
  const claimed = bead.state.lastDispatch;
  if (claimed === undefined || (agent.state.sessionStart ?? Number.NEGATIVE_INFINITY) >= claimed) return false;
  return !d.sessions(agent.name).some((s) => s.session > agent.state.session);
}

/**
 * A dispatch the operator's restart cut short before its session existed did no work and is no
 * failure of the bead: its attempt is given back. Capped (limits.maxDispatchAttempts refunds), so
 * a dispatch that kills the operator every time still ends the bead instead of looping.
 */
export function refundInterrupted(
  d: Draft,
  bead: BeadView,
  never: boolean,
): { change: Partial<BeadState>; said: string } {
  const cap = d.snap.config.maxDispatchAttempts;
  if (!never || !bead.state.sessionCharged || bead.state.attempts === 0) return { change: {}, said: "" };
  if (bead.state.interruptedDispatches >= cap)
    return { change: {}, said: `; charged: ${cap} interrupted dispatches were already given back` };
  const n = bead.state.interruptedDispatches + 1;
  return {
    change: { attempts: bead.state.attempts - 1, sessionCharged: false, interruptedDispatches: n },
    said: `; its session never started, so the attempt is given back (${n} of ${cap})`,
  };
}
