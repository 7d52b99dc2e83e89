// What people do to a running simulated town, through the specs only (as kubectl, a GitOps
// repository or `kubectl gt` would): cancel an issue or a convoy, add or remove a task, delete a
// convoy, retry what failed — and, once the chaos is over, retry everything that is held or Failed.
import type { Convoy } from "../../../src/api/convoy.ts";
import { formatTime } from "../../../src/core/time.ts";
import type { Sim } from "./harness.ts";
import type { UserAction } from "./sim-chaos.ts";

const pickOf = <T>(list: readonly T[], pick: number): T | undefined =>
  list.length === 0 ? undefined : list[pick % list.length];

function isTask(sim: Sim, name: string): boolean {
  const b = sim.world.beads.find((x) => x.metadata.name === name);
  return b !== undefined && b.spec.type === "Issue" && !b.spec.reworkOf && b.spec.convoy !== undefined;
}

export function applyUserAction(sim: Sim, a: UserAction, log: string[]): void {
  if (a.kind === "none") return;
  const w = sim.world;
  const convoys = w.convoys.filter((c) => !c.spec.cancel);
  switch (a.kind) {
    case "cancelBead": {
      const open = w.beads.filter(
        (b) => isTask(sim, b.metadata.name) && b.status?.phase !== "Closed" && b.status?.phase !== "Failed",
      );
      const b = pickOf(open, a.pick);
      if (!b) return;
      w.editBeadSpec(b.metadata.name, { cancel: true });
      log.push(`cancel bead ${b.metadata.name}`);
      return;
    }
    case "cancelConvoy": {
      const c = pickOf(convoys, a.pick);
      if (!c) return;
      w.editConvoySpec(c.metadata.name, { cancel: true });
      log.push(`cancel convoy ${c.metadata.name}`);
      return;
    }
    case "addTask": {
      const c = pickOf(convoys, a.pick);
      if (!c || c.spec.tasks.length >= 100) return;
      const name = `n${a.pick % 1000}`;
      if (c.spec.tasks.some((t) => t.name === name)) return;
      const dep = pickOf(c.spec.tasks, a.pick >> 3);
      const rig = c.spec.tasks[0]?.rig ?? "r0";
      const task = { name, title: `task ${name}`, description: "", rig, priority: 2, dependsOn: dep ? [dep.name] : [] };
      w.editConvoySpec(c.metadata.name, { tasks: [...c.spec.tasks, task] });
      log.push(`add task ${name} to ${c.metadata.name}`);
      return;
    }
    case "removeTask": {
      const c = pickOf(convoys, a.pick);
      if (!c || c.spec.tasks.length < 2) return;
      const gone = pickOf(c.spec.tasks, a.pick >> 2);
      if (!gone) return;
      const tasks: Convoy["spec"]["tasks"] = c.spec.tasks
        .filter((t) => t.name !== gone.name)
        .map((t) => ({ ...t, dependsOn: t.dependsOn.filter((d) => d !== gone.name) }));
      w.editConvoySpec(c.metadata.name, { tasks });
      log.push(`remove task ${gone.name} from ${c.metadata.name}`);
      return;
    }
    case "deleteConvoy": {
      // Keep at least one convoy, so the town still has work to land.
      if (w.convoys.length < 2) return;
      const c = pickOf(w.convoys, a.pick);
      if (!c) return;
      w.deleteConvoy(c.metadata.name);
      log.push(`delete convoy ${c.metadata.name}`);
      return;
    }
    case "retry": {
      const failed = w.beads.filter(
        (b) => b.spec.type === "Issue" && !b.spec.cancel && (b.status?.phase === "Failed" || b.status?.hold),
      );
      const b = pickOf(failed, a.pick);
      if (!b) return;
      w.editBeadSpec(b.metadata.name, { retry: (b.spec.retry ?? 0) + 1 });
      log.push(`retry ${b.metadata.name}`);
      return;
    }
  }
}

/** After the chaos: a person retries every held or Failed piece of work and resets the breaker. */
export function retryEverything(sim: Sim, log: string[]): void {
  const w = sim.world;
  for (const b of w.beads) {
    if (b.spec.type !== "Issue" || b.spec.cancel) continue;
    if (b.status?.resolution === "Cancelled") continue;
    if (b.status?.phase === "Failed" || b.status?.hold) {
      w.editBeadSpec(b.metadata.name, { retry: (b.spec.retry ?? 0) + 1 });
      log.push(`final retry ${b.metadata.name}`);
    }
  }
  for (const c of w.convoys) {
    if (c.spec.cancel || c.status?.phase !== "Failed") continue;
    w.editConvoySpec(c.metadata.name, { retry: (c.spec.retry ?? 0) + 1 });
    log.push(`final retry convoy ${c.metadata.name}`);
  }
  w.editTownSpec({ circuitBreakerReset: formatTime(w.now) });
}
