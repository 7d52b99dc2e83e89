// §5.6 GUPP: warn / escalate / forceStop tiers at their boundaries, activeTools suppressing warn,
// the dedupe window (a higher tier covers the lower ones), and the session start as activity floor.
import { describe, expect, it } from "vitest";
import type { Nudge, NudgeTier } from "../../../../src/api/agent.ts";
import type { Bead } from "../../../../src/api/bead.ts";
import type { Condition } from "../../../../src/api/meta.ts";
import type { Escalation } from "../../../../src/api/town.ts";
import { Draft } from "../../../../src/core/draft.ts";
import { inactiveFor } from "../../../../src/core/rules/gupp.ts";
import type { LeaseObservation } from "../../../../src/core/snapshot.ts";
import {
  beadStatus,
  conditionsOf,
  effects,
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
  snapshotOf,
  T0,
  town,
  townStatus,
  workingStatus,
} from "../builders.ts";

const TOAST = "gt-app-toast";
const MAPLE = "gt-app-maple";
const townStatusOf = (p: ReturnType<typeof planAt>) => townStatus(p) as { escalations?: Escalation[] } | undefined;
const dispatchedTo = (p: ReturnType<typeof planAt>, bead: string) =>
  ofType(p, "StartSession")
    .filter((a) => a.bead === bead)
    .map((a) => a.agent);
const S = T0; // session start
const A = T0 + MIN; // last activity

interface Opts {
  now: number;
  activity?: number;
  tools?: number;
  lease?: Partial<LeaseObservation> | null;
  nudges?: Nudge[];
  phase?: "Working" | "Stalled" | "Idle";
  start?: number;
  timeouts?: Record<string, string>;
}

/**
 * toast runs session 1 on x. The heartbeat timeout is 10 h here so that, at every GUPP boundary,
 * GUPP is the only rule waiting (its deadline is then exactly nextWakeAt).
 */
function agentAt(o: Opts): Fixture {
  const phase = o.phase ?? "Working";
  const status =
    phase === "Idle"
      ? { phase, session: 1 }
      : { ...workingStatus(TOAST, "x", { start: o.start ?? S, heartbeat: o.now }), phase, nudges: o.nudges ?? [] };
  return {
    town: town({ timeouts: { heartbeatTimeout: "10h", ...o.timeouts } }),
    beads: [issue("x", { phase: "InProgress", assignee: TOAST, attempts: 1, since: S })],
    agents: [polecat(TOAST, { hook: "x", status })],
    sessions: [pod(TOAST, 1, { bead: "x", started: o.start ?? S })],
    leases:
      o.lease === null
        ? []
        : [
            lease(TOAST, {
              renewTime: o.now,
              activityTime: o.activity ?? A,
              activeTools: o.tools ?? 0,
              ...o.lease,
            }),
          ],
  };
}

const nudge = (tier: NudgeTier, time: number): Nudge => ({ tier, time: iso(time), message: `${tier} earlier` });
const nudgesOf = (p: ReturnType<typeof planAt>) => ofType(p, "Nudge").map((n) => n.tier);

describe("tiers: each fires when elapsed > its threshold (Stale semantics)", () => {
  it.each([
    { name: "warn threshold exactly", elapsed: 15 * MIN, tiers: [], wake: A + 15 * MIN + 1 },
    { name: "warn + 1 ms", elapsed: 15 * MIN + 1, tiers: ["warn"], wake: A + HOUR + 1 },
    { name: "warn + 1 ms with an active tool", elapsed: 15 * MIN + 1, tools: 1, tiers: [], wake: A + HOUR + 1 },
    { name: "escalate threshold exactly (warn due)", elapsed: HOUR, tiers: ["warn"], wake: A + HOUR + 1 },
    { name: "escalate + 1 ms", elapsed: HOUR + 1, tiers: ["escalate"], wake: A + 2 * HOUR + 1 },
    {
      name: "escalate + 1 ms with an active tool",
      elapsed: HOUR + 1,
      tools: 2,
      tiers: ["escalate"],
      wake: A + 2 * HOUR + 1,
    },
    { name: "force-stop threshold exactly", elapsed: 2 * HOUR, tiers: ["escalate"], wake: A + 2 * HOUR + 1 },
    { name: "force-stop + 1 ms", elapsed: 2 * HOUR + 1, tiers: ["forceStop"] },
  ])("$name: $tiers", ({ elapsed, tools, tiers, wake }) => {
    const now = A + elapsed;
    const p = planAt(agentAt({ now, tools }), now);
    expect(nudgesOf(p)).toEqual(tiers);
    if (wake !== undefined) expect(p.nextWakeAt).toBe(wake);
  });

  it("warn: a Nudge and the nudge appended to the agent's status; no escalation", () => {
    const now = A + 15 * MIN + 1;
    const old = nudge("warn", T0 - 5 * HOUR);
    const p = planAt(agentAt({ now, nudges: [old] }), now);
    const message = "No activity for 15 min. If you are stuck, say so with gt escalate; when finished, run gt done.";
    expect(effects(p)).toEqual([
      { type: "Nudge", agent: TOAST, tier: "warn", why: { reason: "NudgeWarn", message } },
      expect.objectContaining({
        type: "UpdateAgentStatus",
        name: TOAST,
        status: { nudges: [old, { tier: "warn", time: iso(now), message }] },
      }),
    ]);
    expect(conditionsOf(p, "Agent", TOAST).Escalated).toBeUndefined();
  });

  it("escalate: Nudge, a durable escalation (Medium) on the hooked bead, condition Escalated on agent and town", () => {
    const now = A + HOUR + 1;
    const p = planAt(agentAt({ now }), now);
    const message = "No activity for 60 min; escalated to the town's operators.";
    const w = { reason: "NudgeEscalate", message, warning: true };
    expect(effects(p)).toEqual([
      { type: "Nudge", agent: TOAST, tier: "escalate", why: w },
      expect.objectContaining({
        type: "UpdateAgentStatus",
        status: { nudges: [{ tier: "escalate", time: iso(now), message }] },
      }),
      {
        type: "Escalate",
        agent: TOAST,
        bead: "x",
        severity: "Medium",
        why: { reason: "NudgeEscalate", message: `${TOAST} on x: ${message}`, warning: true },
      },
    ]);
    expect(conditionsOf(p, "Agent", TOAST).Escalated).toMatchObject({
      status: "True",
      reason: "NudgeEscalate",
      message,
    });
    expect(townStatusOf(p)?.escalations).toMatchObject([
      { id: "nudge-escalate-x", severity: "Medium", agent: TOAST, bead: "x", count: 1, level: 0, acknowledged: false },
    ]);
    expect(conditionsOf(p, "Town").Escalated).toMatchObject({ status: "True", reason: "Unacknowledged" });
    expect(conditionsOf(p, "Town").Escalated?.message).toContain("nudge-escalate-x");
  });

  // Case 12 of issue 8: a GUPP force-stop was a restart — the hung agent's bead was redone up to
  // five times by the same agent. Now the bead is taken from it and redone once by another polecat.
  it("forceStop: the session stopped, the agent Stalled and unhooked, the bead redone by someone else", () => {
    const now = A + 2 * HOUR + 1;
    const p = planAt(agentAt({ now }), now);
    const message = "No activity for 120 min; the session was stopped.";
    const w = { reason: "ForceStopped", message, warning: true };
    expect(effects(p)).toEqual([
      { type: "Nudge", agent: TOAST, tier: "forceStop", why: w },
      { type: "StopSession", agent: TOAST, pod: `${TOAST}-1`, why: w },
      expect.objectContaining({
        type: "UpdateBeadStatus",
        name: "x",
        status: expect.objectContaining({
          phase: "Open",
          assignee: null,
          forceStops: 1,
          forceStoppedAgent: TOAST,
          reason: "ForceStopped",
        }),
      }),
      { type: "SetHook", agent: TOAST, resourceVersion: `rv-${TOAST}`, hook: null, why: w },
      expect.objectContaining({
        type: "UpdateAgentStatus",
        status: { nudges: [{ tier: "forceStop", time: iso(now), message }], phase: "Stalled" },
      }),
      expect.objectContaining({ type: "Escalate", agent: TOAST, bead: "x", severity: "High" }),
    ]);
    const c = conditionsOf(p, "Agent", TOAST);
    expect(c.Ready).toMatchObject({ status: "False", reason: "Stalled" });
    expect(c.Stalled).toMatchObject({ status: "True", reason: "GUPPForceStop" });
    expect(c.Escalated).toMatchObject({ status: "True", reason: "ForceStopped" });
  });

  it("forceStop a second time on the same bead: it is held (Stalled, HungAgent) until retried", () => {
    const now = A + 2 * HOUR + 1;
    const fixture = agentAt({ now });
    const [x] = fixture.beads ?? [];
    fixture.beads = [{ ...(x as Bead), status: { ...(x as Bead).status, forceStops: 1, forceStoppedAgent: MAPLE } }];
    const p = planAt(fixture, now);
    expect(beadStatus(p, "x")).toMatchObject({
      phase: "Open",
      assignee: null,
      forceStops: 2,
      hold: { reason: "HungAgent", since: iso(now) },
    });
    expect(conditionsOf(p, "Bead", "x").Stalled).toMatchObject({ status: "True", reason: "HungAgent" });
    expect(dispatchedTo(p, "x")).toEqual([]);
    expect(townStatusOf(p)?.escalations?.map((e) => e.id)).toEqual(["force-stopped-x", "hung-agent-x"]);
  });

  it("a Stalled agent is not force-stopped again: it escalates", () => {
    const now = A + 3 * HOUR;
    const p = planAt(agentAt({ now, phase: "Stalled" }), now);
    expect(nudgesOf(p)).toEqual(["escalate"]);
    expect(ofType(p, "StopSession")).toEqual([]);
  });

  it("an Idle agent is never nudged", () => {
    const now = A + 3 * HOUR;
    expect(nudgesOf(planAt(agentAt({ now, phase: "Idle" }), now))).toEqual([]);
  });

  it("the nudge list keeps the newest 20", () => {
    const now = A + 15 * MIN + 1;
    const old = Array.from({ length: 20 }, (_, i) => nudge("warn", T0 - 10 * HOUR + i));
    const p = planAt(agentAt({ now, nudges: old }), now);
    const nudges = ofType(p, "UpdateAgentStatus")[0]?.status.nudges as Nudge[];
    expect(nudges).toHaveLength(20);
    expect(nudges[0]).toEqual(old[1]);
    expect(nudges[19]).toMatchObject({ tier: "warn", time: iso(now) });
  });
});

describe("dedupe: each tier at most once per nudgeDedupe window; a higher tier covers the lower", () => {
  const now = T0 + 5 * HOUR;
  it.each([
    {
      name: "warn 60 min - 1 ms ago suppresses warn",
      due: 20 * MIN,
      last: [nudge("warn", now - HOUR + 1)],
      tiers: [],
      wake: now + 1,
    },
    { name: "warn exactly 60 min ago does not", due: 20 * MIN, last: [nudge("warn", now - HOUR)], tiers: ["warn"] },
    {
      name: "escalate 10 min ago suppresses warn",
      due: 20 * MIN,
      last: [nudge("escalate", now - 10 * MIN)],
      tiers: [],
    },
    {
      name: "forceStop 10 min ago suppresses escalate (Stalled agent)",
      due: 70 * MIN,
      last: [nudge("forceStop", now - 10 * MIN)],
      tiers: [],
      phase: "Stalled" as const,
    },
    {
      name: "warn 10 min ago does not suppress escalate",
      due: 61 * MIN,
      last: [nudge("warn", now - 10 * MIN)],
      tiers: ["escalate"],
    },
    {
      name: "only the latest nudge of a covering tier counts",
      due: 20 * MIN,
      last: [nudge("escalate", now - 3 * HOUR), nudge("warn", now - 2 * HOUR)],
      tiers: ["warn"],
    },
    {
      name: "nudgeDedupe overridden to 30m",
      due: 20 * MIN,
      last: [nudge("warn", now - 30 * MIN)],
      tiers: ["warn"],
      timeouts: { nudgeDedupe: "30m" },
    },
    {
      name: "nudgeDedupe overridden to 30m, 30 min - 1 ms ago",
      due: 20 * MIN,
      last: [nudge("warn", now - 30 * MIN + 1)],
      tiers: [],
      timeouts: { nudgeDedupe: "30m" },
      wake: now + 1,
    },
  ])("$name", ({ due, last, tiers, phase, timeouts, wake }) => {
    const p = planAt(agentAt({ now, activity: now - due, nudges: last, phase, timeouts }), now);
    expect(nudgesOf(p)).toEqual(tiers);
    if (wake !== undefined) expect(p.nextWakeAt).toBe(wake);
  });
});

describe("activity time", () => {
  it.each([
    {
      name: "activity from before the session start counts from the start (at start + 15 min)",
      o: { activity: S - 3 * HOUR, start: S },
      now: S + 15 * MIN,
      tiers: [],
      wake: S + 15 * MIN + 1,
    },
    {
      name: "activity from before the session start counts from the start (at start + 15 min + 1 ms)",
      o: { activity: S - 3 * HOUR, start: S },
      now: S + 15 * MIN + 1,
      tiers: ["warn"],
    },
    {
      name: "no watermark: the lease's renewal is the activity",
      o: { lease: { activityTime: undefined, renewTime: S + MIN } },
      now: S + MIN + 15 * MIN + 1,
      tiers: ["warn"],
    },
    { name: "no lease at all: skipped", o: { lease: null }, now: S + 3 * HOUR, tiers: [] },
    {
      name: "activity in the future (clock skew): skipped",
      o: { activity: S + 5 * HOUR },
      now: S + 3 * HOUR,
      tiers: [],
    },
    {
      name: "non-finite lease times: skipped",
      o: { lease: { activityTime: Number.NaN, renewTime: Number.POSITIVE_INFINITY } },
      now: S + 3 * HOUR,
      tiers: [],
    },
  ])("$name", ({ o, now, tiers, wake }) => {
    const p = planAt(agentAt({ now, ...o }), now);
    expect(nudgesOf(p)).toEqual(tiers);
    if (wake !== undefined) expect(p.nextWakeAt).toBe(wake);
  });

  it("a new dispatch clears Escalated (the next session starts clean)", () => {
    const escalated: Condition = {
      type: "Escalated",
      status: "True",
      reason: "NudgeEscalate",
      message: "old",
      lastTransitionTime: iso(T0),
    };
    const p = planAt(
      {
        beads: [issue("x")],
        agents: [
          polecat(TOAST, { status: { phase: "Idle", session: 1, idleSince: iso(T0), conditions: [escalated] } }),
        ],
      },
      T0 + HOUR,
    );
    expect(ofType(p, "StartSession")).toHaveLength(1);
    expect(conditionsOf(p, "Agent", TOAST).Escalated).toBeUndefined();
  });
});

describe("inactiveFor: defence in depth behind the snapshot's sanitising", () => {
  // buildSnapshot already makes non-finite lease times unknown; a view that got a NaN or a time
  // from the future past it anyway must still read as unknown, never as a number to compare.
  const draftWith = (l: Partial<LeaseObservation>, now: number) => {
    const snap = snapshotOf(agentAt({ now }));
    const leases = new Map(snap.leases);
    leases.set(TOAST, { ...(snap.leases.get(TOAST) as LeaseObservation), ...l });
    const d = new Draft({ ...snap, leases }, now);
    return { d, agent: d.agent(TOAST) as NonNullable<ReturnType<Draft["agent"]>> };
  };

  it.each([
    { name: "NaN activity", l: { activityTime: Number.NaN } },
    { name: "NaN renewal, no watermark", l: { activityTime: undefined, renewTime: Number.NaN } },
    { name: "activity in the future", l: { activityTime: S + 5 * HOUR } },
  ])("$name: unknown", ({ l }) => {
    const { d, agent } = draftWith(l, S + 3 * HOUR);
    expect(inactiveFor(d, agent)).toBeUndefined();
  });

  it("a finite past activity: the elapsed time", () => {
    const { d, agent } = draftWith({ activityTime: A }, A + 20 * MIN);
    expect(inactiveFor(d, agent)).toBe(20 * MIN);
  });
});
