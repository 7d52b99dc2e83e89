// One regression test per known failure of the original cloud reconciler, named after it.
import { describe, expect, it } from "vitest";
import { checkInvariants } from "../../../src/core/invariants.ts";
import { plan } from "../../../src/core/plan.ts";
import { buildSnapshot } from "../../../src/core/snapshot.ts";
import { bead, convoy, MIN, makeTown, SEC, Sim } from "./harness.ts";

const find = (sim: Sim, name: string) => sim.world.beads.find((b) => b.metadata.name === name);
const phase = (sim: Sim, name: string) => find(sim, name)?.status?.phase;

describe("known failures of the cloud reconciler", () => {
  it("two live landing merge requests for one convoy", () => {
    const sim = new Sim(makeTown(), () => ({ kind: "hang" }));
    sim.world.addConvoy(convoy("c", [{ name: "a" }]));
    // Let the task finish by hand: Closed with a merged MR, so the convoy is complete.
    sim.step();
    sim.choose = () => ({ kind: "done" });
    sim.runUntil(() => sim.world.beads.some((b) => b.metadata.name === "c-landing-1"));
    const staleView = sim.world.freeze();
    // A view from before the landing existed plans again: the landing is recreated under the same
    // name (AlreadyExists), never as a second live landing.
    const early = sim.plans.find((p) => p.actions.some((a) => a.type === "CreateBead" && a.name === "c-landing-1"));
    expect(early).toBeDefined();
    sim.world.apply(early?.actions ?? []);
    sim.planAndApply({ snapshotFrom: staleView });
    sim.planAndApply();
    const landings = sim.world.beads.filter((b) => b.spec.source?.kind === "Convoy");
    expect(landings.map((b) => b.metadata.name)).toEqual(["c-landing-1"]);
    expect(checkInvariants(sim.world.snapshot(), sim.now).filter((v) => v.invariant === 5)).toEqual([]);
  });

  it("two agents hooked to one bead", () => {
    const sim = new Sim(makeTown({ spec: { limits: { maxPolecatsPerRig: 2 } } }), () => ({ kind: "hang" }));
    sim.world.addBead(bead("x"));
    sim.world.addBead(bead("y"));
    const before = sim.world.freeze();
    sim.planAndApply(); // x and y dispatched to two polecats
    const hookedToX = () => sim.world.agents.filter((a) => a.spec.hook === "x").map((a) => a.metadata.name);
    expect(hookedToX()).toHaveLength(1);
    // A plan from the stale view (both beads still Open, no agents) tries to dispatch again.
    const result = sim.planAndApply({ snapshotFrom: before });
    expect(result.error?.code).toBe("Conflict");
    expect(hookedToX()).toHaveLength(1);
    expect(checkInvariants(sim.world.snapshot(), sim.now)).toEqual([]);
  });

  it("two agents hooked to one bead, when a lagging view picks another free polecat", () => {
    // The Agent informer has not delivered polecat-0 yet (informers lag per kind): a plan from that
    // view gives x to polecat-1. The bead's resourceVersion is the lock, so the polecat claims the
    // bead before it is hooked: the late plan conflicts on x before it hooks a second polecat.
    const sim = new Sim(makeTown({ spec: { limits: { maxPolecatsPerRig: 2 } } }), (_s, role) =>
      role === "Refinery" ? { kind: "hang" } : { kind: "done" },
    );
    sim.world.addBead(bead("a"));
    sim.world.addBead(bead("b"));
    const polecats = () => sim.world.agents.filter((a) => a.spec.role === "Polecat");
    sim.runUntil(() => polecats().length === 2 && polecats().every((a) => !a.spec.hook && a.status?.phase === "Idle"));
    for (let i = 0; i < 3; i++) sim.step(10 * SEC); // their pods finish
    sim.world.addBead(bead("x"));
    // Free polecats are taken by name: the up-to-date plan takes the first, the lagging one the other.
    const [p0, p1] = polecats()
      .map((a) => a.metadata.name)
      .sort();
    const lagging = buildSnapshot({
      town: sim.world.town,
      convoys: sim.world.convoys,
      beads: sim.world.beads,
      agents: sim.world.agents.filter((a) => a.metadata.name !== p0),
      reports: sim.world.reports,
      sessions: sim.world.sessions.filter((s) => s.agent !== p0),
      leases: [],
    });
    sim.planAndApply();
    const hookedToX = () => sim.world.agents.filter((a) => a.spec.hook === "x").map((a) => a.metadata.name);
    expect(hookedToX()).toEqual([p0]);
    const late = plan(lagging, sim.now);
    expect(late.actions.some((a) => a.type === "StartSession" && a.agent === p1 && a.bead === "x")).toBe(true);
    const result = sim.world.apply(late.actions);
    expect(result.error?.code).toBe("Conflict");
    expect(hookedToX()).toEqual([p0]);
    expect(checkInvariants(sim.world.snapshot(), sim.now)).toEqual([]);
  });

  it("a session that exits 0 without Done closing its bead", () => {
    const sim = new Sim(makeTown(), () => ({ kind: "exit0" }));
    sim.world.addBead(bead("x"));
    for (let i = 0; i < 5; i++) sim.step();
    expect(phase(sim, "x")).toBe("Open");
    expect(sim.world.bead("x").status?.reason).toBe("SessionEndedWithoutDone");
    expect(sim.world.bead("x").status?.assignee).toBeDefined();
    // It is retried after the back-off, and never Closed.
    sim.runUntil(() => (sim.world.bead("x").status?.dispatchAttempts ?? 0) >= 2, 100, 30 * SEC);
    expect(sim.world.beads.some((b) => b.status?.phase === "Closed")).toBe(false);
  });

  it("GUPP acting on a missing activity time (NaN)", () => {
    // A hung agent whose activity watermark is not a number (a corrupt annotation) must still be
    // warned, escalated and force-stopped on time: the unreadable time is unknown, so GUPP falls
    // back to the Lease's renewal. Kept as NaN it would compare false everywhere and GUPP would
    // never act (the cloud version, comparing the other way, nudged every agent at once). The
    // heartbeat timeout is longer than GUPP's tiers here so that only GUPP can act.
    const sim = new Sim(makeTown({ spec: { timeouts: { heartbeatTimeout: "3h" } } }), () => ({ kind: "hang" }));
    sim.world.addBead(bead("x"));
    sim.step();
    sim.step();
    const agent = sim.world.agents[0]?.metadata.name as string;
    const renewed = sim.now;
    sim.world.setLease({ agent, renewTime: renewed, activityTime: Number.NaN, activeTools: 0, session: 1 });
    const tiersAt = (t: number) => {
      sim.world.now = t;
      const p = plan(sim.world.snapshot(), t);
      sim.world.apply(p.actions);
      return p.actions.flatMap((a) => (a.type === "Nudge" ? [a.tier] : []));
    };
    expect(tiersAt(renewed + 15 * MIN)).toEqual([]);
    expect(tiersAt(renewed + 15 * MIN + 1)).toEqual(["warn"]);
    expect(tiersAt(renewed + 60 * MIN + 1)).toEqual(["escalate"]);
    expect(tiersAt(renewed + 120 * MIN + 1)).toEqual(["forceStop"]);
    expect(sim.world.agent(agent)?.status?.phase).toBe("Stalled");
    expect(phase(sim, "x")).toBe("Open");
  });

  it("a NaN lease renewal disabling the heartbeat timeout", () => {
    // A renewal time that is not a number is "never renewed": the session is lost after the
    // startup window, not kept alive forever because NaN > deadline is false.
    const sim = new Sim(makeTown(), () => ({ kind: "hang" }));
    sim.world.addBead(bead("x"));
    sim.step();
    sim.step();
    const agent = sim.world.agents[0]?.metadata.name as string;
    sim.world.setLease({ agent, renewTime: Number.NaN, activityTime: Number.NaN, activeTools: 0, session: 1 });
    // Lost once the startup window (startupGrace + heartbeatTimeout, 4.5 min) has passed.
    sim.runUntil(() => sim.world.agent(agent)?.status?.lastSessionExit !== undefined, 30, 10 * SEC);
    expect(sim.world.agent(agent)?.status?.lastSessionExit?.reason).toContain("never sent a heartbeat");
  });

  it("a PullRequest-strategy MR blocking the refinery queue", () => {
    const town = makeTown({
      rigs: [
        { name: "app", mergeStrategy: "PullRequest", forge: { provider: "GitHub", apiURL: "https://api.example" } },
      ],
    });
    const sim = new Sim(town, (_s, role) => (role === "Refinery" ? { kind: "pullRequest" } : { kind: "done" }));
    sim.world.forge = () => ({ state: "Open" }); // never merges
    sim.world.addBead(bead("a"));
    sim.world.addBead(bead("b"));
    sim.runUntil(() => sim.world.beads.filter((b) => b.status?.prURL).length === 2, 100);
    expect(phase(sim, "a-mr-1")).toBe("InProgress");
    expect(phase(sim, "b-mr-1")).toBe("InProgress");
  });

  it("an actively polled PR failed as orphaned", () => {
    const town = makeTown({
      rigs: [
        { name: "app", mergeStrategy: "PullRequest", forge: { provider: "GitHub", apiURL: "https://api.example" } },
      ],
    });
    const sim = new Sim(town, (_s, role) => (role === "Refinery" ? { kind: "pullRequest" } : { kind: "done" }));
    sim.world.forge = () => ({ state: "Open" });
    sim.world.addBead(bead("a"));
    sim.runUntil(() => !!find(sim, "a-mr-1")?.status?.prURL, 100);
    // Two hours of successful polling: far past the 30-minute orphan timeout.
    for (let i = 0; i < 240; i++) sim.step(30 * SEC);
    expect(phase(sim, "a-mr-1")).toBe("InProgress");
    // Polling stops succeeding: now it is orphaned after 30 minutes.
    sim.world.forge = () => new Error("forge down");
    sim.runUntil(() => phase(sim, "a-mr-1") === "Failed", 200, 30 * SEC);
    expect(sim.world.bead("a-mr-1").status?.resolution).toBe("Orphaned");
    expect(phase(sim, "a")).not.toBe("Closed");
  });

  it("a report that fails to apply being dropped instead of retried and then poisoned after 3 attempts", () => {
    const sim = new Sim(makeTown(), () => ({ kind: "done" }));
    sim.world.addBead(bead("x"));
    const failMR = {
      fail: (a: { type: string }) => (a.type === "CreateBead" ? "admission webhook denied the request" : undefined),
    };
    let report: string | undefined;
    for (let i = 0; i < 4 && !report; i++) {
      sim.step(10 * SEC, failMR);
      report = sim.world.reports.find((r) => r.spec.type === "Done")?.metadata.name;
    }
    expect(report).toBeDefined();
    const status = () => sim.world.reports.find((r) => r.metadata.name === report)?.status;
    sim.step(SEC, failMR);
    expect(status()).toMatchObject({ attempts: 1, error: "admission webhook denied the request" });
    expect(status()?.outcome).toBeUndefined();
    for (let i = 0; i < 20 && (status()?.attempts ?? 0) < 3; i++) sim.step(30 * SEC, failMR);
    expect(status()?.attempts).toBe(3);
    sim.step(30 * SEC, failMR);
    expect(status()?.outcome).toBe("Poisoned");
    expect(sim.world.reports.some((r) => r.metadata.name === report)).toBe(true);
    expect(sim.world.events.some((e) => e.reason === "ReportPoisoned" && e.warning)).toBe(true);
  });

  it("Done after RequestChanges merging instead of only releasing the refinery", () => {
    const sim = new Sim(makeTown(), (_s, role) =>
      role === "Refinery" ? { kind: "requestChanges" } : { kind: "hang" },
    );
    sim.world.addBead(bead("x"));
    sim.choose = (_s, role) => (role === "Refinery" ? { kind: "requestChanges" } : { kind: "done" });
    sim.runUntil(() => sim.world.beads.some((b) => b.spec.reworkOf === "x-mr-1"), 100);
    sim.runUntil(() => sim.world.reports.every((r) => r.status?.outcome), 20);
    expect(phase(sim, "x-mr-1")).not.toBe("Closed");
    expect(phase(sim, "x")).toBe("InReview");
    expect(sim.world.agent("gt-app-refinery")?.spec.hook).toBeUndefined();
  });

  it("an unbounded refinery re-dispatch loop", () => {
    const sim = new Sim(makeTown(), (_s, role) => (role === "Refinery" ? { kind: "crash" } : { kind: "done" }));
    sim.world.addBead(bead("x"));
    sim.runUntil(() => phase(sim, "x-mr-1") === "Failed", 400, 30 * SEC);
    expect(sim.world.bead("x-mr-1").status?.resolution).toBe("MaxDispatchAttempts");
    const refinerySessions = sim.world.log.filter((a) => a.type === "StartSession" && a.agent === "gt-app-refinery");
    expect(refinerySessions).toHaveLength(5);
    // The issue is reopened to be redone from scratch, never closed.
    expect(phase(sim, "x")).not.toBe("Closed");
    expect(sim.world.events.some((e) => e.name === "x" && e.reason === "Reopened")).toBe(true);
  });

  it("a convoy marked Landed before its landing MR merged", () => {
    const sim = new Sim(makeTown(), () => ({ kind: "done" }));
    sim.world.addConvoy(convoy("c", [{ name: "a" }]));
    sim.runUntil(() => sim.world.beads.some((b) => b.metadata.name === "c-landing-1"));
    sim.choose = (_s, role) => (role === "Refinery" ? { kind: "reviewFailed" } : { kind: "done" });
    sim.runUntil(() => phase(sim, "c-landing-1") === "Failed");
    expect(sim.convoyPhase("c")).not.toBe("Landed");
    sim.choose = () => ({ kind: "done" });
    sim.runUntil(() => sim.convoyPhase("c") === "Landed");
    expect(phase(sim, "c-landing-2")).toBe("Closed");
    const snap = buildSnapshot({
      town: sim.world.town,
      convoys: sim.world.convoys,
      beads: sim.world.beads,
      agents: sim.world.agents,
      reports: sim.world.reports,
      sessions: sim.world.sessions,
      leases: [],
    });
    expect(checkInvariants(snap, sim.now)).toEqual([]);
    expect(sim.violations).toEqual([]);
  });
});
