// The thirteen ways real agents broke the reconciler's promise (issue 8), each reproduced against
// plan() and the in-memory world, each now bounded, visible and recoverable. Named after the case.
import { describe, expect, it } from "vitest";
import type { Bead } from "../../../src/api/bead.ts";
import { checkInvariants } from "../../../src/core/invariants.ts";
import { plan } from "../../../src/core/plan.ts";
import { bead, convoy, MIN, makeTown, SEC, Sim } from "./harness.ts";

const find = (sim: Sim, name: string): Bead | undefined => sim.world.beads.find((b) => b.metadata.name === name);
const phase = (sim: Sim, name: string) => find(sim, name)?.status?.phase;
const sessionsOf = (sim: Sim, bead: string) =>
  new Set(
    sim.world.log
      .filter((a) => a.type === "StartSession" && a.bead === bead)
      .map((a) => a.type === "StartSession" && a.pod),
  ).size;
const mergeRequestsOf = (sim: Sim, issue: string) =>
  sim.world.beads.filter((b) => b.spec.source?.kind === "Bead" && b.spec.source.name === issue);
const prTown = () =>
  makeTown({
    rigs: [{ name: "app", mergeStrategy: "PullRequest", forge: { provider: "GitHub", apiURL: "https://api.example" } }],
  });

describe("issue 8: every failure path is bounded, visible and recoverable", () => {
  it("case 1: a review that always fails ends the issue at maxReviewCycles instead of redoing it forever", () => {
    const sim = new Sim(makeTown({ spec: { limits: { maxReviewCycles: 3 } } }), (_s, role) =>
      role === "Refinery" ? { kind: "reviewFailed" } : { kind: "done" },
    );
    sim.world.addBead(bead("x"));
    sim.runUntil(() => phase(sim, "x") === "Failed", 2000, MIN);
    expect(find(sim, "x")?.status).toMatchObject({ resolution: "MaxReviewCycles", reviewCycles: 3 });
    // Three failed reviews redone, the fourth ends it: four merge requests and no fifth.
    expect(mergeRequestsOf(sim, "x")).toHaveLength(4);
    expect(sessionsOf(sim, "x")).toBe(4);
    expect(sim.world.town.status?.escalations?.map((e) => e.id)).toContain("max-review-cycles-x");
    for (let i = 0; i < 200; i++) sim.step(MIN);
    expect(mergeRequestsOf(sim, "x")).toHaveLength(4);
    expect(sim.violations).toEqual([]);
  });

  it("case 1: with the default caps the dispatch budget (5 sessions) ends it first", () => {
    const sim = new Sim(makeTown(), (_s, role) => (role === "Refinery" ? { kind: "reviewFailed" } : { kind: "done" }));
    sim.world.addBead(bead("x"));
    sim.runUntil(() => phase(sim, "x") === "Failed", 2000, MIN);
    expect(find(sim, "x")?.status).toMatchObject({ resolution: "MaxDispatchAttempts", dispatchAttempts: 5 });
    expect(mergeRequestsOf(sim, "x")).toHaveLength(5);
  });

  it("case 1: a PR rig whose every poll fails opens a bounded number of pull requests", () => {
    const sim = new Sim(prTown(), (_s, role) => (role === "Refinery" ? { kind: "pullRequest" } : { kind: "done" }));
    sim.world.forge = () => new Error("forge host api.example is not in the allow-list");
    sim.world.addBead(bead("x"));
    sim.runUntil(() => phase(sim, "x") === "Failed", 4000, MIN);
    const prs = sim.world.beads.filter((b) => b.status?.prURL).length;
    expect(prs).toBeLessThanOrEqual(5);
    expect(find(sim, "x")?.status?.resolution).toMatch(/MaxReviewCycles|MaxDispatchAttempts/);
    for (let i = 0; i < 300; i++) sim.step(MIN);
    expect(sim.world.beads.filter((b) => b.status?.prURL).length).toBe(prs);
  });

  it("case 2: a refinery that always requests changes is bounded, and review cycles do not use the MR's crash budget", () => {
    const sim = new Sim(makeTown({ spec: { limits: { maxReviewCycles: 3 } } }), (_s, role) =>
      role === "Refinery" ? { kind: "requestChanges" } : { kind: "done" },
    );
    sim.world.addBead(bead("x"));
    sim.runUntil(() => phase(sim, "x") === "Failed", 2000, MIN);
    expect(find(sim, "x")?.status).toMatchObject({ resolution: "MaxReviewCycles", reviewCycles: 3 });
    expect(sim.world.beads.filter((b) => b.spec.reworkOf === "x-mr-1")).toHaveLength(3);
    // The merge request failed with its issue, not at the dispatch cap: reviews with a result are
    // not crashes.
    expect(find(sim, "x-mr-1")?.status?.resolution).toBe("MaxReviewCycles");
    expect(sim.violations).toEqual([]);
  });

  it("case 3: one failed task does not fail a ReviewThenLand convoy; the rest lands once it is retried", () => {
    const sim = new Sim(makeTown({ spec: { limits: { maxDispatchAttempts: 2 } } }));
    sim.world.addConvoy(convoy("c", [{ name: "a" }, { name: "b" }]));
    sim.choose = (s) => (s.bead === "c-b" ? { kind: "crash" } : { kind: "done" });
    sim.runUntil(() => phase(sim, "c-b") === "Failed" && phase(sim, "c-a") === "Closed", 400, 30 * SEC);
    for (let i = 0; i < 20; i++) sim.step(MIN);
    const c = () => sim.world.convoys[0];
    expect(c()?.status?.phase).toBe("Active");
    expect(c()?.status?.conditions?.find((x) => x.type === "Stalled")).toMatchObject({
      status: "True",
      reason: "TasksFailed",
    });
    expect(c()?.status?.conditions?.find((x) => x.type === "Stalled")?.message).toContain("c-b");
    sim.choose = () => ({ kind: "done" });
    sim.world.editBeadSpec("c-b", { retry: 1 });
    sim.runUntil(() => c()?.status?.phase === "Landed", 400, 30 * SEC);
    expect(find(sim, "c-b")?.status?.history).toMatchObject([
      { retry: 1, phase: "Failed", resolution: "MaxDispatchAttempts" },
    ]);
    expect(sim.violations).toEqual([]);
  });

  it("case 3: ... and also once the failed task's bead is deleted and recreated", () => {
    const sim = new Sim(makeTown({ spec: { limits: { maxDispatchAttempts: 1 } } }));
    sim.world.addConvoy(convoy("c", [{ name: "a" }, { name: "b" }]));
    sim.choose = (s) => (s.bead === "c-b" ? { kind: "crash" } : { kind: "done" });
    sim.runUntil(() => phase(sim, "c-b") === "Failed", 400, 30 * SEC);
    sim.choose = () => ({ kind: "done" });
    sim.world.deleteBead("c-b");
    sim.runUntil(() => sim.world.convoys[0]?.status?.phase === "Landed", 400, 30 * SEC);
    expect(phase(sim, "c-b")).toBe("Closed");
  });

  it("case 3: ... and also once the convoy is retried (spec.retry on the convoy)", () => {
    const sim = new Sim(makeTown({ spec: { limits: { maxDispatchAttempts: 1 } } }));
    sim.world.addConvoy(convoy("c", [{ name: "a" }, { name: "b" }]));
    sim.choose = (s) => (s.bead === "c-b" ? { kind: "crash" } : { kind: "done" });
    sim.runUntil(() => phase(sim, "c-b") === "Failed" && phase(sim, "c-a") === "Closed", 400, 30 * SEC);
    sim.choose = () => ({ kind: "done" });
    sim.world.editConvoySpec("c", { retry: 1 });
    sim.step();
    expect(phase(sim, "c-b")).toBe("Open");
    expect(sim.world.convoys[0]?.status?.retry).toBe(1);
    sim.runUntil(() => sim.world.convoys[0]?.status?.phase === "Landed", 400, 30 * SEC);
    expect(find(sim, "c-b")?.status?.history).toMatchObject([{ phase: "Failed", resolution: "MaxDispatchAttempts" }]);
    expect(sim.violations).toEqual([]);
  });

  it("case 7: cancelling a convoy cancels its running work (ConvoyCancelled) and stops its sessions: never merged", () => {
    const sim = new Sim(makeTown(), (s) => (s.bead === "c-a" ? { kind: "hang" } : { kind: "done" }));
    sim.world.addConvoy(convoy("c", [{ name: "a" }, { name: "b", dependsOn: ["a"] }]));
    sim.runUntil(() => phase(sim, "c-a") === "InProgress" && sim.world.sessions.length > 0, 50);
    const polecat = find(sim, "c-a")?.status?.assignee;
    sim.world.editConvoySpec("c", { cancel: true });
    sim.step();
    for (const name of ["c-a", "c-b"]) {
      expect(find(sim, name)?.status).toMatchObject({
        phase: "Failed",
        resolution: "Cancelled",
        reason: "ConvoyCancelled",
      });
    }
    expect(sim.world.log.some((a) => a.type === "StopSession" && a.agent === polecat)).toBe(true);
    expect(sim.world.agent(polecat as string)?.spec.hook).toBeUndefined();
    sim.choose = () => ({ kind: "done" });
    for (let i = 0; i < 60; i++) sim.step(30 * SEC);
    expect(sim.world.beads.some((b) => b.status?.resolution === "Merged")).toBe(false);
    expect(sim.world.convoys[0]?.status?.phase).toBe("Failed");
  });

  it("case 5: a pod stuck Terminating stops counting after its grace; its bead is redone; no StopSession storm", () => {
    const sim = new Sim(makeTown(), () => ({ kind: "stuckTerminating" }));
    sim.world.addBead(bead("x"));
    sim.step();
    sim.step();
    // Never heartbeats: lost after the startup window, stopped once, stuck Terminating forever.
    sim.runUntil(() => sessionsOf(sim, "x") >= 2, 400, 30 * SEC);
    const stops = sim.world.log.filter((a) => a.type === "StopSession" && a.pod.endsWith("-1"));
    for (let i = 0; i < 240; i++) sim.step(30 * SEC);
    expect(sim.world.log.filter((a) => a.type === "StopSession" && a.pod.endsWith("-1"))).toHaveLength(stops.length);
    expect(stops.length).toBeLessThanOrEqual(1);
    expect(sim.violations).toEqual([]);
  });

  it("case 7: cancelling an issue in review cancels its merge request and stops the refinery: never merged", () => {
    const sim = new Sim(makeTown(), (_s, role) =>
      role === "Refinery" ? { kind: "done", after: 4 } : { kind: "done" },
    );
    sim.world.addBead(bead("x"));
    sim.runUntil(() => phase(sim, "x-mr-1") === "InProgress", 100);
    sim.world.editBeadSpec("x", { cancel: true });
    for (let i = 0; i < 20; i++) sim.step();
    expect(find(sim, "x")?.status).toMatchObject({ phase: "Failed", resolution: "Cancelled" });
    expect(find(sim, "x-mr-1")?.status).toMatchObject({
      phase: "Failed",
      resolution: "Cancelled",
      reason: "ParentCancelled",
    });
    expect(sim.world.log.some((a) => a.type === "StopSession" && a.agent === "gt-app-refinery")).toBe(true);
    expect(sim.world.beads.some((b) => b.status?.resolution === "Merged")).toBe(false);
  });

  it("case 8: RequestChanges then Done with a PR URL does not record the pull request; the issue cannot close early", () => {
    const sim = new Sim(prTown(), () => ({ kind: "done" }));
    sim.world.forge = () => ({ state: "Merged", mergeCommit: "abc1234" });
    sim.world.addBead(bead("x"));
    sim.runUntil(() => phase(sim, "x-mr-1") === "InProgress", 100);
    const refinery = sim.world.sessions.find((s) => s.agent === "gt-app-refinery");
    expect(refinery).toBeDefined();
    const s = refinery as NonNullable<typeof refinery>;
    sim.world.addReport({
      town: "gt",
      agent: s.agent,
      bead: "x-mr-1",
      session: s.session,
      type: "RequestChanges",
      feedback: "f",
    });
    sim.world.addReport({
      town: "gt",
      agent: s.agent,
      bead: "x-mr-1",
      session: s.session,
      type: "Done",
      prURL: "https://forge.example/pr/1",
    });
    sim.planAndApply();
    expect(find(sim, "x-mr-1")?.status?.prURL).toBeUndefined();
    for (let i = 0; i < 5; i++) sim.planAndApply();
    expect(phase(sim, "x")).toBe("InReview");
    expect(phase(sim, "x-mr-1-rework-1")).toBeDefined();
  });

  it("case 9: on a PullRequest rig, a refinery Done without a PR URL is no merge", () => {
    const sim = new Sim(prTown(), (_s, role) => (role === "Refinery" ? { kind: "done" } : { kind: "done" }));
    sim.world.addBead(bead("x"));
    for (let i = 0; i < 30; i++) sim.step();
    expect(sim.world.beads.some((b) => b.status?.phase === "Closed")).toBe(false);
    const rejected = sim.world.reports.filter(
      (r) => r.spec.agent === "gt-app-refinery" && r.status?.outcome === "Rejected",
    );
    expect(rejected[0]?.status?.error).toContain("needs --pr-url");
  });

  it("case 10: deleting a convoy cancels its merge requests and reworks (owned by it) before the GC takes them", () => {
    const sim = new Sim(makeTown(), (_s, role) => (role === "Refinery" ? { kind: "hang" } : { kind: "done" }));
    sim.world.addConvoy(convoy("c", [{ name: "a" }]));
    sim.runUntil(() => phase(sim, "c-a-mr-1") === "InProgress", 100);
    expect(find(sim, "c-a-mr-1")?.metadata.ownerReferences).toMatchObject([{ kind: "Convoy", name: "c" }]);
    sim.world.deleteConvoy("c");
    sim.step();
    expect(find(sim, "c-a-mr-1")?.status).toMatchObject({
      phase: "Failed",
      resolution: "Cancelled",
      reason: "ConvoyDeleted",
    });
    expect(sim.world.log.some((a) => a.type === "StopSession" && a.agent === "gt-app-refinery")).toBe(true);
    sim.world.collectGarbage();
    expect(sim.world.beads).toEqual([]);
  });

  it("case 11: a task added to a Landed ReviewThenLand convoy runs and lands with a new landing attempt", () => {
    const sim = new Sim(makeTown());
    sim.world.addConvoy(convoy("c", [{ name: "a" }]));
    sim.runUntil(() => sim.world.convoys[0]?.status?.phase === "Landed");
    const c = sim.world.convoys[0];
    const tasks = [
      ...(c?.spec.tasks ?? []),
      { ...(c?.spec.tasks[0] as NonNullable<typeof c>["spec"]["tasks"][0]), name: "b" },
    ];
    sim.world.editConvoySpec("c", { tasks });
    sim.step();
    expect(sim.world.convoys[0]?.status?.phase).toBe("Active");
    sim.runUntil(() => sim.world.convoys[0]?.status?.phase === "Landed");
    expect(phase(sim, "c-b")).toBe("Closed");
    expect(phase(sim, "c-landing-2")).toBe("Closed");
    expect(sim.world.convoys[0]?.status?.landing).toMatchObject({ bead: "c-landing-2", attemptsBefore: 1 });
    expect(sim.violations).toEqual([]);
  });

  it("case 11: a task removed from its convoy before it finished is cancelled (TaskRemoved); the rest lands", () => {
    const sim = new Sim(makeTown(), (s) => (s.bead === "c-b" ? { kind: "hang" } : { kind: "done" }));
    sim.world.addConvoy(convoy("c", [{ name: "a" }, { name: "b" }]));
    sim.runUntil(() => phase(sim, "c-b") === "InProgress", 50);
    const tasks = sim.world.convoys[0]?.spec.tasks.filter((t) => t.name !== "b") ?? [];
    sim.world.editConvoySpec("c", { tasks });
    sim.step();
    expect(find(sim, "c-b")?.status).toMatchObject({ phase: "Failed", resolution: "Cancelled", reason: "TaskRemoved" });
    sim.runUntil(() => sim.world.convoys[0]?.status?.phase === "Landed", 400);
    expect(phase(sim, "c-b")).toBe("Failed");
    expect(sim.violations).toEqual([]);
  });

  it("case 12: a handoff is not a failure: the next session gets the checkpoint and no attempt is used", () => {
    let handedOff = false;
    const sim = new Sim(makeTown({ spec: { limits: { maxDispatchAttempts: 1 } } }), () => {
      if (handedOff) return { kind: "done" };
      handedOff = true;
      return { kind: "handoff" };
    });
    sim.world.addBead(bead("x"));
    sim.runUntil(() => sessionsOf(sim, "x") === 2, 200, 30 * SEC);
    const second = sim.world.log.filter((a) => a.type === "StartSession" && a.bead === "x")[1];
    expect(second?.type === "StartSession" && second.context.checkpoint).toContain("checkpoint of x");
    sim.runUntil(() => phase(sim, "x") === "InReview", 200);
    expect(find(sim, "x")?.status).toMatchObject({ dispatchAttempts: 1, handoffs: 1 });
  });

  it("case 12: the session after a handoff starts no sooner than handoffMinInterval after the one that handed off", () => {
    let polecatSessions = 0;
    const sim = new Sim(makeTown(), (_s, role) =>
      role === "Polecat" && polecatSessions++ === 0 ? { kind: "handoff" } : { kind: "done" },
    );
    sim.world.addBead(bead("x"));
    // The first session hands off 20 s in and exits 10 s later: far sooner than the interval.
    sim.runUntil(() => sessionsOf(sim, "x") === 2, 200, 10 * SEC);
    const starts = sim.world.sessions
      .filter((s) => s.bead === "x")
      .map((s) => s.created)
      .sort((a, b) => a - b);
    expect(starts).toHaveLength(2);
    expect((starts[1] as number) - (starts[0] as number)).toBeGreaterThanOrEqual(2 * MIN);
    expect((starts[1] as number) - (starts[0] as number)).toBeLessThan(3 * MIN);
  });

  it("case 12: handoffs are capped: past maxHandoffs a session's end counts as a failure", () => {
    const sim = new Sim(makeTown({ spec: { limits: { maxHandoffs: 1, maxDispatchAttempts: 2 } } }), () => ({
      kind: "handoff",
    }));
    sim.world.addBead(bead("x"));
    sim.runUntil(() => phase(sim, "x") === "Failed", 400, 30 * SEC);
    expect(find(sim, "x")?.status).toMatchObject({ resolution: "MaxDispatchAttempts", handoffs: 1 });
    expect(sessionsOf(sim, "x")).toBe(3);
  });

  it("case 12: a handoff is not a failed session: handing off never trips the circuit breaker", () => {
    let polecatSessions = 0;
    const sim = new Sim(makeTown({ spec: { limits: { maxFailedSessions: 2 } } }), (_s, role) =>
      role === "Polecat" && polecatSessions++ < 3 ? { kind: "handoff" } : { kind: "done" },
    );
    sim.world.addBead(bead("x"));
    sim.runUntil(() => phase(sim, "x") === "InReview", 400, 30 * SEC);
    expect(find(sim, "x")?.status).toMatchObject({ handoffs: 3, dispatchAttempts: 1 });
    expect(sim.world.town.status?.circuitBreaker?.recentFailures ?? []).toEqual([]);
    expect(sim.world.town.status?.circuitBreaker?.open ?? false).toBe(false);
  });

  it("case 12: the circuit breaker stops new dispatch after maxFailedSessions, and resumes on a reset", () => {
    const sim = new Sim(makeTown({ spec: { limits: { maxFailedSessions: 3, maxPolecatsPerRig: 5 } } }), () => ({
      kind: "crash",
    }));
    for (const n of ["a", "b", "c", "d"]) sim.world.addBead(bead(n));
    sim.runUntil(() => sim.world.town.status?.circuitBreaker?.open === true, 200);
    const started = sim.world.log.filter((a) => a.type === "StartSession").length;
    for (let i = 0; i < 20; i++) sim.step(10 * SEC);
    expect(sim.world.log.filter((a) => a.type === "StartSession").length).toBe(started);
    expect(sim.world.town.status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      status: "False",
      reason: "CircuitBreakerOpen",
    });
    // Opening is a Critical escalation, kept on the Town like every other.
    const town = sim.world.town.metadata.name;
    expect(sim.world.town.status?.escalations?.find((e) => e.reason === "CircuitBreakerOpen")).toMatchObject({
      id: `circuit-breaker-open-${town}`,
      severity: "Critical",
      acknowledged: false,
    });
    sim.choose = () => ({ kind: "done" });
    sim.world.editTownSpec({ circuitBreakerReset: new Date(sim.now).toISOString() });
    sim.step();
    sim.step();
    expect(sim.world.town.status?.circuitBreaker?.open).toBe(false);
    expect(sim.world.log.filter((a) => a.type === "StartSession").length).toBeGreaterThan(started);
  });
});

describe("declarative retry", () => {
  it("one raise of spec.retry is one retry: a retried bead that fails again stays Failed until the next raise", () => {
    const sim = new Sim(makeTown({ spec: { limits: { maxDispatchAttempts: 1 } } }), () => ({ kind: "crash" }));
    sim.world.addBead(bead("x"));
    sim.runUntil(() => phase(sim, "x") === "Failed", 100);
    sim.world.editBeadSpec("x", { retry: 1 });
    sim.step();
    expect(find(sim, "x")?.status).toMatchObject({ phase: "Open", retry: 1 });
    sim.runUntil(() => phase(sim, "x") === "Failed", 100);
    for (let i = 0; i < 60; i++) sim.step(MIN);
    expect(phase(sim, "x")).toBe("Failed");
    expect(find(sim, "x")?.status?.history).toHaveLength(1);
    expect(sessionsOf(sim, "x")).toBe(2);
    sim.world.editBeadSpec("x", { retry: 2 });
    sim.step();
    expect(find(sim, "x")?.status).toMatchObject({ phase: "Open", retry: 2 });
  });
});

describe("escalations are durable", () => {
  it("an unacknowledged escalation is raised again after reEscalateAfter, one severity higher, at most twice", () => {
    const sim = new Sim(makeTown({ spec: { limits: { maxDispatchAttempts: 1 } } }), () => ({ kind: "crash" }));
    sim.world.addBead(bead("x"));
    sim.runUntil(() => phase(sim, "x") === "Failed", 100);
    const esc = () => sim.world.town.status?.escalations?.find((e) => e.id === "max-dispatch-attempts-x");
    expect(esc()).toMatchObject({ severity: "High", level: 0, acknowledged: false });
    for (let i = 0; i < 20 * 60; i++) sim.step(MIN);
    expect(esc()).toMatchObject({ severity: "Critical", level: 2 });
    const raised = sim.world.events.filter((e) => e.reason === "ReEscalated");
    expect(raised).toHaveLength(2);
    sim.world.editTownSpec({ acknowledgedEscalations: ["max-dispatch-attempts-x"] });
    sim.step();
    expect(esc()?.acknowledged).toBe(true);
    expect(sim.world.town.status?.conditions?.find((c) => c.type === "Escalated")).toBeUndefined();
  });

  it("the same problem raised again is one escalation with a count, raised (an Event) once", () => {
    const sim = new Sim(makeTown(), () => ({ kind: "done", after: 30 }));
    sim.world.addBead(bead("x"));
    sim.runUntil(() => sim.world.sessions.some((s) => s.phase === "Running"), 20);
    const s = sim.world.sessions[0] as NonNullable<(typeof sim.world.sessions)[0]>;
    const escalate = () =>
      sim.world.addReport({
        town: "gt",
        agent: s.agent,
        bead: "x",
        session: s.session,
        type: "Escalate",
        severity: "Medium",
        message: "the tests need a database",
      });
    escalate();
    sim.step();
    escalate();
    sim.step();
    const id = `agent-escalated-${s.agent}-x`;
    const list = sim.world.town.status?.escalations?.filter((e) => e.id === id) ?? [];
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ count: 2, level: 0, severity: "Medium" });
    expect(sim.world.log.filter((a) => a.type === "Escalate")).toHaveLength(1);
  });

  it("retrying the bead resolves its escalations", () => {
    const sim = new Sim(makeTown({ spec: { limits: { maxDispatchAttempts: 1 } } }), () => ({ kind: "crash" }));
    sim.world.addBead(bead("x"));
    sim.runUntil(() => phase(sim, "x") === "Failed", 100);
    sim.choose = () => ({ kind: "done" });
    sim.world.editBeadSpec("x", { retry: 1 });
    sim.step();
    expect(sim.world.town.status?.escalations ?? []).toEqual([]);
    sim.runUntil(() => phase(sim, "x") === "Closed", 200);
  });
});

describe("a quiet town stays quiet", () => {
  it("a plan applied in full, planned again at the same instant, does nothing (after at most a few creations)", () => {
    const sim = new Sim(makeTown());
    sim.world.addConvoy(convoy("c", [{ name: "a" }, { name: "b", dependsOn: ["a"] }]));
    for (let i = 0; i < 40; i++) {
      sim.step(20 * SEC);
      let p = plan(sim.world.snapshot(), sim.now);
      for (let j = 0; j < 4 && p.actions.length > 0; j++) {
        sim.world.apply(p.actions);
        p = plan(sim.world.snapshot(), sim.now);
      }
      expect(p.actions).toEqual([]);
    }
    expect(checkInvariants(sim.world.snapshot(), sim.now)).toEqual([]);
  });
});
