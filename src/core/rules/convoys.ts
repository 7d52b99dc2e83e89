// §5.5 Convoys: validate the task graph, materialise tasks as beads, track progress, and land —
// exactly one live landing merge request at a time, Landed only once it merged.
import type { ConvoyPhase } from "../../api/convoy.ts";
import type { Why } from "../actions.ts";
import { setAbnormal, setCondition } from "../conditions.ts";
import type { Draft } from "../draft.ts";
import { featureBranch, landingName, taskBeadName } from "../names.ts";
import type { BeadView, ConvoyState, ConvoyView } from "../snapshot.ts";
import { isTerminal } from "../snapshot.ts";
import { taskGraphProblem } from "../task-graph.ts";
import { escalationId, why } from "./work.ts";

export function reconcileConvoys(d: Draft): void {
  for (const name of d.snap.convoys.keys()) {
    const convoy = d.convoy(name) as ConvoyView;
    if (convoy.deleting) continue;
    // The task beads as this plan sees them, looked up once for the three steps: materialising
    // creates beads but changes no view, so what validation read is what tracking reads.
    const members = d.taskBeadNames(convoy).map((n) => d.bead(n));
    const problem = validateTasks(d, convoy, members);
    if (problem) {
      markInvalid(d, convoy, problem);
      continue;
    }
    if (!convoy.spec.cancel) materialize(d, convoy, members);
    track(d, convoy, members);
  }
}

export { findCycle } from "../task-graph.ts";

type Members = readonly (BeadView | undefined)[];

function validateTasks(d: Draft, convoy: ConvoyView, members: Members): string | undefined {
  const problem = taskGraphProblem(convoy.name, convoy.spec, d.snap.config.name, d.snap.config.rigs);
  if (problem) return problem;
  const tasks = convoy.spec.tasks;
  for (const [i, t] of tasks.entries()) {
    const existing = members[i];
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

function materialize(d: Draft, convoy: ConvoyView, members: Members): void {
  const names = d.taskBeadNames(convoy);
  for (const [i, t] of convoy.spec.tasks.entries()) {
    const name = names[i] as string;
    if (members[i]) continue;
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

/** A convoy's landing merge requests with their attempt numbers (from their names). */
function landings(d: Draft, convoy: string): { mr: BeadView; attempt: number }[] {
  const prefix = landingName(convoy, 0).slice(0, -1);
  return (d.snap.mergeRequestsBySource.get(`convoy/${convoy}`) ?? []).map((m) => ({
    mr: d.bead(m.name) as BeadView,
    attempt: Number(m.name.slice(prefix.length)) || 0,
  }));
}

type Abnormal = { reason: string; message: string };

function track(d: Draft, convoy: ConvoyView, members: Members): void {
  const closed = members.filter((m) => m?.state.phase === "Closed").length;
  const failedAll = members.filter((m): m is BeadView => m?.state.phase === "Failed");
  const failed = failedAll.filter((m) => m.state.resolution !== "Cancelled");
  const held = members.filter((m): m is BeadView => m?.state.hold !== undefined);
  const total = members.length;
  const reviewsLive = (d.snap.membersByConvoy.get(convoy.name) ?? []).some((b) => {
    const v = d.current(b);
    return v.spec.type === "MergeRequest" && v.spec.source?.kind === "Bead" && !isTerminal(v.state.phase);
  });
  const pending = members.some((m) => m === undefined || !isTerminal(m.state.phase)) || reviewsLive;
  const state = convoy.state;
  let landing = state.landing;
  let phase: ConvoyPhase;
  let w: Why | undefined;
  let stalled: Abnormal | undefined;
  if (convoy.spec.cancel) {
    phase = "Failed";
    stalled = { reason: "Cancelled", message: `convoy ${convoy.name} was cancelled (spec.cancel)` };
    if (state.phase !== "Failed") w = why("ConvoyCancelled", stalled.message);
  } else if (convoy.spec.staged) {
    phase = "Staged";
  } else if (pending || failed.length > 0) {
    phase = "Active";
    if ((state.phase === "Landed" || state.phase === "Failed" || state.phase === "Landing") && landing) {
      // New or retried work after the end, or while a landing runs (which cannot carry it): it
      // runs and lands with a fresh landing attempt. Otherwise a landing already in flight could
      // fail and spend the cap on work that a person's later retry of the new task never sees.
      landing = { attempts: landing.attempts, attemptsBefore: landing.attempts };
      const when = state.phase === "Landing" ? "while it was landing" : `after it was ${state.phase}`;
      w = why("ConvoyReopened", `convoy ${convoy.name} has new work ${when}; it will land again`);
    }
    if (failed.length > 0 || held.length > 0) {
      const parts = [
        ...(failed.length > 0 ? [`tasks failed: ${failed.map((f) => f.name).join(", ")}`] : []),
        ...(held.length > 0
          ? [`tasks held: ${held.map((h) => `${h.name} (${h.state.hold?.reason})`).join(", ")}`]
          : []),
      ];
      stalled = {
        reason: failed.length > 0 ? "TasksFailed" : "TasksHeld",
        message: `${parts.join("; ")}; retry them (spec.retry on the bead or the convoy) or cancel them`,
      };
    }
  } else if (closed === 0) {
    phase = "Failed";
    stalled = { reason: "AllTasksCancelled", message: `every task of ${convoy.name} was cancelled; nothing to land` };
  } else if (convoy.spec.mergeMode === "ReviewAndMerge") {
    phase = "Landed";
    if (state.phase !== "Landed") {
      landing = { attempts: 0, landedAt: d.now };
      w = why("ConvoyLanded", `all ${closed} tasks merged`);
    }
  } else {
    const result = land(d, convoy);
    phase = result.phase;
    landing = result.landing;
    w = result.w;
    stalled = result.stalled;
  }
  if (phase !== state.phase && !w) w = why(`Convoy${phase}`, `convoy ${convoy.name} is ${phase}`);
  const summary = `${closed}/${total}`;
  const progress = { closed, failed: failedAll.length, total, summary };
  const ready = phase === "Landed";
  const condition = stalled ?? {
    reason: ready ? "Landed" : phase,
    message: ready ? `all ${closed} merged tasks landed` : `${summary} tasks closed; phase ${phase}`,
  };
  let conditions = setCondition(
    state.conditions,
    { type: "Ready", status: ready ? "True" : "False", ...condition },
    d.now,
    convoy.generation,
  );
  conditions = setAbnormal(conditions, "Stalled", stalled, d.now, convoy.generation);
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

/**
 * ReviewThenLand, all work merged: exactly one live landing at a time; Landed once one merged;
 * a failed landing is followed by the next attempt until the cap, counting only attempts made
 * since the convoy was last reopened or retried.
 */
function land(
  d: Draft,
  convoy: ConvoyView,
): { phase: ConvoyPhase; landing: ConvoyState["landing"]; w?: Why; stalled?: Abnormal } {
  const all = landings(d, convoy.name);
  const before = convoy.state.landing?.attemptsBefore ?? 0;
  const counted = all.filter((l) => l.attempt > before);
  const attempts = all.reduce((m, l) => Math.max(m, l.attempt), 0);
  const base = { attempts, ...(before > 0 ? { attemptsBefore: before } : {}) };
  const merged = counted.find((l) => l.mr.state.phase === "Closed" && l.mr.state.resolution === "Merged");
  if (merged) {
    if (convoy.state.phase === "Landed") return { phase: "Landed", landing: convoy.state.landing };
    return {
      phase: "Landed",
      landing: { ...base, bead: merged.mr.name, landedAt: d.now },
      w: why("ConvoyLanded", `${merged.mr.name} merged ${featureBranch(convoy.name)}`),
    };
  }
  const live = all.find((l) => !isTerminal(l.mr.state.phase));
  if (live) return { phase: "Landing", landing: { ...base, bead: live.mr.name } };
  if (counted.length >= d.snap.config.maxDispatchAttempts) {
    const message = `${counted.length} landing attempts failed; retry the convoy (spec.retry) once the cause is fixed`;
    if (convoy.state.phase !== "Failed") {
      d.escalate({
        id: escalationId("LandingFailed", convoy.name),
        severity: "High",
        reason: "LandingFailed",
        message: `convoy ${convoy.name}: ${message}`,
      });
    }
    return {
      phase: "Failed",
      landing: base,
      w: why("LandingFailed", message, true),
      stalled: { reason: "LandingFailed", message },
    };
  }
  const attempt = attempts + 1;
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
    landing: { ...base, attempts: attempt, bead: name },
    w: why("LandingStarted", `landing attempt ${attempt}: ${name}`),
  };
}
