// What each action writes, and where it refuses because the operator would ignore the write (or
// undo it at once). The writes themselves, and what the operator then does, are shown against the
// real control plane in test/integration/cli/actions.test.ts.
import { describe, expect, it } from "vitest";
import type { Bead } from "../../../src/api/bead.ts";
import type { Convoy } from "../../../src/api/convoy.ts";
import type { Town } from "../../../src/api/town.ts";
import { decideBeadCancel, decideConvoyCancel } from "../../../src/cli/actions/cancel.ts";
import { nudgeId, nudgeResult } from "../../../src/cli/actions/nudge.ts";
import { decideBeadRetry, decideConvoyRetry } from "../../../src/cli/actions/retry.ts";
import { decideAck, decideBreakerReset, MAX_ACKNOWLEDGED } from "../../../src/cli/actions/town.ts";
import { agents, at, beads, convoy, NOW, town } from "./fixtures.ts";

const bead = (name: string) => structuredClone(beads().find((b) => b.metadata.name === name)!);
const failed = (): Bead => bead("fix-typo");

function refusal(f: () => unknown): { message: string; hint?: string } {
  try {
    f();
  } catch (e) {
    return { message: (e as Error).message, hint: (e as { hint?: string }).hint };
  }
  throw new Error("expected a refusal");
}

describe("retry of a bead", () => {
  it("raises spec.retry by one for a Failed bead, and for a held one", () => {
    expect(decideBeadRetry(failed())).toEqual({
      spec: { retry: 1 },
      result:
        "bead/fix-typo retry requested (spec.retry=1): the operator reopens it with fresh budgets and dispatches it again (it was Failed: MaxDispatchAttempts)",
    });
    const again = failed();
    again.spec.retry = 2;
    again.status!.retry = 2;
    expect(decideBeadRetry(again).spec).toEqual({ retry: 3 });
    expect(decideBeadRetry(bead("migrate")).result).toMatch(/spec\.retry=1\).*\(it was held: HungAgent\)$/);
  });

  it("writes nothing while a raise is still waiting for the operator", () => {
    const b = failed();
    b.spec.retry = 2;
    b.status!.retry = 1;
    expect(decideBeadRetry(b)).toEqual({
      result:
        "bead/fix-typo unchanged: a retry is already requested (spec.retry=2) and the operator has not acted on it yet",
    });
  });

  it("refuses work that is not Failed or held, merge requests and landings, and cancelled work", () => {
    expect(refusal(() => decideBeadRetry(bead("signup-api")))).toEqual({
      message: "bead/signup-api is InProgress, not Failed or held: the operator would ignore a retry",
      hint: "it is still in the operator's hands; kubectl gt status shows why it waits",
    });
    expect(refusal(() => decideBeadRetry(bead("signup-schema"))).hint).toBe(
      "it was merged; for more work: kubectl gt sling",
    );
    expect(refusal(() => decideBeadRetry(bead("signup-ui-mr-1")))).toEqual({
      message: "bead/signup-ui-mr-1 is a merge request of signup-ui: a merge request is redone with its issue",
      hint: "kubectl gt retry signup-ui",
    });
    const landing = bead("signup-ui-mr-1");
    landing.spec.source = { kind: "Convoy", name: "signup" };
    expect(refusal(() => decideBeadRetry(landing)).hint).toBe("kubectl gt retry convoy/signup");
    const cancelled = failed();
    cancelled.spec.cancel = true;
    expect(refusal(() => decideBeadRetry(cancelled))).toEqual({
      message: "bead/fix-typo was cancelled (spec.cancel=true): the operator ignores a retry of a cancelled bead",
      hint: `take the cancel back and retry in one edit: kubectl patch bead fix-typo --type=merge -p '{"spec":{"cancel":false,"retry":1}}'`,
    });
  });

  it("refuses a task its convoy cancelled while the convoy stays cancelled", () => {
    const task = bead("signup-api");
    task.status = { phase: "Failed", resolution: "Cancelled", reason: "ConvoyCancelled", conditions: [] };
    const c = convoy();
    c.spec.cancel = true;
    expect(refusal(() => decideBeadRetry(task, c))).toEqual({
      message: "bead/signup-api was cancelled with convoy signup: a retry would be cancelled again",
      hint: `take the convoy's cancel back and retry it in one edit: kubectl patch convoy signup --type=merge -p '{"spec":{"cancel":false,"retry":1}}'`,
    });
    c.spec.cancel = false;
    expect(decideBeadRetry(task, c).spec).toEqual({ retry: 1 });
    task.status.reason = "TaskRemoved";
    expect(refusal(() => decideBeadRetry(task, c)).message).toBe(
      "bead/signup-api was cancelled when its task was removed from convoy signup: a retry would be cancelled again",
    );
  });
});

describe("retry of a convoy", () => {
  const withTasks = (phases: Record<string, Partial<NonNullable<Bead["status"]>>>): Bead[] =>
    beads().map((b) => {
      const p = phases[b.metadata.name];
      return p ? { ...b, status: { conditions: [], ...p } as Bead["status"] } : b;
    });

  it("names the Failed and held tasks it retries", () => {
    const list = withTasks({
      "signup-api": { phase: "Failed", resolution: "MaxReviewCycles" },
      "signup-release": { phase: "Open", hold: { reason: "HungAgent", message: "m", since: at(5) } },
    });
    expect(decideConvoyRetry(convoy(), list)).toEqual({
      spec: { retry: 1 },
      result:
        "convoy/signup retry requested (spec.retry=1): the operator retries signup-api, signup-release and resets its landing attempts",
    });
  });

  it("retries a Failed convoy's landing even with no failed task", () => {
    const c = convoy();
    c.status!.phase = "Failed";
    c.spec.retry = 1;
    c.status!.retry = 1;
    expect(decideConvoyRetry(c, beads())).toEqual({
      spec: { retry: 2 },
      result: "convoy/signup retry requested (spec.retry=2): the operator resets its landing attempts",
    });
  });

  it("refuses a convoy with nothing to retry, and a cancelled one", () => {
    expect(refusal(() => decideConvoyRetry(convoy(), beads()))).toEqual({
      message: "convoy/signup is Active with no Failed or held task: nothing to retry",
      hint: "kubectl gt convoy signup shows where it is",
    });
    const c = convoy();
    c.spec.cancel = true;
    expect(refusal(() => decideConvoyRetry(c, beads())).message).toBe(
      "convoy/signup is cancelled (spec.cancel=true): the operator ignores a retry of a cancelled convoy",
    );
    const allCancelled = beads().map((b) =>
      b.spec.convoy === "signup" ? { ...b, spec: { ...b.spec, cancel: true } } : b,
    );
    const failedConvoy: Convoy = { ...convoy(), status: { ...convoy().status!, phase: "Failed" } };
    expect(refusal(() => decideConvoyRetry(failedConvoy, allCancelled)).message).toBe(
      "every task of convoy/signup was cancelled by its own spec.cancel: nothing to retry",
    );
  });
});

describe("cancel", () => {
  it("cancels live work once, and refuses finished work", () => {
    expect(decideBeadCancel(bead("signup-api")).spec).toEqual({ cancel: true });
    expect(refusal(() => decideBeadCancel(failed()))).toEqual({
      message: "bead/fix-typo is already Failed: there is nothing left to cancel",
      hint: "to run it again instead: kubectl gt retry fix-typo",
    });
    expect(decideConvoyCancel(convoy())).toEqual({
      spec: { cancel: true },
      result:
        "convoy/signup cancelled (spec.cancel=true): the operator stops its sessions, fails its unfinished tasks, merge requests and landing (ConvoyCancelled), and the convoy becomes Failed",
    });
    const landed = convoy();
    landed.status!.phase = "Landed";
    expect(refusal(() => decideConvoyCancel(landed)).message).toBe(
      "convoy/signup has Landed: there is nothing left to cancel",
    );
    landed.spec.cancel = true;
    expect(decideConvoyCancel(landed)).toEqual({
      result: "convoy/signup unchanged: spec.cancel is already true (Landed)",
    });
  });
});

describe("ack", () => {
  it("adds the id to spec.acknowledgedEscalations, keeping the ids already there", () => {
    expect(decideAck(town(), "hung-agent-migrate")).toEqual({
      spec: { acknowledgedEscalations: ["agent-escalated-demo-app-maple-tidy", "hung-agent-migrate"] },
      result:
        "escalation hung-agent-migrate acknowledged on town/demo (spec.acknowledgedEscalations): it is not raised again; 2 still open",
    });
  });

  it("says when the last open one is acknowledged, and changes nothing for one already acknowledged", () => {
    const t = town();
    t.status!.escalations = t.status!.escalations!.filter((e) => e.id === "hung-agent-migrate" || e.acknowledged);
    expect(decideAck(t, "hung-agent-migrate").result).toMatch(
      /: it is not raised again; it was the last open one, so the town's Escalated condition clears$/,
    );
    expect(decideAck(t, "agent-escalated-demo-app-maple-tidy")).toEqual({
      result: "escalation agent-escalated-demo-app-maple-tidy unchanged: already acknowledged on town/demo",
    });
  });

  it("refuses an id the town does not list, naming the open ones", () => {
    expect(refusal(() => decideAck(town(), "nope"))).toEqual({
      message: 'town/demo has no escalation "nope"',
      hint: "open escalations: hung-agent-migrate, max-dispatch-attempts-fix-typo, nudge-escalate-signup-api",
    });
  });

  it("makes room in a full list by forgetting ids of resolved escalations first", () => {
    const t: Town = town();
    const stale = Array.from({ length: MAX_ACKNOWLEDGED - 1 }, (_, i) => `resolved-${i}`);
    t.spec.acknowledgedEscalations = [...stale, "agent-escalated-demo-app-maple-tidy"];
    const list = decideAck(t, "hung-agent-migrate").spec?.acknowledgedEscalations as string[];
    expect(list).toHaveLength(MAX_ACKNOWLEDGED);
    expect(list.slice(-2)).toEqual(["agent-escalated-demo-app-maple-tidy", "hung-agent-migrate"]);
    expect(list).not.toContain("resolved-0");
  });
});

describe("reset-breaker", () => {
  const open = (failures: string[]): Town =>
    town({
      circuitBreaker: {
        open: true,
        openedTime: at(10),
        recentFailures: failures.map((time) => ({
          time,
          agent: "demo-app-toast",
          bead: "fix-typo",
          reason: "SessionFailed",
        })),
      },
    });

  it("sets spec.circuitBreakerReset to now, so the failures counted so far stop counting", () => {
    expect(decideBreakerReset(open([at(30), at(10)]), NOW)).toEqual({
      spec: { circuitBreakerReset: "2026-05-04T12:00:00.000Z" },
      result:
        "town/demo circuit breaker reset (spec.circuitBreakerReset=2026-05-04T12:00:00.000Z): the 2 failed sessions before it no longer count; dispatch starts again",
    });
  });

  it("never before the newest failure, even when this machine's clock is behind the operator's", () => {
    const later = new Date(NOW + 5000).toISOString();
    expect(decideBreakerReset(open([at(30), later]), NOW).spec).toEqual({
      circuitBreakerReset: new Date(NOW + 5001).toISOString(),
    });
  });

  it("changes nothing for a closed breaker that counts no failure", () => {
    expect(decideBreakerReset(town({ circuitBreaker: { open: false, recentFailures: [] } }), NOW)).toEqual({
      result: "town/demo unchanged: its circuit breaker is closed and counts no failed session",
    });
    expect(decideBreakerReset(town(), NOW).result).toMatch(
      /: it was closed; the 1 failed session counted so far no longer count$/,
    );
  });
});

describe("nudge", () => {
  it("takes the time as a fresh id, never the one already there", () => {
    expect(nudgeId(NOW, undefined)).toBe("2026-05-04T12:00:00.000Z");
    expect(nudgeId(NOW, "2026-05-04T11:00:00.000Z")).toBe("2026-05-04T12:00:00.000Z");
    expect(nudgeId(NOW, "2026-05-04T12:00:00.000Z")).toBe("2026-05-04T12:00:00.000Z-2");
  });

  it("says when the message arrives: within a heartbeat while a session runs, else at the next one", () => {
    const [maple, refinery] = [
      agents().find((a) => a.metadata.name === "demo-app-maple")!,
      agents().find((a) => a.metadata.name === "demo-app-refinery")!,
    ];
    refinery.status!.sessionBead = "signup-ui-mr-1";
    expect(nudgeResult(refinery, "n1")).toBe(
      "agent/demo-app-refinery nudged (spec.nudge.id=n1): its running session on signup-ui-mr-1 gets the message within one heartbeat",
    );
    expect(nudgeResult(maple, "n1")).toBe(
      "agent/demo-app-maple nudged (spec.nudge.id=n1): it has no running session (Idle); its next session gets the message",
    );
  });
});
