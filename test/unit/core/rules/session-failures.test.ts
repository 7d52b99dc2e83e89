// Sessions that cannot start, said at once (issue 9): transient failures fail the attempt with the
// normal back-off; configuration errors hold the work, not charged, tried again by themselves and
// at once when the Town's spec changes; the Town says what to fix.
import { describe, expect, it } from "vitest";
import type { Bead } from "../../../../src/api/bead.ts";
import type { Escalation } from "../../../../src/api/town.ts";
import { sessionFailure } from "../../../../src/core/rules/session-failures.ts";
import type { SessionObservation } from "../../../../src/core/snapshot.ts";
import {
  agentStatus,
  beadStatus,
  conditionsOf,
  type Fixture,
  iso,
  issue,
  lease,
  MIN,
  ofType,
  planAt,
  pod,
  polecat,
  report,
  SEC,
  T0,
  town,
  townStatus,
  workingStatus,
} from "../builders.ts";

const TOAST = "gt-app-toast";
const POD = `${TOAST}-1`;
const START = T0;
const NOW = T0 + 5 * SEC; // long before any heartbeat deadline

function starting(session: Partial<SessionObservation>, extra: Fixture = {}): Fixture {
  return {
    town: extra.town ?? town(),
    beads: [
      issue("x", {
        phase: "InProgress",
        assignee: TOAST,
        attempts: 1,
        since: START,
        status: { lastDispatchTime: iso(START) },
      }),
    ],
    agents: [polecat(TOAST, { hook: "x", status: workingStatus(TOAST, "x", { start: START }) })],
    sessions: [pod(TOAST, 1, { bead: "x", phase: "Pending", created: START, ...session })],
    ...(extra.leases ? { leases: extra.leases } : {}),
  };
}

const SECRET = { reason: "CreateContainerConfigError", message: 'secret "model-key" not found' };

describe("classification", () => {
  it.each([
    { name: "a missing Secret", s: { waiting: SECRET }, reason: "CreateContainerConfigError", config: true },
    {
      name: "an invalid image name",
      s: { waiting: { reason: "InvalidImageName", message: 'invalid image name "Bad:Name"' } },
      reason: "InvalidImageName",
      config: true,
    },
    {
      name: "a pull that may recover",
      s: { waiting: { reason: "ErrImagePull", message: "not found" } },
      reason: "ErrImagePull",
      config: false,
    },
    {
      name: "a pull in back-off",
      s: { waiting: { reason: "ImagePullBackOff", message: "Back-off pulling image" } },
      reason: "ImagePullBackOff",
      config: false,
    },
    {
      name: "no node fits yet",
      s: { unschedulable: "0/2 nodes are available: 2 Insufficient cpu." },
      reason: "Unschedulable",
      config: false,
    },
    {
      name: "a pod the quota refuses",
      s: { phase: "Failed" as const, refused: { code: 403, reason: "Forbidden", message: "exceeded quota: q" } },
      reason: "Forbidden",
      config: true,
    },
    {
      name: "gt run's git credentials failed",
      s: {
        phase: "Failed" as const,
        termination: { reason: "GitAuthFailed", kind: "Configuration" as const, message: "Authentication failed" },
      },
      reason: "GitAuthFailed",
      config: true,
    },
    {
      name: "gt run's network blip",
      s: {
        phase: "Failed" as const,
        termination: { reason: "GitFetchFailed", kind: "Transient" as const, message: "Connection reset" },
      },
      reason: "GitFetchFailed",
      config: false,
    },
    {
      name: "a reason that is no CamelCase word",
      s: {
        phase: "Failed" as const,
        termination: { reason: "git: oops", kind: "Transient" as const, message: "m" },
      },
      reason: "SessionFailed",
      config: false,
    },
  ])("$name: $reason, configuration=$config", ({ s, reason, config }) => {
    expect(sessionFailure(pod(TOAST, 1, { phase: "Pending", ...s }))).toMatchObject({ reason, configuration: config });
  });

  it("a running session, or one that merely exited, has no failure to classify", () => {
    expect(sessionFailure(pod(TOAST, 1))).toBeUndefined();
    expect(sessionFailure(pod(TOAST, 1, { phase: "Failed", exitCode: 1 }))).toBeUndefined();
    expect(sessionFailure(pod(TOAST, 1, { phase: "Running", unschedulable: "x" }))).toBeUndefined();
  });
});

describe("a transient failure fails the attempt at once", () => {
  it("ErrImagePull: session stopped, bead Open for its retry, agent Idle saying why, a failed session counted", () => {
    const p = planAt(starting({ waiting: { reason: "ErrImagePull", message: 'pull "agent:9" failed' } }), NOW);
    expect(ofType(p, "StopSession")).toMatchObject([{ pod: POD, why: { reason: "ErrImagePull", warning: true } }]);
    expect(beadStatus(p, "x")).toMatchObject({
      phase: "Open",
      reason: "ErrImagePull",
      lastFailure: { reason: "ErrImagePull", message: 'pull "agent:9" failed' },
    });
    expect(beadStatus(p, "x")?.assignee).toBeUndefined(); // kept: the retry rule redoes it
    expect(agentStatus(p, TOAST)).toMatchObject({
      phase: "Idle",
      lastSessionExit: { session: 1, reason: 'ErrImagePull: pull "agent:9" failed' },
    });
    expect(conditionsOf(p, "Agent", TOAST).SessionFailed).toMatchObject({ status: "True", reason: "ErrImagePull" });
    expect(conditionsOf(p, "Bead", "x").Ready).toMatchObject({ reason: "WaitingForRetry" });
    expect(conditionsOf(p, "Bead", "x").Ready?.message).toContain('ErrImagePull: pull "agent:9" failed');
    expect(
      (townStatus(p) as { circuitBreaker?: { recentFailures: unknown[] } }).circuitBreaker?.recentFailures,
    ).toHaveLength(1);
    // Retried by itself: not ready, but not stalled either (kstatus: in progress).
    expect(conditionsOf(p, "Town").Ready).toMatchObject({ status: "False", reason: "AgentsCannotStart" });
    expect(conditionsOf(p, "Town").Stalled).toBeUndefined();
  });
});

describe("a configuration error holds the work, not charged", () => {
  const held = () => planAt(starting({ waiting: SECRET }), NOW);

  it("the bead is held with the original message, its attempt refunded, the agent released", () => {
    const p = held();
    expect(beadStatus(p, "x")).toMatchObject({
      phase: "Open",
      assignee: null,
      dispatchAttempts: 0,
      configurationProbes: 1,
      hold: { reason: "SessionCannotStart", probeAt: iso(NOW + MIN), townGeneration: 1 },
    });
    const hold = beadStatus(p, "x")?.hold as { message?: string } | undefined;
    expect(String(hold?.message)).toContain('CreateContainerConfigError: secret "model-key" not found');
    expect(ofType(p, "SetHook")).toMatchObject([{ agent: TOAST, hook: null }]);
    expect(conditionsOf(p, "Bead", "x").Stalled).toMatchObject({ status: "True", reason: "SessionCannotStart" });
    expect(conditionsOf(p, "Town").Ready).toMatchObject({ status: "False", reason: "AgentsCannotStart" });
    expect(conditionsOf(p, "Town").Ready?.message).toContain('secret "model-key" not found (x)');
    // Only a fix makes progress: Stalled, so that kstatus (Flux) shows the Town Failed.
    expect(conditionsOf(p, "Town").Stalled).toMatchObject({ status: "True", reason: "AgentsCannotStart" });
    expect((townStatus(p) as { escalations?: Escalation[] }).escalations?.map((e) => e.id)).toEqual([
      "agents-cannot-start-create-container-config-error",
    ]);
    // Not a failed session: a missing Secret is not the agents' fault and must not trip the breaker.
    expect((townStatus(p) as { circuitBreaker?: unknown }).circuitBreaker).toBeUndefined();
  });

  function heldBead(probes: number, probeAt: number | undefined, townGeneration = 1): Bead {
    return issue("x", {
      phase: "Open",
      since: NOW,
      status: {
        dispatchAttempts: 0,
        configurationProbes: probes,
        hold: {
          reason: "SessionCannotStart",
          message: "CreateContainerConfigError: secret missing; tried again",
          since: iso(NOW),
          ...(probeAt === undefined ? {} : { probeAt: iso(probeAt) }),
          townGeneration,
        },
      },
    });
  }

  it("tried again at probeAt, at once and not charged to a back-off", () => {
    const before = planAt({ beads: [heldBead(1, NOW + MIN)] }, NOW + MIN - 1);
    expect(ofType(before, "StartSession")).toEqual([]);
    expect(before.nextWakeAt).toBe(NOW + MIN);
    const p = planAt({ beads: [heldBead(1, NOW + MIN)] }, NOW + MIN);
    expect(ofType(p, "StartSession").map((a) => a.bead)).toEqual(["x"]);
    expect(beadStatus(p, "x")).toMatchObject({ hold: null, phase: "InProgress", dispatchAttempts: 1 });
  });

  it("tried again at once when the Town's spec changed (the Secret named, the image fixed)", () => {
    const fixed = town();
    fixed.metadata.generation = 2;
    const p = planAt({ town: fixed, beads: [heldBead(3, NOW + HOUR)] }, NOW);
    expect(ofType(p, "StartSession").map((a) => a.bead)).toEqual(["x"]);
  });

  it("the probe interval doubles up to ten times configurationProbe", () => {
    for (const [probes, wait] of [
      [1, MIN],
      [2, 2 * MIN],
      [4, 8 * MIN],
      [5, 10 * MIN],
      [9, 10 * MIN],
    ] as const) {
      const f = starting({ waiting: SECRET });
      const [x] = f.beads as Bead[];
      f.beads = [{ ...(x as Bead), status: { ...(x as Bead).status, configurationProbes: probes - 1 } }];
      expect(beadStatus(planAt(f, NOW), "x")?.hold).toMatchObject({ probeAt: iso(NOW + wait) });
    }
  });

  it("after limits.maxConfigurationProbes it is no longer tried by itself, and says so", () => {
    const f = starting({ waiting: SECRET }, { town: town({ limits: { maxConfigurationProbes: 2 } }) });
    const [x] = f.beads as Bead[];
    f.beads = [{ ...(x as Bead), status: { ...(x as Bead).status, configurationProbes: 2 } }];
    const hold = beadStatus(planAt(f, NOW), "x")?.hold as { probeAt?: string; message: string };
    expect(hold.probeAt).toBeUndefined();
    expect(hold.message).toContain("tried 2 times (limits.maxConfigurationProbes)");
    expect(ofType(planAt({ beads: [heldBead(3, undefined)] }, NOW + 24 * HOUR), "StartSession")).toEqual([]);
  });

  function runningAfterProbes(leaseOpts: Parameters<typeof lease>[1], extra: Fixture = {}): Fixture {
    const f = starting({ phase: "Running", started: START }, { leases: [lease(TOAST, leaseOpts)], ...extra });
    const [x] = f.beads as Bead[];
    f.beads = [
      {
        ...(x as Bead),
        status: {
          ...(x as Bead).status,
          configurationProbes: 3,
          lastFailure: { reason: "ModelAuthFailed", message: "401", time: iso(START) },
        },
      },
    ];
    const [a] = f.agents ?? [];
    if (a?.status)
      a.status.conditions = [
        {
          type: "SessionFailed",
          status: "True",
          reason: "CreateContainerConfigError",
          message: "m",
          lastTransitionTime: iso(T0),
        },
      ];
    return { ...f, ...(extra.reports ? { reports: extra.reports } : {}) };
  }

  it("a session that starts (renews its Lease) clears the failure and SessionFailed, but keeps the probe count", () => {
    // A model key the provider refuses: the session renews its Lease, then fails with a 401. A reset
    // here would probe such a hold every configurationProbe forever.
    const p = planAt(runningAfterProbes({ renewTime: NOW }), NOW);
    expect(beadStatus(p, "x")?.lastFailure).toBeNull();
    expect(beadStatus(p, "x")?.configurationProbes ?? 3).toBe(3);
    expect(conditionsOf(p, "Agent", TOAST).SessionFailed).toBeUndefined();
  });

  it("a session that works (the model answered: output tokens on its Lease) starts the probes over", () => {
    const usage = { inputTokens: 10, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0, costUSD: 0 };
    const p = planAt(runningAfterProbes({ renewTime: NOW, usage }), NOW);
    expect(beadStatus(p, "x")).toMatchObject({ configurationProbes: 0 });
  });

  it("a session that works (a report of it applies) starts the probes over", () => {
    const checkpoint = report("r1", { agent: TOAST, bead: "x", type: "Checkpoint", data: "half way" });
    const p = planAt(runningAfterProbes({ renewTime: NOW }, { reports: [checkpoint] }), NOW);
    expect(beadStatus(p, "x")).toMatchObject({ configurationProbes: 0 });
  });

  it("a configuration failure after the session started is still bounded by maxConfigurationProbes", () => {
    // Plan 1: the probed session starts and renews its Lease. Plan 2: it fails with a 401.
    const started = runningAfterProbes({ renewTime: START + SEC });
    const probes = beadStatus(planAt(started, START + SEC), "x")?.configurationProbes ?? 3;
    const [x] = started.beads as Bead[];
    const f: Fixture = {
      ...started,
      town: town({ limits: { maxConfigurationProbes: 3 } }),
      beads: [{ ...(x as Bead), status: { ...(x as Bead).status, configurationProbes: probes as number } }],
      sessions: [
        pod(TOAST, 1, {
          bead: "x",
          phase: "Failed",
          created: START,
          started: START,
          termination: { reason: "ModelAuthFailed", kind: "Configuration", message: "401 invalid x-api-key" },
        }),
      ],
    };
    const hold = beadStatus(planAt(f, NOW), "x")?.hold as { probeAt?: string; message: string };
    expect(hold.probeAt).toBeUndefined();
    expect(hold.message).toContain("tried 3 times (limits.maxConfigurationProbes)");
  });
});

const HOUR = 60 * MIN;
