// status-patch.ts: the difference of two domain states as a JSON merge patch — changed fields
// only, removed fields as null, times as RFC 3339, nested objects compared by value.
import { describe, expect, it } from "vitest";
import { beadState, type ConvoyState, type ReportState } from "../../../../src/core/snapshot.ts";
import {
  agentStatusPatch,
  beadStatusPatch,
  convoyStatusPatch,
  isEmptyPatch,
  reportStatusPatch,
} from "../../../../src/core/status-patch.ts";
import { iso, MIN, T0 } from "../builders.ts";

const written = beadState({ phase: "InProgress", lastPhaseTransitionTime: iso(T0), assignee: "toast" }, T0);

describe("beadStatusPatch", () => {
  it.each([
    { name: "no change", change: {}, patch: {} },
    { name: "a plain field", change: { phase: "Open" as const }, patch: { phase: "Open" } },
    { name: "a removed field becomes null", change: { assignee: undefined }, patch: { assignee: null } },
    {
      name: "times are RFC 3339 under their API names",
      change: { phaseSince: T0 + MIN, lastDispatch: T0 },
      patch: { lastPhaseTransitionTime: iso(T0 + MIN), lastDispatchTime: iso(T0) },
    },
    { name: "attempts are dispatchAttempts", change: { attempts: 2 }, patch: { dispatchAttempts: 2 } },
    {
      name: "equal conditions in a new array are no change",
      change: { conditions: [] },
      patch: {},
    },
  ])("$name", ({ change, patch }) => {
    expect(beadStatusPatch(written, { ...written, ...change })).toEqual(patch);
  });

  it("a bead whose status was never written gets phase and its transition time even when unchanged", () => {
    const fresh = beadState(undefined, T0);
    expect(fresh).toMatchObject({ phase: "Open", phaseSince: T0, fresh: true, attempts: 0 });
    expect(beadStatusPatch(fresh, fresh)).toEqual({ phase: "Open", lastPhaseTransitionTime: iso(T0) });
  });
});

describe("agentStatusPatch", () => {
  it("nested times (lastSessionExit, nudges) are formatted; unchanged nested values are skipped", () => {
    const before = { phase: "Working" as const, session: 1, nudges: [], conditions: [] };
    const after = {
      ...before,
      phase: "Idle" as const,
      lastSessionExit: { session: 1, exitCode: undefined, reason: "lost", time: T0 },
    };
    expect(agentStatusPatch(before, after)).toEqual({
      phase: "Idle",
      lastSessionExit: { session: 1, reason: "lost", time: iso(T0) },
    });
    expect(agentStatusPatch(after, { ...after, lastSessionExit: { ...after.lastSessionExit } })).toEqual({});
    expect(agentStatusPatch(after, { ...after, lastSessionExit: undefined })).toEqual({ lastSessionExit: null });
  });
});

describe("beadStatusPatch of the failure-path fields", () => {
  it("hold and checkpoint times are formatted; a cleared hold is sent as null", () => {
    const before = beadState({ phase: "Open" }, T0);
    const held = {
      ...before,
      hold: { reason: "HungAgent", message: "m", since: T0 + 1 },
      checkpoint: { data: "d", agent: "a", session: 2, time: T0 + 2 },
      forceStops: 2,
    };
    expect(beadStatusPatch(before, held)).toEqual({
      hold: { reason: "HungAgent", message: "m", since: iso(T0 + 1) },
      checkpoint: { data: "d", agent: "a", session: 2, time: iso(T0 + 2) },
      forceStops: 2,
    });
    expect(beadStatusPatch(held, { ...held, hold: undefined })).toEqual({ hold: null });
  });
});

describe("reportStatusPatch and convoyStatusPatch", () => {
  it("report outcome, processedAt and a cleared error", () => {
    const before: ReportState = { attempts: 1, error: "boom" };
    expect(reportStatusPatch(before, { ...before, outcome: "Applied", processedAt: T0, error: undefined })).toEqual({
      outcome: "Applied",
      processedAt: iso(T0),
      error: null,
    });
  });

  it("a convoy's landing.landedAt is formatted, progress compared by value", () => {
    const before: ConvoyState = {
      phase: "Landing",
      progress: { closed: 1, failed: 0, total: 1, summary: "1/1" },
      retry: 0,
      conditions: [],
    };
    const after: ConvoyState = {
      ...before,
      phase: "Landed",
      progress: { closed: 1, failed: 0, total: 1, summary: "1/1" },
      landing: { attempts: 1, bead: "c-landing-1", landedAt: T0 },
    };
    expect(convoyStatusPatch(before, after)).toEqual({
      phase: "Landed",
      landing: { attempts: 1, bead: "c-landing-1", landedAt: iso(T0) },
    });
  });
});

describe("isEmptyPatch", () => {
  it.each([
    [{}, true],
    [{ phase: "Open" }, false],
    [{ assignee: null }, false],
  ])("%j → %s", (patch, empty) => {
    expect(isEmptyPatch(patch)).toBe(empty);
  });
});
