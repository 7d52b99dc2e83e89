// The contract's action sequences. Most are produced by plan() over scripted scenarios (what
// users, agents and the kubelet do between plans is scripted; what the controller does is the
// core's); the rest are hand-written edge sequences the rules rarely produce. A new action type
// gets its row in contract.ts's ACTIONS and a scenario here that `covers` it.
import { expect } from "vitest";
import type { Action, ActionOf, ActionType } from "../../../src/core/actions.ts";
import type { Contract } from "./contract.ts";

export const T0 = Date.parse("2026-01-01T00:00:00Z");
const SEC = 1000;
const MIN = 60 * SEC;
const HOUR = 60 * MIN;

export interface Scenario {
  name: string;
  /** Action types this scenario must apply on both sides (checked after it ran). */
  covers: ActionType[];
  /** Town spec overrides (townManifest options). */
  town?: Record<string, unknown>;
  run(c: Contract): Promise<void>;
}

const why = (reason: string, message = `${reason} (hand-written)`) => ({ reason, message });

/** Dispatches `bead` to a polecat that renews its lease; returns the polecat. */
async function dispatched(c: Contract, bead: string): Promise<string> {
  // An earlier plan may have dispatched it already (a freed polecat takes new work at once).
  if (c.bead(bead).status?.phase !== "InProgress") await c.plan({ expect: ["StartSession"] });
  const polecat = c.assignee(bead);
  await c.heartbeat(polecat);
  c.advance(10 * SEC);
  return polecat;
}

/** A polecat takes `bead`, reports Done, and its session ends. Returns the polecat. */
async function polecatDone(c: Contract, bead: string, rig = "app"): Promise<string> {
  const polecat = await dispatched(c, bead);
  await c.report(`${bead}-done`, polecat, "Done", { branch: `gt/${rig}/${bead}`, summary: "done" });
  await c.plan({ expect: ["CreateBead", "UpdateReportStatus"] });
  await c.exitPod(c.pod(polecat), 0);
  c.advance(10 * SEC);
  return polecat;
}

/** The rig's refinery takes merge request `mr` and merges it directly. */
async function refineryMerges(c: Contract, mr: string, report = `${mr}-done`): Promise<string> {
  if (c.bead(mr).status?.phase !== "InProgress") await c.plan({ expect: ["StartSession"] });
  const refinery = c.hooked(mr);
  await c.heartbeat(refinery);
  c.advance(10 * SEC);
  await c.report(report, refinery, "Done", { commit: "abc1234" });
  await c.plan();
  await c.exitPod(c.pod(refinery), 0);
  c.advance(10 * SEC);
  await c.plan();
  return refinery;
}

const phase = (c: Contract, bead: string) => c.bead(bead).status?.phase;

export const SCENARIOS: Scenario[] = [
  {
    name: "dispatch, done, direct merge",
    covers: [
      "CreateAgent",
      "SetHook",
      "StartSession",
      "UpdateBeadStatus",
      "UpdateAgentStatus",
      "UpdateTownStatus",
      "CreateBead",
      "UpdateReportStatus",
    ],
    async run(c) {
      await c.addBead("x");
      await polecatDone(c, "x");
      expect(phase(c, "x")).toBe("InReview");
      await refineryMerges(c, "x-mr-1");
      expect(phase(c, "x-mr-1")).toBe("Closed");
      expect(phase(c, "x")).toBe("Closed");
    },
  },
  {
    name: "request changes, rework, then merge",
    covers: ["CreateBead", "SetHook", "StartSession"],
    async run(c) {
      await c.addBead("x");
      const polecat = await polecatDone(c, "x");
      await c.plan({ expect: ["StartSession"] });
      const refinery = c.hooked("x-mr-1");
      await c.heartbeat(refinery);
      await c.report("x-mr-1-changes", refinery, "RequestChanges", { feedback: "add a test", files: ["src/x.ts"] });
      await c.report("x-mr-1-release", refinery, "Done");
      await c.plan({ expect: ["CreateBead"] });
      expect(c.bead("x-mr-1-rework-1").spec.reworkOf).toBe("x-mr-1");
      await c.exitPod(c.pod(refinery), 0);
      c.advance(10 * SEC);
      await c.plan({ expect: ["StartSession"] });
      expect(c.hooked("x-mr-1-rework-1")).toBe(polecat);
      await c.heartbeat(polecat);
      await c.report("rework-done", polecat, "Done", { branch: "gt/app/x" });
      await c.plan();
      expect(phase(c, "x-mr-1-rework-1")).toBe("Closed");
      await c.exitPod(c.pod(polecat), 0);
      c.advance(10 * SEC);
      await refineryMerges(c, "x-mr-1", "x-mr-1-merged");
      expect(phase(c, "x")).toBe("Closed");
    },
  },
  {
    name: "review failed: the merge request fails and the issue is redone",
    covers: ["UpdateBeadStatus", "StartSession"],
    async run(c) {
      await c.addBead("x");
      await polecatDone(c, "x");
      await c.plan({ expect: ["StartSession"] });
      const refinery = c.hooked("x-mr-1");
      await c.heartbeat(refinery);
      await c.report("x-mr-1-failed", refinery, "ReviewFailed", { message: "merge conflict in src/x.ts" });
      await c.plan();
      expect(phase(c, "x-mr-1")).toBe("Failed");
      await c.exitPod(c.pod(refinery), 0);
      c.advance(5 * MIN);
      await c.plan();
      await c.plan();
      expect(c.bead("x").status?.dispatchAttempts).toBe(2);
    },
  },
  {
    name: "checkpoint and escalate reports",
    covers: ["Escalate", "UpdateBeadStatus", "UpdateReportStatus"],
    async run(c) {
      await c.addBead("x");
      const polecat = await dispatched(c, "x");
      await c.report("x-checkpoint", polecat, "Checkpoint", { data: '{"step":3}' });
      // Longer than an Event's note may be (1 KB), in characters of more than one byte.
      const message = `the tests need a database ${"ü".repeat(600)}`;
      await c.report("x-help", polecat, "Escalate", { severity: "High", message });
      await c.plan({ expect: ["Escalate"] });
      expect(c.world.world.bead("x").status?.checkpoint?.data).toBe('{"step":3}');
      await c.plan();
    },
  },
  {
    name: "a crashed session is retried after its back-off",
    covers: ["UpdateAgentStatus", "StartSession"],
    async run(c) {
      await c.addBead("x");
      const polecat = await dispatched(c, "x");
      await c.exitPod(c.pod(polecat), 1);
      await c.plan();
      c.advance(2 * SEC);
      await c.plan();
      await c.plan();
      expect(c.world.world.agent(polecat)?.status?.session).toBe(2);
      // The second session's pod disappears behind the controller's back.
      await c.heartbeat(polecat);
      await c.deletePod(c.pod(polecat));
      await c.plan();
      expect(c.world.world.agent(polecat)?.status?.phase).toBe("Idle");
    },
  },
  {
    name: "cancel stops the session; a pod held by a finalizer stays terminating",
    covers: ["StopSession", "SetHook"],
    async run(c) {
      await c.addBead("x");
      const polecat = await dispatched(c, "x");
      const pod = c.pod(polecat);
      await c.holdPod(pod);
      await c.editBead("x", { cancel: true });
      await c.plan({ expect: ["StopSession"] });
      expect(phase(c, "x")).toBe("Failed");
      expect(c.world.world.sessions.find((s) => s.name === pod)?.deleting).toBe(true);
      c.advance(MIN);
      await c.plan();
      await c.holdPod(pod, false);
      await c.plan();
      expect(c.world.world.sessions.find((s) => s.name === pod)).toBeUndefined();
    },
  },
  {
    name: "GUPP: nudges, then an escalation",
    covers: ["Nudge", "Escalate"],
    async run(c) {
      await c.addBead("x");
      const polecat = await dispatched(c, "x");
      const active = c.now;
      c.advance(11 * MIN);
      await c.heartbeat(polecat, { activityTime: active });
      await c.plan({ expect: ["Nudge"] });
      c.advance(10 * MIN);
      await c.heartbeat(polecat, { activityTime: active });
      await c.plan({ expect: ["Nudge", "Escalate"] });
      await c.plan();
    },
  },
  {
    name: "garbage collection: finished pods, processed reports, idle agents",
    covers: ["StopSession", "DeleteReport", "DeleteAgent"],
    town: { limits: { maxPolecatsPerRig: 1 } },
    async run(c) {
      await c.addBead("x");
      await c.addBead("y");
      await polecatDone(c, "x");
      await refineryMerges(c, "x-mr-1");
      await polecatDone(c, "y");
      await refineryMerges(c, "y-mr-1");
      expect(phase(c, "y")).toBe("Closed");
      c.advance(HOUR + MIN);
      await c.plan({ expect: ["StopSession"] });
      c.advance(24 * HOUR);
      await c.plan({ expect: ["DeleteReport", "DeleteAgent"] });
      expect(c.world.world.agents).toEqual([]);
      await c.plan();
    },
  },
  {
    name: "garbage collection of an agent whose last pod is held terminating",
    covers: ["DeleteAgent"],
    async run(c) {
      await c.addBead("x");
      const polecat = await polecatDone(c, "x");
      const pod = `${polecat}-1`;
      await c.holdPod(pod);
      await refineryMerges(c, "x-mr-1");
      c.advance(25 * HOUR);
      await c.plan({ expect: ["DeleteAgent"] });
      expect(c.world.world.sessions.find((s) => s.name === pod)?.deleting).toBe(true);
      await c.holdPod(pod, false);
      await c.plan();
    },
  },
  {
    name: "pull request rig: polls fail, then the pull request merges",
    covers: ["PollPullRequest", "UpdateBeadStatus"],
    async run(c) {
      await c.addBead("x", { rig: "pr" });
      await polecatDone(c, "x", "pr");
      await c.plan({ expect: ["StartSession"] });
      const refinery = c.hooked("x-mr-1");
      await c.heartbeat(refinery);
      c.forge.pulls.set("7", { error: 502 });
      await c.report("x-mr-1-pr", refinery, "Done", { prURL: "https://github.example/acme/app/pull/7" });
      await c.plan({ expect: ["PollPullRequest"] });
      await c.exitPod(c.pod(refinery), 0);
      // The poll interval doubles with every failed poll.
      c.advance(2 * SEC);
      await c.plan({ expect: ["PollPullRequest"] });
      expect(c.bead("x-mr-1").status?.pullRequest?.consecutiveErrors).toBe(2);
      c.forge.pulls.set("7", { merged: true, state: "closed", merge_commit_sha: "def5678" });
      c.advance(4 * SEC);
      await c.plan({ expect: ["PollPullRequest"] });
      c.advance(2 * SEC);
      await c.plan();
      expect(phase(c, "x-mr-1")).toBe("Closed");
      expect(phase(c, "x")).toBe("Closed");
    },
  },
  {
    name: "a convoy creates its beads, owned by it",
    covers: ["CreateBead", "UpdateConvoyStatus"],
    async run(c) {
      await c.addConvoy("cv", [{ name: "a" }, { name: "b", dependsOn: ["a"] }]);
      await c.plan({ expect: ["CreateBead", "UpdateConvoyStatus"] });
      expect(c.bead("cv-b").spec.dependsOn).toEqual(["cv-a"]);
      await c.plan();
      await polecatDone(c, "cv-a");
      await refineryMerges(c, "cv-a-mr-1");
      await c.plan();
    },
  },
  {
    name: "a write the API refuses is charged to its report, retried, then the report is poisoned",
    covers: ["UpdateReportStatus"],
    async run(c) {
      await c.addBead("denied");
      const polecat = await dispatched(c, "denied");
      await c.report("denied-done", polecat, "Done", { branch: "gt/app/denied" });
      for (const [attempt, wait] of [
        [1, 10 * SEC],
        [2, 20 * SEC],
        [3, 40 * SEC],
      ] as const) {
        await c.plan({ outcome: { error: "failed" } });
        expect(c.world.world.reports.find((r) => r.metadata.name === "denied-done")?.status?.attempts).toBe(attempt);
        c.advance(wait);
      }
      await c.plan();
      expect(c.world.world.reports.find((r) => r.metadata.name === "denied-done")?.status?.outcome).toBe("Poisoned");
      await c.plan();
    },
  },
  {
    name: "a plan from a stale view: creates already exist, the first stale write conflicts and stops the batch",
    covers: ["CreateAgent", "CreateBead"],
    async run(c) {
      await c.addBead("x");
      await c.freeze("before dispatch");
      const polecat = await dispatched(c, "x");
      // The stale plan dispatches x again: its polecat exists (success), its claim conflicts.
      await c.plan({ from: "before dispatch", outcome: { applied: 1, error: "stale" } });
      await c.report("x-done", polecat, "Done", { branch: "gt/app/x" });
      await c.freeze("report pending");
      await c.plan({ expect: ["CreateBead"] });
      // Applying the same report from the stale view: the merge request exists, the bead's write
      // conflicts, and the conflict is not held against the report (it is a stale view, not a refusal).
      await c.plan({ from: "report pending", outcome: { applied: 1, error: "stale" } });
      expect(c.world.world.reports.find((r) => r.metadata.name === "x-done")?.status?.attempts).toBeUndefined();
      await c.plan();
    },
  },
  {
    name: "garbage collection from a stale view does not delete an agent re-hooked since",
    covers: ["DeleteReport"],
    async run(c) {
      await c.addBead("x");
      const polecat = await polecatDone(c, "x");
      await refineryMerges(c, "x-mr-1");
      c.advance(25 * HOUR);
      await c.freeze("idle for a day");
      await c.addBead("y");
      await c.plan({ expect: ["StartSession"] });
      expect(c.hooked("y")).toBe(polecat);
      const p = await c.plan({ from: "idle for a day", outcome: { error: "stale" } });
      expect(p.actions.some((a) => a.type === "DeleteAgent" && a.name === polecat)).toBe(true);
      expect(c.world.world.agent(polecat)?.spec.hook).toBe("y");
    },
  },
  {
    name: "hand-written: idempotent creates, deletes of what is gone, writes to what is missing",
    covers: ["CreateAgent", "StartSession", "StopSession", "DeleteAgent", "DeleteReport", "CreateBead"],
    async run(c) {
      await c.addBead("x");
      const p = await c.plan({ expect: ["StartSession"] });
      const start = p.actions.find((a): a is ActionOf<"StartSession"> => a.type === "StartSession") as Action;
      const create = p.actions.find((a) => a.type === "CreateAgent") as Action;
      // Creating what exists is success; so is deleting or stopping what is gone.
      await c.apply([create, start], { outcome: { applied: 2 } });
      await c.apply(
        [
          { type: "StopSession", agent: "gt-app-nobody", pod: "gt-app-nobody-1", why: why("Stopped") },
          { type: "DeleteReport", name: "no-such-report", why: why("ReportCollected") },
          { type: "DeleteAgent", name: "gt-app-nobody", uid: "", resourceVersion: "", why: why("AgentCollected") },
        ],
        { outcome: { applied: 3 } },
      );
      // A bead this batch "created" that already existed: its resourceVersion is unknown.
      const bead = c.bead("x");
      await c.apply(
        [
          { type: "CreateBead", name: "x", spec: bead.spec, why: why("Created") },
          { type: "UpdateBeadStatus", name: "x", resourceVersion: "", status: { reason: "X" }, events: [] },
        ],
        { outcome: { applied: 1, error: "stale" } },
      );
      // Writes to objects that do not exist.
      for (const a of [
        { type: "UpdateBeadStatus", name: "nope", resourceVersion: "1", status: { reason: "X" }, events: [] },
        { type: "SetHook", agent: "gt-app-nope", resourceVersion: "1", hook: "x", why: why("Dispatched") },
        { type: "UpdateReportStatus", name: "nope", resourceVersion: "1", status: { attempts: 1 }, events: [] },
      ] as Action[]) {
        await c.apply([a], { outcome: { applied: 0, error: "stale" } });
      }
    },
  },
  {
    name: "hand-written: writes to one object chain within a batch; null removes a field",
    covers: ["UpdateBeadStatus", "UpdateTownStatus"],
    async run(c) {
      await c.addBead("x");
      const rv = c.bead("x").metadata.resourceVersion as string;
      await c.apply(
        [
          {
            type: "UpdateBeadStatus",
            name: "x",
            resourceVersion: rv,
            status: { reason: "One", branch: "b" },
            events: [why("One")],
          },
          {
            type: "UpdateBeadStatus",
            name: "x",
            resourceVersion: rv,
            status: { reason: "Two", branch: null },
            events: [why("Two")],
          },
        ],
        { outcome: { applied: 2 } },
      );
      expect(c.bead("x").status).toMatchObject({ reason: "Two" });
      // A write that changes nothing is no write: the API server keeps the resourceVersion, so a
      // later write from the same view still applies.
      const after = c.bead("x").metadata.resourceVersion as string;
      await c.apply(
        [{ type: "UpdateBeadStatus", name: "x", resourceVersion: after, status: { reason: "Two" }, events: [] }],
        { outcome: { applied: 1 } },
      );
      await c.apply(
        [{ type: "UpdateBeadStatus", name: "x", resourceVersion: after, status: { reason: "Three" }, events: [] }],
        { outcome: { applied: 1 } },
      );
      const town = c.world.world.town.metadata.resourceVersion as string;
      await c.apply(
        [{ type: "UpdateTownStatus", name: "gt", resourceVersion: town, status: { rigCount: 2 }, events: [] }],
        { outcome: { applied: 1 } },
      );
      await c.apply(
        [{ type: "UpdateTownStatus", name: "gt", resourceVersion: town, status: { rigCount: 3 }, events: [] }],
        { outcome: { applied: 0, error: "stale" } },
      );
    },
  },
  {
    name: "hand-written: a stale write stops its own chain; independent chains go on, summaries wait",
    covers: ["CreateAgent", "UpdateBeadStatus"],
    async run(c) {
      await c.addBead("x");
      await c.addBead("y");
      const stale = c.bead("x").metadata.resourceVersion as string;
      await c.apply([
        { type: "UpdateBeadStatus", name: "x", resourceVersion: stale, status: { reason: "A" }, events: [] },
      ]);
      const town = c.world.world.town.metadata.resourceVersion as string;
      const y = c.bead("y").metadata.resourceVersion as string;
      await c.apply(
        [
          { type: "UpdateBeadStatus", name: "x", resourceVersion: stale, status: { reason: "B" }, events: [why("B")] },
          { type: "UpdateBeadStatus", name: "x", resourceVersion: "", status: { reason: "C" }, events: [why("C")] },
          { type: "CreateAgent", name: "gt-app-toast", role: "Polecat", rig: "app", why: why("PolecatCreated") },
          { type: "UpdateBeadStatus", name: "y", resourceVersion: y, status: { reason: "D" }, events: [why("D")] },
          { type: "UpdateTownStatus", name: "gt", resourceVersion: town, status: { rigCount: 7 }, events: [] },
        ],
        { outcome: { applied: 2, error: "stale" } },
      );
      expect(c.bead("x").status?.reason).toBe("A");
      expect(c.bead("y").status?.reason).toBe("D");
      expect(c.world.world.town.status?.rigCount).not.toBe(7);
    },
  },
  {
    name: "hand-written: Events are recorded once per batch and counted across batches",
    covers: ["Nudge", "Escalate"],
    async run(c) {
      await c.addBead("x");
      const polecat = await dispatched(c, "x");
      const nudge: Action = { type: "Nudge", agent: polecat, tier: "warn", why: why("NudgeWarn", "are you there?") };
      await c.apply([nudge, nudge], { outcome: { applied: 2 } });
      await c.apply([nudge], { outcome: { applied: 1 } });
      await c.apply(
        [{ type: "Escalate", agent: polecat, severity: "Low", why: { ...why("Escalated", "no bead"), warning: true } }],
        { outcome: { applied: 1 } },
      );
    },
  },
];
