// §5.7 Garbage collection: idle agents after agentGC, finished session pods after podRetention
// (the newest per agent kept), processed reports after reportRetention (poisoned ones kept).
import { describe, expect, it } from "vitest";
import type { Agent } from "../../../../src/api/agent.ts";
import type { AgentReport } from "../../../../src/api/agent-report.ts";
import {
  effects,
  type Fixture,
  HOUR,
  iso,
  issue,
  MIN,
  ofType,
  planAt,
  pod,
  polecat,
  reasons,
  refinery,
  report,
  T0,
  town,
  workingStatus,
} from "../builders.ts";

const TOAST = "gt-app-toast";
const I = T0 + HOUR;

describe("idle agents are deleted after agentGC (24 h)", () => {
  const idle = (agent: Agent, timeouts?: Record<string, string>): Fixture => ({
    town: town({ timeouts }),
    agents: [agent],
  });
  it.each([
    {
      name: "an idle polecat",
      fixture: idle(polecat(TOAST, { status: { phase: "Idle", session: 1, idleSince: iso(I) } })),
      since: I,
      d: 24 * HOUR,
    },
    {
      name: "an idle refinery",
      fixture: idle(refinery({ status: { phase: "Idle", session: 1, idleSince: iso(I) } })),
      since: I,
      d: 24 * HOUR,
    },
    {
      name: "an agent that never worked: from its creation",
      fixture: idle(polecat(TOAST, { created: T0, status: { phase: "Idle", session: 0, idleSince: undefined } })),
      since: T0,
      d: 24 * HOUR,
    },
    {
      name: "agentGC overridden to 1h",
      fixture: idle(polecat(TOAST, { status: { phase: "Idle", session: 1, idleSince: iso(I) } }), { agentGC: "1h" }),
      since: I,
      d: HOUR,
    },
  ])("$name: kept at idle + d (wakes 1 ms later), deleted at idle + d + 1", ({ fixture, since, d }) => {
    const at = planAt(fixture, since + d);
    expect(effects(at)).toEqual([]);
    expect(at.nextWakeAt).toBe(since + d + 1);
    const agent = fixture.agents?.[0] as Agent;
    expect(effects(planAt(fixture, since + d + 1))).toEqual([
      {
        type: "DeleteAgent",
        name: agent.metadata.name,
        uid: agent.metadata.uid,
        resourceVersion: agent.metadata.resourceVersion,
        why: {
          reason: "AgentCollected",
          message: `${agent.metadata.name} was idle for more than ${d / HOUR} h`,
        },
      },
    ]);
  });

  it.each([
    {
      name: "hooked",
      fixture: {
        beads: [issue("x", { phase: "Open", assignee: TOAST, attempts: 1, since: I + 48 * HOUR })],
        agents: [polecat(TOAST, { hook: "x", status: { phase: "Idle", session: 1, idleSince: iso(I) } })],
      },
    },
    {
      name: "Working",
      fixture: {
        beads: [issue("x", { phase: "InProgress", assignee: TOAST, since: I })],
        agents: [polecat(TOAST, { hook: "x", status: workingStatus(TOAST, "x", { start: I + 48 * HOUR }) })],
        sessions: [pod(TOAST, 1, { bead: "x", created: I + 48 * HOUR })],
      },
    },
    {
      name: "still running a session",
      fixture: {
        agents: [polecat(TOAST, { status: { phase: "Idle", session: 1, idleSince: iso(I + 48 * HOUR) } })],
        sessions: [pod(TOAST, 1, { bead: "x", created: I })],
      },
    },
    {
      name: "being deleted",
      fixture: {
        agents: [polecat(TOAST, { deleting: true, status: { phase: "Idle", session: 1, idleSince: iso(I) } })],
      },
    },
  ])("an agent $name is kept", ({ fixture }) => {
    expect(ofType(planAt(fixture as Fixture, I + 48 * HOUR), "DeleteAgent")).toEqual([]);
  });
});

describe("finished session pods are deleted after podRetention (1 h); the newest per agent is kept", () => {
  const F1 = I;
  const F2 = I + 10 * MIN;
  const NOW0 = I + 5 * HOUR; // the agent went idle recently: it is not collected
  const pods = (timeouts?: Record<string, string>): Fixture => ({
    town: town({ timeouts }),
    agents: [polecat(TOAST, { status: { phase: "Idle", session: 3, idleSince: iso(NOW0) } })],
    sessions: [
      pod(TOAST, 1, { phase: "Succeeded", exitCode: 0, finished: F1 }),
      pod(TOAST, 2, { phase: "Failed", exitCode: 1, finished: F2 }),
      pod(TOAST, 3, { phase: "Succeeded", exitCode: 0, finished: F1 - HOUR }),
    ],
  });
  const collected = (p: ReturnType<typeof planAt>) =>
    ofType(p, "StopSession")
      .filter((a) => a.why.reason === "SessionCollected")
      .map((a) => a.pod);

  it.each([
    { now: F1 + HOUR, pods: [], wake: F1 + HOUR + 1 },
    { now: F1 + HOUR + 1, pods: [`${TOAST}-1`], wake: F2 + HOUR + 1 },
    { now: F2 + HOUR, pods: [`${TOAST}-1`], wake: F2 + HOUR + 1 },
    { now: F2 + HOUR + 1, pods: [`${TOAST}-1`, `${TOAST}-2`] },
  ])("at $now: collects $pods", ({ now, pods: expected, wake }) => {
    const f = pods();
    const p = planAt(
      { ...f, agents: [polecat(TOAST, { status: { phase: "Idle", session: 3, idleSince: iso(now) } })] },
      now,
    );
    expect(collected(p)).toEqual(expected);
    if (wake !== undefined) expect(p.nextWakeAt).toBe(wake);
  });

  it("the stop carries why", () => {
    const p = planAt(pods(), NOW0);
    expect(ofType(p, "StopSession")[0]).toEqual({
      type: "StopSession",
      agent: TOAST,
      pod: `${TOAST}-1`,
      why: { reason: "SessionCollected", message: `${TOAST}-1 finished more than 60 min ago` },
    });
  });

  it("podRetention can be overridden", () => {
    const p = planAt(pods({ podRetention: "10m" }), F1 + 10 * MIN + 1);
    expect(collected(p)).toEqual([`${TOAST}-1`]);
  });

  it("a finished pod without a finish time counts from its creation; terminating and live pods are skipped", () => {
    const now = I + 5 * HOUR;
    const p = planAt(
      {
        agents: [polecat(TOAST, { status: { phase: "Idle", session: 4, idleSince: iso(now) } })],
        sessions: [
          pod(TOAST, 1, { phase: "Succeeded", created: now - HOUR - 1 }),
          pod(TOAST, 2, { phase: "Failed", finished: I, deleting: true }),
          pod(TOAST, 3, { phase: "Running" }),
          pod(TOAST, 4, { phase: "Succeeded", finished: I }),
        ],
      },
      now,
    );
    expect(collected(p)).toEqual([`${TOAST}-1`]);
    // The live, older pod is stopped by the session rules, not collected.
    expect(reasons(p, TOAST)).toContain("SessionSuperseded");
  });

  it("a single finished pod is the newest and is kept however old", () => {
    const now = I + 100 * HOUR;
    const p = planAt(
      {
        agents: [polecat(TOAST, { status: { phase: "Idle", session: 1, idleSince: iso(now) } })],
        sessions: [pod(TOAST, 1, { phase: "Succeeded", finished: I })],
      },
      now,
    );
    expect(collected(p)).toEqual([]);
  });
});

describe("processed reports are deleted after reportRetention (24 h); poisoned ones are kept", () => {
  const Q = I;
  const processed = (outcome: "Applied" | "Rejected" | "Poisoned", processedAt?: number): AgentReport =>
    report(
      "r",
      { agent: TOAST, bead: "x", type: "Done" },
      {
        created: T0,
        status: { outcome, ...(processedAt === undefined ? {} : { processedAt: iso(processedAt) }) },
      },
    );

  it.each([
    { name: "Applied", r: processed("Applied", Q), since: Q },
    { name: "Rejected", r: processed("Rejected", Q), since: Q },
    { name: "without processedAt: from creation", r: processed("Applied"), since: T0 },
  ])("$name: kept at processed + 24 h (wakes 1 ms later), deleted 1 ms later", ({ r, since }) => {
    const at = planAt({ reports: [r] }, since + 24 * HOUR);
    expect(effects(at)).toEqual([]);
    expect(at.nextWakeAt).toBe(since + 24 * HOUR + 1);
    expect(effects(planAt({ reports: [r] }, since + 24 * HOUR + 1))).toEqual([
      { type: "DeleteReport", name: "r", why: { reason: "ReportCollected", message: "r processed long ago" } },
    ]);
  });

  it("reportRetention can be overridden", () => {
    const f = { town: town({ timeouts: { reportRetention: "1h" } }), reports: [processed("Applied", Q)] };
    expect(ofType(planAt(f, Q + HOUR), "DeleteReport")).toEqual([]);
    expect(ofType(planAt(f, Q + HOUR + 1), "DeleteReport")).toHaveLength(1);
  });

  it("a poisoned report is kept forever", () => {
    const p = planAt({ reports: [processed("Poisoned", Q)] }, Q + 1000 * HOUR);
    expect(ofType(p, "DeleteReport")).toEqual([]);
    expect(p.nextWakeAt).toBeUndefined();
  });
});
