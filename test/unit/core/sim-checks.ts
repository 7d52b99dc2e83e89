// The simulation's claims beyond the invariants, checked on the world after every step:
// - sessions per issue never exceed its budget plus its handoffs (counted since its last retry);
// - cancelled work is never merged;
// - a plan applied in full leaves nothing to do: planning again at the same instant yields no
//   action (no action is re-emitted on every plan).
import type { Action } from "../../../src/core/actions.ts";
import { plan } from "../../../src/core/plan.ts";
import type { Sim } from "./harness.ts";

export class SafetyChecks {
  private readonly sim: Sim;
  private readonly maxSessions: number;
  private seen = 0;
  private seenEvents = 0;
  private readonly sessions = new Map<string, Set<string>>();
  /** Sessions that could not start for a configuration reason: refunded, not charged. */
  private readonly refunded = new Map<string, number>();
  private readonly cancelled = new Set<string>();

  constructor(sim: Sim, maxDispatchAttempts: number) {
    this.sim = sim;
    this.maxSessions = maxDispatchAttempts;
  }

  /** Reads the actions applied and the Events recorded since the last call. */
  private scan(): void {
    const events = this.sim.world.events;
    for (; this.seenEvents < events.length; this.seenEvents++) {
      const e = events[this.seenEvents];
      if (e?.kind !== "Bead") continue;
      if (e.reason === "SessionCannotStart") this.refunded.set(e.name, (this.refunded.get(e.name) ?? 0) + 1);
      if (e.reason === "Retried") this.refunded.set(e.name, 0);
    }
    const log: readonly Action[] = this.sim.world.log;
    for (; this.seen < log.length; this.seen++) {
      const a = log[this.seen] as Action;
      if (a.type === "StartSession") {
        const set = this.sessions.get(a.bead) ?? new Set<string>();
        set.add(a.pod);
        this.sessions.set(a.bead, set);
      } else if (a.type === "UpdateBeadStatus" && a.status.reason === "Retried") {
        // A person retried it: a fresh budget, and work a person brings back may merge.
        this.sessions.set(a.name, new Set());
        this.cancelled.delete(a.name);
      }
    }
  }

  check(): string[] {
    this.scan();
    const out: string[] = [];
    for (const b of this.sim.world.beads) {
      const name = b.metadata.name;
      const st = b.status ?? {};
      if (b.spec.type === "Issue") {
        const used = this.sessions.get(name)?.size ?? 0;
        const allowed = this.maxSessions + (st.handoffs ?? 0) + (this.refunded.get(name) ?? 0);
        if (used > allowed) {
          out.push(`${name} ran ${used} sessions; its budget is ${allowed} (attempts + handoffs + refunded)`);
        }
      }
      if (st.resolution === "Cancelled") this.cancelled.add(name);
      const merged = st.phase === "Closed" && st.resolution === "Merged";
      if (merged && this.cancelled.has(name)) out.push(`${name} was cancelled, then merged`);
      const source = b.spec.source?.kind === "Bead" ? b.spec.source.name : undefined;
      if (merged && source && this.cancelled.has(source) && this.cancelled.has(name) === false) {
        out.push(`merge request ${name} merged the work of cancelled issue ${source}`);
      }
    }
    return out;
  }

  /**
   * After a plan was applied in full, with no time passing and nobody acting, the town converges:
   * a few more plans (each may act on what the previous one created) and then nothing. No action
   * may come back in two of them — that is an action re-emitted on every plan.
   */
  quiet(): string[] {
    const seen = new Set<string>();
    const rounds: string[] = [];
    for (let round = 0; round < 6; round++) {
      const again = plan(this.sim.world.snapshot(), this.sim.now);
      if (again.actions.length === 0) return [];
      const keys = again.actions.map(
        (a) =>
          `${a.type} ${"name" in a ? a.name : "agent" in a ? a.agent : ""} ${JSON.stringify("why" in a ? a.why : a.events)} ${"status" in a ? JSON.stringify(a.status) : ""}`,
      );
      rounds.push(`round ${round}: ${keys.join(" | ")}`);
      for (const key of keys) {
        if (!seen.has(key)) {
          seen.add(key);
          continue;
        }
        return [`re-emitted by consecutive plans at one instant: ${key}`, ...rounds];
      }
      const result = this.sim.world.apply(again.actions);
      if (result.error) return [`a plan of a quiet town failed to apply: ${result.error.message}`];
    }
    return ["the town does not come to rest at one instant: plans keep acting", ...rounds];
  }
}
