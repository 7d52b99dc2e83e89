// Usage and budgets (issue 11): what sessions report on their Lease is recorded once per session on
// the bead and summed on the Convoy and the Town; a spent cap holds new work (not running work,
// except a bead's own cap), says so on the Town, and raising the cap — or the next UTC day —
// releases the holds. The clock moves; nothing sleeps.
import { describe, expect, it } from "vitest";
import type { Bead } from "../../../../src/api/bead.ts";
import type { Escalation, Town } from "../../../../src/api/town.ts";
import type { Budget } from "../../../../src/api/usage.ts";
import type { LeaseUsage } from "../../../../src/core/snapshot.ts";
import {
  applyStatus,
  beadStatus,
  conditionsOf,
  convoyOf,
  convoyStatus,
  type Fixture,
  HOUR,
  iso,
  issue,
  lease,
  MIN,
  ofType,
  planAt,
  pod,
  polecat,
  SEC,
  T0,
  town,
  townStatus,
  withObjects,
  workingStatus,
} from "../builders.ts";

const TOAST = "gt-app-toast";
const NOW = T0 + 10 * MIN;

const used = (input: number, output: number, costUSD = 0): LeaseUsage => ({
  inputTokens: input,
  outputTokens: output,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  costUSD,
});

function withBudget(t: Town, daily: Budget): Town {
  return { ...t, spec: { ...t.spec, budget: { daily } } };
}

/** A polecat working on `x` (session 1, since T0) whose Lease says `usage`. */
function working(usage: LeaseUsage, o: { bead?: Partial<Bead["spec"]>; town?: Town } = {}): Fixture {
  return {
    town: o.town ?? town(),
    beads: [
      issue("x", {
        phase: "InProgress",
        assignee: TOAST,
        attempts: 1,
        since: T0,
        status: { lastDispatchTime: iso(T0), sessionCharged: true },
        ...(o.bead ? { spec: o.bead } : {}),
      }),
    ],
    agents: [polecat(TOAST, { hook: "x", status: workingStatus(TOAST, "x", { start: T0, heartbeat: NOW }) })],
    sessions: [pod(TOAST, 1, { bead: "x", started: T0 })],
    leases: [lease(TOAST, { session: 1, renewTime: NOW, activityTime: NOW, usage })],
  };
}

const usageOf = (p: ReturnType<typeof planAt>, bead: string) =>
  beadStatus(p, bead)?.usage as { tokens: number; costUSD?: number; sessions: { session: number }[] } | undefined;

describe("usage", () => {
  it("records a session's usage on its bead once: the same Lease again writes nothing", () => {
    const f = working(used(100, 20, 0.25));
    const p = planAt(f, NOW);
    expect(beadStatus(p, "x")?.usage).toEqual({
      tokens: 120,
      inputTokens: 100,
      outputTokens: 20,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
      costUSD: 0.25,
      sessions: [
        {
          agent: TOAST,
          session: 1,
          tokens: 120,
          inputTokens: 100,
          outputTokens: 20,
          cacheReadTokens: 0,
          cacheWriteTokens: 0,
          costUSD: 0.25,
          time: iso(NOW),
          lastUpdateTime: iso(NOW),
        },
      ],
    });
    expect(townStatus(p)?.usage).toMatchObject({ tokens: 120, costUSD: 0.25 });
    expect(townStatus(p)?.usageToday).toMatchObject({ day: "2026-01-01", tokens: 120 });
    const again = planAt(applyStatus(f, p), NOW + SEC);
    expect(beadStatus(again, "x")).toBeUndefined();
    expect(townStatus(again)?.usage).toBeUndefined();
    expect(townStatus(again)?.usageToday).toBeUndefined();
  });

  it("a live session without a budget is written at most every heartbeatTimeout; its end at once", () => {
    const f = applyStatus(working(used(100, 20)), planAt(working(used(100, 20)), NOW));
    const grown = withObjects(f, { leases: [lease(TOAST, { session: 1, renewTime: NOW, usage: used(300, 50) })] });
    const soon = planAt(grown, NOW + 30 * SEC);
    expect(beadStatus(soon, "x")?.usage).toBeUndefined();
    expect(soon.nextWakeAt).toBeLessThanOrEqual(NOW + 5 * MIN); // the default heartbeatTimeout
    expect(usageOf(planAt(grown, NOW + 5 * MIN), "x")?.tokens).toBe(350);
    // The session ended: its last counts are written now.
    const ended = withObjects(grown, { sessions: [pod(TOAST, 1, { bead: "x", phase: "Succeeded", finished: NOW })] });
    expect(usageOf(planAt(ended, NOW + 30 * SEC), "x")?.tokens).toBe(350);
  });

  it("sessions add up: a second session is a second entry, and a stale Lease never lowers a count", () => {
    const first = working(used(100, 20));
    const f = applyStatus(first, planAt(first, NOW));
    // Session 2 of the same agent on the same bead.
    const second = withObjects(f, {
      agents: [polecat(TOAST, { hook: "x", status: workingStatus(TOAST, "x", { session: 2, start: NOW }) })],
      sessions: [pod(TOAST, 1, { bead: "x", phase: "Failed", finished: NOW }), pod(TOAST, 2, { bead: "x" })],
      leases: [lease(TOAST, { session: 2, renewTime: NOW, usage: used(10, 5) })],
    });
    const p = planAt(second, NOW + MIN);
    expect(usageOf(p, "x")?.tokens).toBe(135);
    expect(usageOf(p, "x")?.sessions.map((s) => s.session)).toEqual([1, 2]);
  });

  it("sums a convoy's beads on the Convoy", () => {
    const c = convoyOf("c", [{ name: "x" }, { name: "y" }]);
    const member = (name: string, tokens: number): Bead =>
      issue(`c-${name}`, {
        phase: "Closed",
        spec: { convoy: "c" },
        status: {
          resolution: "Merged",
          usage: {
            tokens,
            inputTokens: tokens,
            outputTokens: 0,
            cacheReadTokens: 0,
            cacheWriteTokens: 0,
            sessions: [],
          },
        },
      });
    const p = planAt({ convoys: [c], beads: [member("x", 40), member("y", 2)] }, NOW);
    expect(convoyStatus(p, "c")?.usage).toEqual({
      tokens: 42,
      inputTokens: 42,
      outputTokens: 0,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
    });
  });

  it("keeps the CLI's conversation id for the bead's next session, and nudge delivery on the Agent", () => {
    const f = working(used(0, 0));
    f.leases = [
      lease(TOAST, {
        session: 1,
        renewTime: NOW,
        cliSession: "3f1c-conversation",
        nudgeDelivery: { nudge: "warn@x", result: "Delivered", via: "hook", time: NOW },
      }),
    ];
    const p = planAt(f, NOW);
    expect(beadStatus(p, "x")?.conversation).toEqual({ id: "3f1c-conversation", agent: TOAST, session: 1 });
    const agentPatch = p.actions.find((a) => a.type === "UpdateAgentStatus" && a.name === TOAST);
    expect(agentPatch && "status" in agentPatch ? agentPatch.status.nudgeDelivery : undefined).toEqual({
      nudge: "warn@x",
      result: "Delivered",
      via: "hook",
      time: iso(NOW),
    });
    // The next session is given the conversation to resume.
    const done = applyStatus(f, p);
    const next = withObjects(done, {
      beads: [
        issue("x", {
          phase: "Open",
          since: NOW,
          attempts: 1,
          status: { conversation: { id: "3f1c-conversation", agent: TOAST, session: 1 } },
        }),
      ],
      agents: [polecat(TOAST, { status: { phase: "Idle", session: 1, idleSince: iso(NOW) } })],
      sessions: [pod(TOAST, 1, { bead: "x", phase: "Failed", finished: NOW })],
      leases: [],
    });
    const start = ofType(planAt(next, NOW + HOUR), "StartSession");
    expect(start.map((s) => s.context.cliSession)).toEqual(["3f1c-conversation"]);
  });

  it("shows which session continued the conversation, and whether it resumed it or had to start anew", () => {
    const base = withObjects(working(used(0, 0)), {
      beads: [
        issue("x", {
          phase: "InProgress",
          assignee: TOAST,
          attempts: 1,
          since: T0,
          status: {
            lastDispatchTime: iso(T0),
            sessionCharged: true,
            conversation: { id: "3f1c-conversation", agent: TOAST, session: 1 },
          },
        }),
      ],
    });
    // Resumed: the id stays, the session that continued it and `resumed` are news.
    base.leases = [lease(TOAST, { session: 1, renewTime: NOW, cliSession: "3f1c-conversation", cliResumed: true })];
    const resumedPlan = planAt(base, NOW);
    expect(beadStatus(resumedPlan, "x")?.conversation).toEqual({
      id: "3f1c-conversation",
      agent: TOAST,
      session: 1,
      resumed: true,
    });
    // The Agent shows it too, with the bead.
    const agentPatch = resumedPlan.actions.find((a) => a.type === "UpdateAgentStatus" && a.name === TOAST);
    expect(agentPatch && "status" in agentPatch ? agentPatch.status.conversation : undefined).toEqual({
      id: "3f1c-conversation",
      session: 1,
      bead: "x",
      resumed: true,
    });
    // Could not resume: the new conversation, said so.
    base.leases = [lease(TOAST, { session: 1, renewTime: NOW, cliSession: "9e2a-new", cliResumed: false })];
    expect(beadStatus(planAt(base, NOW), "x")?.conversation).toEqual({
      id: "9e2a-new",
      agent: TOAST,
      session: 1,
      resumed: false,
    });
    // Nothing new: no patch.
    base.leases = [lease(TOAST, { session: 1, renewTime: NOW, cliSession: "3f1c-conversation" })];
    expect(beadStatus(planAt(base, NOW), "x")?.conversation).toBeUndefined();
  });
});

describe("the town's daily budget", () => {
  /** One bead that spent `tokens` today (Closed) and one waiting to be dispatched. */
  function spent(tokens: number, daily: Budget, at = T0 + MIN): Fixture {
    return {
      town: withBudget(town(), daily),
      beads: [
        issue("done", {
          phase: "Failed",
          status: {
            resolution: "Cancelled",
            usage: {
              tokens,
              inputTokens: tokens,
              outputTokens: 0,
              cacheReadTokens: 0,
              cacheWriteTokens: 0,
              sessions: [
                {
                  agent: TOAST,
                  session: 1,
                  time: iso(at),
                  tokens,
                  inputTokens: tokens,
                  outputTokens: 0,
                  cacheReadTokens: 0,
                  cacheWriteTokens: 0,
                },
              ],
            },
          },
        }),
        issue("next", { created: T0 + 2 * MIN }),
      ],
    };
  }

  it("under the cap, work is dispatched", () => {
    expect(ofType(planAt(spent(50, { tokens: 100 }), NOW), "StartSession")).toHaveLength(1);
  });

  it("at the cap, new work is held, the Town says which cap and how to raise it, one escalation", () => {
    const f = spent(100, { tokens: 100 });
    const p = planAt(f, NOW);
    expect(ofType(p, "StartSession")).toEqual([]);
    expect(beadStatus(p, "next")?.hold).toMatchObject({
      reason: "BudgetExceeded",
      message: expect.stringContaining("spec.budget.daily.tokens: 100"),
    });
    const ready = conditionsOf(p, "Town").Ready;
    expect(ready).toMatchObject({ status: "False", reason: "BudgetExceeded" });
    expect(ready?.message).toMatch(/raised or the UTC day ends; running sessions finish/);
    const escalations = (townStatus(p) as { escalations?: Escalation[] }).escalations ?? [];
    expect(escalations.map((e) => e.id)).toEqual(["budget-exceeded-town-gt"]);
    // It wakes at midnight UTC, when the day's spend starts again.
    expect(p.nextWakeAt).toBeLessThanOrEqual(T0 + 24 * HOUR);
    // Held and quiet: planning again writes nothing.
    const held = applyStatus(f, p);
    // (The fixture's town starts without status, so counters it never wrote may still be written.)
    const quiet = planAt(held, NOW + MIN);
    expect(quiet.actions.filter((a) => a.type !== "UpdateTownStatus")).toEqual([]);
    expect(Object.keys(townStatus(quiet) ?? {})).not.toContain("usageToday");
    expect(Object.keys(townStatus(quiet) ?? {})).not.toContain("conditions");
    expect(Object.keys(townStatus(quiet) ?? {})).not.toContain("escalations");
  });

  it("raising the cap releases the holds and dispatches at once", () => {
    const f = spent(100, { tokens: 100 });
    const held = applyStatus(f, planAt(f, NOW));
    const raised = { ...held, town: withBudget(held.town as Town, { tokens: 1000 }) };
    const p = planAt(raised, NOW + MIN);
    expect(beadStatus(p, "next")).toMatchObject({ hold: null, reason: expect.any(String) });
    expect(ofType(p, "StartSession").map((s) => s.bead)).toEqual(["next"]);
    expect(conditionsOf(p, "Town").Ready?.status).toBe("True");
    expect(((townStatus(p) as { escalations?: Escalation[] }).escalations ?? []).map((e) => e.id)).toEqual([]);
  });

  it("the next UTC day releases them: yesterday's spend does not count", () => {
    const f = spent(100, { tokens: 100 });
    const held = applyStatus(f, planAt(f, NOW));
    const p = planAt(held, T0 + 24 * HOUR + SEC);
    expect(ofType(p, "StartSession").map((s) => s.bead)).toEqual(["next"]);
    expect(townStatus(p)?.usageToday).toMatchObject({ day: "2026-01-02", tokens: 0 });
  });

  it("a cost cap counts costUSD", () => {
    const f = working(used(10, 10, 2.5), { town: withBudget(town(), { costUSD: 2 }) });
    f.beads = [...(f.beads ?? []), issue("next", { created: T0 + 2 * MIN })];
    const p = planAt(f, NOW);
    expect(beadStatus(p, "next")?.hold).toMatchObject({ reason: "BudgetExceeded" });
    // Running work is not touched.
    expect(ofType(p, "StopSession")).toEqual([]);
  });
});

describe("a bead's own budget", () => {
  it("stops its session and holds it, not charged; raising the budget gives it its turn back", () => {
    const f = working(used(150, 50), { bead: { budget: { tokens: 200 } } });
    const p = planAt(f, NOW);
    expect(ofType(p, "StopSession").map((s) => s.pod)).toEqual([`${TOAST}-1`]);
    expect(beadStatus(p, "x")).toMatchObject({
      phase: "Open",
      dispatchAttempts: 0,
      hold: { reason: "BudgetExceeded", message: expect.stringContaining("spec.budget.tokens: 200") },
    });
    expect(((townStatus(p) as { escalations?: Escalation[] }).escalations ?? []).map((e) => e.id)).toEqual([
      "budget-exceeded-x",
    ]);
    // Still over: it stays held, whatever the clock says.
    const held = withObjects(applyStatus(f, p), {
      sessions: [pod(TOAST, 1, { bead: "x", phase: "Failed", finished: NOW + SEC })],
      leases: [],
    });
    expect(ofType(planAt(held, NOW + 2 * HOUR), "StartSession")).toEqual([]);
    // Raised: released and dispatched.
    const raised = {
      ...held,
      beads: (held.beads ?? []).map((b) => ({ ...b, spec: { ...b.spec, budget: { tokens: 10_000 } } })),
    };
    const again = planAt(raised, NOW + 2 * HOUR);
    expect(beadStatus(again, "x")).toMatchObject({ hold: null });
    expect(ofType(again, "StartSession").map((s) => s.bead)).toEqual(["x"]);
  });
});

describe("a convoy's budget", () => {
  it("holds its open beads and lets the running one finish", () => {
    const c = { ...convoyOf("c", [{ name: "a" }, { name: "b" }]) };
    c.spec = { ...c.spec, budget: { tokens: 100 } };
    const f = working(used(90, 20), { bead: { convoy: "c" } });
    f.convoys = [c];
    f.beads = [...(f.beads ?? []), issue("c-b", { spec: { convoy: "c" }, created: T0 + MIN })];
    const p = planAt(f, NOW);
    expect(ofType(p, "StopSession")).toEqual([]);
    expect(beadStatus(p, "c-b")?.hold).toMatchObject({
      reason: "BudgetExceeded",
      message: expect.stringContaining("convoy c reached its budget (spec.budget.tokens: 100)"),
    });
    expect(convoyStatus(p, "c")?.usage).toMatchObject({ tokens: 110 });
  });
});
