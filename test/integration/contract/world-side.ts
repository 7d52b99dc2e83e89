// The contract suite's model side: the in-memory world the unit tests and the simulation run
// against, fed the same objects the API server stored (defaults applied), and a kubelet that does
// what kwok does on the real side: pending pods start, deleted pods go (unless a finalizer holds
// them).
import type { Town } from "../../../src/api/town.ts";
import type { Action } from "../../../src/core/actions.ts";
import { type Forge, World } from "../../support/world.ts";
import type { Outcome, RawState } from "./normalise.ts";

export class WorldSide {
  readonly world: World;
  /** Pods held in Terminating by a finalizer. */
  readonly held = new Set<string>();

  constructor(town: Town, now: number, forge: Forge) {
    const { status: _none, ...rest } = town;
    this.world = new World(rest as Town, now, { strict: true });
    this.world.forge = forge;
  }

  apply(actions: readonly Action[], fail?: (a: Action) => string | undefined): Outcome {
    const r = this.world.apply(actions, fail ? { fail } : {});
    if (!r.error) return { applied: r.applied };
    return { applied: r.applied, error: r.error.code === "Injected" ? "failed" : "stale", message: r.error.message };
  }

  settle(): void {
    const w = this.world;
    for (const s of w.sessions) {
      if (s.deleting && !this.held.has(s.name)) w.removeSession(s.name);
      else if (s.phase === "Pending" && !s.deleting) w.setSession({ ...s, phase: "Running", started: w.now });
    }
  }

  exitPod(pod: string, exitCode: number): void {
    const s = this.world.sessions.find((x) => x.name === pod);
    if (!s) throw new Error(`no session ${pod} in the world`);
    this.world.setSession({
      ...s,
      phase: exitCode === 0 ? "Succeeded" : "Failed",
      exitCode,
      reason: exitCode === 0 ? "Completed" : "Error",
      finished: Math.floor(this.world.now / 1000) * 1000,
    });
  }

  state(): RawState {
    const w = this.world;
    return {
      objects: [w.town, ...w.convoys, ...w.beads, ...w.agents, ...w.reports] as RawState["objects"],
      sessions: [...w.sessions],
      leases: [...w.leases],
      events: w.events.map((e) => ({
        kind: e.kind,
        name: e.name,
        ...(e.related ? { related: e.related } : {}),
        type: e.warning ? "Warning" : "Normal",
        reason: e.reason,
        note: e.message,
        count: 1,
      })),
    };
  }
}
