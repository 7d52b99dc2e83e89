// §5.5 Convoys: validate the task graph, materialise tasks as beads, track progress, and land —
// exactly one live landing merge request at a time, Landed only once it merged.
import type { ConvoyPhase } from "../../api/convoy.ts";
import { setAbnormal, setCondition } from "../conditions.ts";
import type { Draft } from "../draft.ts";
import { featureBranch, landingName, taskBeadName } from "../names.ts";
import type { BeadView, ConvoyState, ConvoyView } from "../snapshot.ts";
import { isTerminal } from "../snapshot.ts";
import { why } from "./work.ts";

export function reconcileConvoys(d: Draft): void {
  for (const name of d.snap.convoys.keys()) {
    const convoy = d.convoy(name) as ConvoyView;
    if (convoy.deleting) continue;
    const problem = validateTasks(d, convoy);
    if (problem) {
      markInvalid(d, convoy, problem);
      continue;
    }
    materialize(d, convoy);
    track(d, convoy);
  }
}

/** A dependency cycle as "a -> b -> a", or undefined. */
export function findCycle(tasks: readonly { name: string; dependsOn: readonly string[] }[]): string[] | undefined {
  const deps = new Map(tasks.map((t) => [t.name, t.dependsOn]));
  const state = new Map<string, "visiting" | "done">();
  const path: string[] = [];
  const visit = (n: string): string[] | undefined => {
    if (state.get(n) === "done") return undefined;
    if (state.get(n) === "visiting") return [...path.slice(path.indexOf(n)), n];
    state.set(n, "visiting");
    path.push(n);
    for (const dep of deps.get(n) ?? []) {
      const cycle = visit(dep);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(n, "done");
    return undefined;
  };
  for (const t of tasks) {
    const cycle = visit(t.name);
    if (cycle) return cycle;
  }
  return undefined;
}

function validateTasks(d: Draft, convoy: ConvoyView): string | undefined {
  const tasks = convoy.spec.tasks;
  const rigs = d.snap.config.rigs;
  const badRigs = [...new Set(tasks.map((t) => t.rig).filter((r) => !rigs.has(r)))];
  if (badRigs.length > 0) {
    return `unknown rig ${badRigs.join(", ")}: town ${d.snap.config.name} has rigs ${[...rigs.keys()].join(", ")}`;
  }
  const names = new Set(tasks.map((t) => t.name));
  for (const t of tasks) {
    const unknown = t.dependsOn.filter((dep) => !names.has(dep));
    if (unknown.length > 0) return `task ${t.name} depends on unknown task ${unknown.join(", ")}`;
  }
  const cycle = findCycle(tasks);
  if (cycle) return `dependency cycle: ${cycle.join(" -> ")}`;
  if (convoy.spec.mergeMode === "ReviewThenLand" && new Set(tasks.map((t) => t.rig)).size > 1) {
    return "a ReviewThenLand convoy lands one feature branch, so all its tasks must use the same rig";
  }
  for (const t of tasks) {
    const existing = d.bead(taskBeadName(convoy.name, t.name));
    if (existing && existing.spec.convoy !== convoy.name) {
      return `bead ${existing.name} already exists outside this convoy; rename task ${t.name}`;
    }
  }
  return undefined;
}

function markInvalid(d: Draft, convoy: ConvoyView, problem: string): void {
  const cond = { reason: "InvalidTasks", message: problem };
  let conditions = setCondition(
    convoy.state.conditions,
    { type: "Ready", status: "False", ...cond },
    d.now,
    convoy.generation,
  );
  conditions = setAbnormal(conditions, "Stalled", cond, d.now, convoy.generation);
  const change: Partial<ConvoyState> = { conditions, observedGeneration: convoy.generation };
  const changed = conditions !== convoy.state.conditions || convoy.state.observedGeneration !== convoy.generation;
  if (changed) d.updateConvoy(convoy.name, change, why("InvalidTasks", problem, true));
}

function materialize(d: Draft, convoy: ConvoyView): void {
  for (const t of convoy.spec.tasks) {
    const name = taskBeadName(convoy.name, t.name);
    if (d.bead(name)) continue;
    d.createBead({
      name,
      spec: {
        town: convoy.spec.town,
        rig: t.rig,
        type: "Issue",
        title: t.title,
        description: t.description,
        priority: t.priority,
        labels: [],
        dependsOn: t.dependsOn.map((dep) => taskBeadName(convoy.name, dep)),
        convoy: convoy.name,
        cancel: false,
      },
      ownerConvoy: { name: convoy.name, uid: convoy.uid },
      why: why("TaskCreated", `task ${t.name} of convoy ${convoy.name} is bead ${name}`),
    });
  }
}

function landings(d: Draft, convoy: string): BeadView[] {
  return (d.snap.mergeRequestsBySource.get(`convoy/${convoy}`) ?? []).map((m) => d.bead(m.name) as BeadView);
}

function track(d: Draft, convoy: ConvoyView): void {
  const members = convoy.spec.tasks.map((t) => d.bead(taskBeadName(convoy.name, t.name)));
  const closed = members.filter((m) => m?.state.phase === "Closed").length;
  const failed = members.filter((m) => m?.state.phase === "Failed");
  const total = members.length;
  const allDone = members.every((m) => m !== undefined && isTerminal(m.state.phase));
  const reviewsLive = (d.snap.membersByConvoy.get(convoy.name) ?? []).some((b) => {
    const v = d.bead(b.name) as BeadView;
    return v.spec.type === "MergeRequest" && v.spec.source?.kind === "Bead" && !isTerminal(v.state.phase);
  });
  const state = convoy.state;
  let phase: ConvoyPhase = state.phase === "Landed" || state.phase === "Failed" ? state.phase : "Active";
  let landing = state.landing;
  let w: { reason: string; message: string; warning?: boolean } | undefined;
  if (phase === "Active") {
    if (convoy.spec.staged) phase = "Staged";
    else if (allDone && !reviewsLive) {
      if (failed.length > 0) {
        phase = "Failed";
        w = why("TasksFailed", `tasks failed: ${failed.map((f) => f?.name).join(", ")}`, true);
      } else if (convoy.spec.mergeMode === "ReviewAndMerge") {
        phase = "Landed";
        landing = { attempts: 0, landedAt: d.now };
        w = why("ConvoyLanded", `all ${total} tasks merged`);
      } else {
        ({ phase, landing, w } = land(d, convoy));
      }
    }
  }
  if (phase !== state.phase && !w) w = why(`Convoy${phase}`, `convoy ${convoy.name} is ${phase}`);
  const summary = `${closed}/${total}`;
  const progress = { closed, failed: failed.length, total, summary };
  const ready = phase === "Landed";
  const condition = {
    reason: ready ? "Landed" : phase,
    message: ready ? `all ${total} tasks merged and landed` : `${summary} tasks closed; phase ${phase}`,
  };
  let conditions = setCondition(
    state.conditions,
    { type: "Ready", status: ready ? "True" : "False", ...condition },
    d.now,
    convoy.generation,
  );
  conditions = setAbnormal(conditions, "Stalled", phase === "Failed" ? condition : undefined, d.now, convoy.generation);
  const next: Partial<ConvoyState> = {
    phase,
    progress,
    landing,
    conditions,
    observedGeneration: convoy.generation,
    ...(convoy.spec.mergeMode === "ReviewThenLand" ? { featureBranch: featureBranch(convoy.name) } : {}),
  };
  d.updateConvoy(convoy.name, next, w);
}

function land(
  d: Draft,
  convoy: ConvoyView,
): { phase: ConvoyPhase; landing: ConvoyState["landing"]; w?: ReturnType<typeof why> } {
  const all = landings(d, convoy.name);
  const merged = all.find((m) => m.state.phase === "Closed" && m.state.resolution === "Merged");
  if (merged) {
    return {
      phase: "Landed",
      landing: { attempts: all.length, bead: merged.name, landedAt: d.now },
      w: why("ConvoyLanded", `${merged.name} merged ${featureBranch(convoy.name)}`),
    };
  }
  const live = all.find((m) => !isTerminal(m.state.phase));
  if (live) return { phase: "Landing", landing: { attempts: all.length, bead: live.name } };
  if (all.length >= d.snap.config.maxDispatchAttempts) {
    return {
      phase: "Failed",
      landing: { attempts: all.length },
      w: why("LandingFailed", `${all.length} landing attempts failed`, true),
    };
  }
  const attempt = all.length + 1;
  const name = landingName(convoy.name, attempt);
  const rigName = convoy.spec.tasks[0]?.rig ?? "";
  const rig = d.snap.config.rigs.get(rigName);
  d.createBead({
    name,
    spec: {
      town: convoy.spec.town,
      rig: rigName,
      type: "MergeRequest",
      title: `Land convoy: ${convoy.spec.title}`.slice(0, 200),
      description: "",
      priority: 1,
      labels: [],
      dependsOn: [],
      source: { kind: "Convoy", name: convoy.name },
      branch: featureBranch(convoy.name),
      targetBranch: rig?.defaultBranch ?? "main",
      convoy: convoy.name,
      cancel: false,
    },
    ownerConvoy: { name: convoy.name, uid: convoy.uid },
    why: why("LandingStarted", `${name} lands ${featureBranch(convoy.name)} on ${rig?.defaultBranch ?? "main"}`),
  });
  return {
    phase: "Landing",
    landing: { attempts: attempt, bead: name },
    w: why("LandingStarted", `landing attempt ${attempt}: ${name}`),
  };
}
