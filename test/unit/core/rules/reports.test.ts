// §5.1 Agent reports: what each report does, when it is rejected, its order, retry and poisoning.
import { describe, expect, it } from "vitest";
import type { AgentReport } from "../../../../src/api/agent-report.ts";
import type { Escalation } from "../../../../src/api/town.ts";
import { reportRetryDelay } from "../../../../src/core/rules/reports.ts";
import {
  agentStatus,
  beadStatus,
  causedBy,
  conditionsOf,
  convoyOf,
  effects,
  type Fixture,
  iso,
  issue,
  landingMR,
  lease,
  MIN,
  mergeRequest,
  ofType,
  planAt,
  pod,
  polecat,
  refinery,
  report,
  reportStatus,
  rework,
  SEC,
  T0,
  town,
  townStatus,
  withObjects,
  workingStatus,
} from "../builders.ts";

const NOW = T0 + 10 * MIN;
const TOAST = "gt-app-toast";
const REF = "gt-app-refinery";

/** A polecat working on issue x in session 1. */
function polecatOnX(): Fixture {
  return {
    beads: [issue("x", { phase: "InProgress", assignee: TOAST, attempts: 1 })],
    agents: [polecat(TOAST, { hook: "x", status: workingStatus(TOAST, "x", { heartbeat: NOW }) })],
    sessions: [pod(TOAST, 1, { bead: "x", started: T0 })],
    leases: [lease(TOAST, { renewTime: NOW })],
  };
}

/** The refinery reviewing x-mr-1 (the merge request of issue x, which is InReview). */
function refineryOnMR(): Fixture {
  return {
    beads: [
      issue("x", { phase: "InReview", assignee: TOAST, attempts: 1 }),
      mergeRequest("x-mr-1", "x", { phase: "InProgress", assignee: REF, attempts: 1 }),
    ],
    agents: [refinery({ hook: "x-mr-1", status: workingStatus(REF, "x-mr-1", { heartbeat: NOW }) })],
    sessions: [pod(REF, 1, { bead: "x-mr-1", started: T0 })],
    leases: [lease(REF, { renewTime: NOW })],
  };
}

/** A polecat working on rework x-mr-1-rework-1 of merge request x-mr-1. */
function polecatOnRework(mrPhase: "InProgress" | "Open", extra: Fixture = {}): Fixture {
  return withObjects(
    {
      beads: [
        issue("x", { phase: "InReview", attempts: 1 }),
        mergeRequest("x-mr-1", "x", { phase: mrPhase, attempts: 1 }),
        rework("x-mr-1-rework-1", "x-mr-1", { phase: "InProgress", assignee: TOAST, attempts: 1 }),
      ],
      agents: [
        polecat(TOAST, {
          hook: "x-mr-1-rework-1",
          status: workingStatus(TOAST, "x-mr-1-rework-1", { heartbeat: NOW }),
        }),
      ],
      sessions: [pod(TOAST, 1, { bead: "x-mr-1-rework-1", started: T0 })],
      leases: [lease(TOAST, { renewTime: NOW })],
    },
    extra,
  );
}

/** A convoy whose only task merged, landing under review by the refinery. */
function refineryOnLanding(): Fixture {
  return {
    convoys: [convoyOf("c", [{ name: "a" }], { status: { phase: "Landing" } })],
    beads: [
      issue("c-a", { phase: "Closed", spec: { convoy: "c" }, status: { resolution: "Merged", mergedBy: "c-a-mr-1" } }),
      landingMR("c-landing-1", "c", { phase: "InProgress", assignee: REF, attempts: 1 }),
    ],
    agents: [refinery({ hook: "c-landing-1", status: workingStatus(REF, "c-landing-1", { heartbeat: NOW }) })],
    sessions: [pod(REF, 1, { bead: "c-landing-1", started: T0 })],
    leases: [lease(REF, { renewTime: NOW })],
  };
}

const released = (agent: string, cause: string) => [
  { type: "UpdateAgentStatus", name: agent, cause, status: { phase: "Idle", idleSince: iso(NOW) } },
  { type: "SetHook", agent, hook: null, cause },
];
/** With a message: a report that changed nothing says so in its own Event; else its effects tell it. */
const appliedStatus = (name: string, message?: string) => ({
  type: "UpdateReportStatus",
  name,
  status: { outcome: "Applied", processedAt: iso(NOW) },
  events: message ? [{ reason: "ReportApplied", message }] : [],
});

describe("reportRetryDelay: 10 s × 2^(attempts-1)", () => {
  it.each([
    [0, 10 * SEC],
    [1, 10 * SEC],
    [2, 20 * SEC],
    [3, 40 * SEC],
    [4, 80 * SEC],
  ])("after %i attempts waits %i ms", (attempts, delay) => {
    expect(reportRetryDelay(attempts)).toBe(delay);
  });
});

interface AppliedRow {
  name: string;
  fixture: Fixture;
  report: AgentReport;
  caused: unknown[];
}

const appliedRows: AppliedRow[] = [
  {
    name: "polecat Done on an issue: merge request created, issue InReview, polecat released",
    fixture: polecatOnX(),
    report: report("r", { agent: TOAST, bead: "x", type: "Done", branch: "gt/app/x", summary: "did it" }),
    caused: [
      {
        type: "CreateBead",
        name: "x-mr-1",
        cause: "r",
        why: { reason: "MergeRequestCreated" },
        spec: {
          type: "MergeRequest",
          rig: "app",
          source: { kind: "Bead", name: "x" },
          branch: "gt/app/x",
          targetBranch: "main",
          title: "Merge: bead x",
          description: "did it",
          priority: 2,
        },
      },
      {
        type: "UpdateBeadStatus",
        name: "x",
        cause: "r",
        status: { phase: "InReview", lastPhaseTransitionTime: iso(NOW), branch: "gt/app/x", reason: "WorkDone" },
      },
      ...released(TOAST, "r"),
      appliedStatus("r"),
    ],
  },
  {
    name: "polecat Done after 3 dispatches names the merge request after the attempt",
    fixture: withObjects(polecatOnX(), {
      beads: [issue("x", { phase: "InProgress", assignee: TOAST, attempts: 3, status: { branch: "gt/app/x" } })],
    }),
    report: report("r", { agent: TOAST, bead: "x", type: "Done" }),
    caused: [
      { type: "CreateBead", name: "x-mr-3", spec: { branch: "gt/app/x", description: "" } },
      { type: "UpdateBeadStatus", name: "x", status: { phase: "InReview", reason: "WorkDone" } },
      ...released(TOAST, "r"),
      appliedStatus("r"),
    ],
  },
  {
    name: "polecat Done when the merge request already exists (interrupted apply): not created twice",
    fixture: withObjects(polecatOnX(), { beads: [mergeRequest("x-mr-1", "x")] }),
    report: report("r", { agent: TOAST, bead: "x", type: "Done", branch: "gt/app/x" }),
    caused: [
      { type: "UpdateBeadStatus", name: "x", status: { phase: "InReview" } },
      ...released(TOAST, "r"),
      appliedStatus("r"),
    ],
  },
  {
    name: "polecat Done on an issue that is already Closed: only released",
    fixture: withObjects(polecatOnX(), {
      beads: [issue("x", { phase: "Closed", assignee: TOAST, attempts: 1 })],
    }),
    report: report("r", { agent: TOAST, bead: "x", type: "Done" }),
    caused: [...released(TOAST, "r"), appliedStatus("r")],
  },
  {
    name: "polecat Done on a rework: rework Closed (ReworkDone), its unhooked merge request back to Open",
    fixture: polecatOnRework("InProgress"),
    report: report("r", { agent: TOAST, bead: "x-mr-1-rework-1", type: "Done" }),
    caused: [
      {
        type: "UpdateBeadStatus",
        name: "x-mr-1-rework-1",
        status: { phase: "Closed", resolution: "ReworkDone", reason: "ReworkDone" },
      },
      {
        type: "UpdateBeadStatus",
        name: "x-mr-1",
        status: { phase: "Open", lastPhaseTransitionTime: iso(NOW), reason: "ReworkDone" },
      },
      ...released(TOAST, "r"),
      appliedStatus("r"),
    ],
  },
  {
    name: "polecat Done on a rework whose merge request is already Open: merge request untouched",
    fixture: polecatOnRework("Open"),
    report: report("r", { agent: TOAST, bead: "x-mr-1-rework-1", type: "Done" }),
    caused: [
      { type: "UpdateBeadStatus", name: "x-mr-1-rework-1", status: { phase: "Closed", resolution: "ReworkDone" } },
      ...released(TOAST, "r"),
      appliedStatus("r"),
    ],
  },
  {
    name: "polecat Done on one of two open reworks: the merge request keeps waiting",
    fixture: polecatOnRework("InProgress", {
      beads: [rework("x-mr-1-rework-2", "x-mr-1", { phase: "Open" })],
    }),
    report: report("r", { agent: TOAST, bead: "x-mr-1-rework-1", type: "Done" }),
    caused: [
      { type: "UpdateBeadStatus", name: "x-mr-1-rework-1", status: { phase: "Closed" } },
      ...released(TOAST, "r"),
      appliedStatus("r"),
    ],
  },
  {
    name: "polecat Done on a rework whose merge request a refinery holds: merge request untouched",
    fixture: polecatOnRework("InProgress", {
      agents: [refinery({ hook: "x-mr-1", status: workingStatus(REF, "x-mr-1", { heartbeat: NOW }) })],
    }),
    report: report("r", { agent: TOAST, bead: "x-mr-1-rework-1", type: "Done" }),
    caused: [
      { type: "UpdateBeadStatus", name: "x-mr-1-rework-1", status: { phase: "Closed" } },
      ...released(TOAST, "r"),
      appliedStatus("r"),
    ],
  },
  {
    name: "refinery Done without prURL: direct merge closes the MR, its source and sibling MRs",
    fixture: withObjects(refineryOnMR(), {
      beads: [
        mergeRequest("x-mr-2", "x", { phase: "Open", created: T0 + SEC }),
        mergeRequest("x-mr-0", "x", { phase: "Failed", created: T0 + 2 * SEC }),
      ],
    }),
    report: report("r", { agent: REF, bead: "x-mr-1", type: "Done", commit: "abc1234" }),
    caused: [
      {
        type: "UpdateBeadStatus",
        name: "x-mr-1",
        status: {
          phase: "Closed",
          lastPhaseTransitionTime: iso(NOW),
          resolution: "Merged",
          mergeCommit: "abc1234",
          reason: "Merged",
        },
      },
      {
        type: "UpdateBeadStatus",
        name: "x",
        status: { phase: "Closed", resolution: "Merged", mergedBy: "x-mr-1", reason: "Merged" },
      },
      {
        type: "UpdateBeadStatus",
        name: "x-mr-2",
        status: { phase: "Closed", resolution: "Superseded", mergedBy: "x-mr-1", reason: "Superseded" },
      },
      ...released(REF, "r"),
      appliedStatus("r"),
    ],
  },
  {
    name: "refinery Done with an https prURL: recorded, MR stays InProgress, refinery released",
    fixture: refineryOnMR(),
    report: report("r", { agent: REF, bead: "x-mr-1", type: "Done", prURL: "https://forge.example/pr/1" }),
    caused: [
      {
        type: "UpdateBeadStatus",
        name: "x-mr-1",
        status: {
          prURL: "https://forge.example/pr/1",
          lastPhaseTransitionTime: iso(NOW),
          reason: "PullRequestOpened",
        },
      },
      ...released(REF, "r"),
      appliedStatus("r"),
    ],
  },
  {
    name: "refinery Done with a non-https prURL: the review fails and the source is reopened",
    fixture: refineryOnMR(),
    report: report("r", { agent: REF, bead: "x-mr-1", type: "Done", prURL: "http://forge.example/pr/1" }),
    caused: [
      {
        type: "UpdateBeadStatus",
        name: "x-mr-1",
        status: {
          phase: "Failed",
          resolution: "ReviewFailed",
          reason: "prURL must be an https URL, got http://forge.example/pr/1",
        },
      },
      {
        type: "UpdateBeadStatus",
        name: "x",
        status: { phase: "Open", assignee: null, reason: "ReviewFailed" },
        events: expect.arrayContaining([expect.objectContaining({ reason: "Reopened" })]),
      },
      ...released(REF, "r"),
      appliedStatus("r"),
    ],
  },
  {
    name: "refinery Done without prURL while a rework is open: only released, MR waits (WaitingForRework)",
    fixture: withObjects(refineryOnMR(), { beads: [rework("x-mr-1-rework-1", "x-mr-1", { phase: "Open" })] }),
    report: report("r", { agent: REF, bead: "x-mr-1", type: "Done" }),
    caused: [
      {
        type: "UpdateBeadStatus",
        name: "x-mr-1",
        status: { phase: "Open", assignee: null, reason: "WaitingForRework" },
      },
      ...released(REF, "r"),
      appliedStatus("r"),
    ],
  },
  {
    name: "refinery Done without prURL after this session's rework already closed: still not merged",
    fixture: withObjects(refineryOnMR(), {
      beads: [rework("x-mr-1-rework-1", "x-mr-1", { phase: "Closed", status: { resolution: "ReworkDone" } })],
    }),
    report: report("r", { agent: REF, bead: "x-mr-1", type: "Done" }),
    caused: [
      { type: "UpdateBeadStatus", name: "x-mr-1", status: { phase: "Open", reason: "WaitingForRework" } },
      ...released(REF, "r"),
      appliedStatus("r"),
    ],
  },
  {
    name: "refinery Done on a merge request already Failed: only released",
    fixture: withObjects(refineryOnMR(), {
      beads: [mergeRequest("x-mr-1", "x", { phase: "Failed", assignee: REF, attempts: 1 })],
    }),
    report: report("r", { agent: REF, bead: "x-mr-1", type: "Done" }),
    caused: [...released(REF, "r"), appliedStatus("r")],
  },
  {
    name: "RequestChanges: a rework issue is created on the same branch; the refinery stays hooked",
    fixture: refineryOnMR(),
    report: report("r", {
      agent: REF,
      bead: "x-mr-1",
      type: "RequestChanges",
      feedback: "add tests",
      files: ["src/a.ts"],
    }),
    caused: [
      {
        type: "CreateBead",
        name: "x-mr-1-rework-1",
        why: { reason: "ChangesRequested" },
        spec: {
          type: "Issue",
          rig: "app",
          reworkOf: "x-mr-1",
          branch: "gt/app/x",
          feedback: "add tests",
          files: ["src/a.ts"],
          description: "add tests",
          title: "Rework: bead x-mr-1",
        },
      },
      // One review cycle of the issue's budget; the merge request's crash budget starts again.
      { type: "UpdateBeadStatus", name: "x", status: { reviewCycles: 1 } },
      { type: "UpdateBeadStatus", name: "x-mr-1", status: { dispatchAttempts: 0 } },
      appliedStatus("r"),
    ],
  },
  {
    name: "RequestChanges on a merge request already Closed: nothing created",
    fixture: withObjects(refineryOnMR(), {
      beads: [
        mergeRequest("x-mr-1", "x", { phase: "Closed", assignee: REF, attempts: 1, status: { resolution: "Merged" } }),
      ],
    }),
    report: report("r", { agent: REF, bead: "x-mr-1", type: "RequestChanges", feedback: "late" }),
    caused: [appliedStatus("r", "x-mr-1 was already Closed")],
  },
  {
    name: "ReviewFailed: the MR fails with the message and its source issue is reopened unassigned",
    fixture: refineryOnMR(),
    report: report("r", { agent: REF, bead: "x-mr-1", type: "ReviewFailed", message: "merge conflict" }),
    caused: [
      {
        type: "UpdateBeadStatus",
        name: "x-mr-1",
        status: { phase: "Failed", resolution: "ReviewFailed", reason: "merge conflict" },
        events: expect.arrayContaining([expect.objectContaining({ reason: "ReviewFailed", warning: true })]),
      },
      { type: "UpdateBeadStatus", name: "x", status: { phase: "Open", assignee: null, reason: "ReviewFailed" } },
      ...released(REF, "r"),
      appliedStatus("r"),
    ],
  },
  {
    name: "ReviewFailed while a sibling MR is live: the source stays InReview",
    fixture: withObjects(refineryOnMR(), { beads: [mergeRequest("x-mr-2", "x", { phase: "Open" })] }),
    report: report("r", { agent: REF, bead: "x-mr-1", type: "ReviewFailed", message: "conflict" }),
    caused: [
      { type: "UpdateBeadStatus", name: "x-mr-1", status: { phase: "Failed" } },
      ...released(REF, "r"),
      appliedStatus("r"),
    ],
  },
  {
    name: "ReviewFailed on a merge request already Closed: nothing changes",
    fixture: withObjects(refineryOnMR(), {
      beads: [
        mergeRequest("x-mr-1", "x", { phase: "Closed", assignee: REF, attempts: 1, status: { resolution: "Merged" } }),
      ],
    }),
    report: report("r", { agent: REF, bead: "x-mr-1", type: "ReviewFailed", message: "late" }),
    caused: [appliedStatus("r", "merge request already finished")],
  },
  {
    name: "Escalate: recorded (the durable escalation and the agent's condition are checked separately)",
    fixture: polecatOnX(),
    report: report("r", { agent: TOAST, bead: "x", type: "Escalate", severity: "High", message: "stuck on CI" }),
    caused: [appliedStatus("r")],
  },
  {
    name: "Checkpoint: the blob is stored on the bead (only its next session gets it) with agent and session",
    fixture: polecatOnX(),
    report: report("r", { agent: TOAST, bead: "x", type: "Checkpoint", data: "step=3" }),
    caused: [
      {
        type: "UpdateBeadStatus",
        name: "x",
        status: { checkpoint: { data: "step=3", agent: TOAST, session: 1, time: iso(NOW) } },
        events: expect.arrayContaining([expect.objectContaining({ reason: "Checkpointed" })]),
      },
      appliedStatus("r"),
    ],
  },
  {
    name: "refinery Done on a convoy's landing: the landing closes as merged; no issue to close",
    fixture: refineryOnLanding(),
    report: report("r", { agent: REF, bead: "c-landing-1", type: "Done", commit: "fedcba9" }),
    caused: [
      {
        type: "UpdateBeadStatus",
        name: "c-landing-1",
        status: { phase: "Closed", resolution: "Merged", mergeCommit: "fedcba9", reason: "Merged" },
      },
      ...released(REF, "r"),
      appliedStatus("r"),
    ],
  },
  {
    name: "ReviewFailed on a convoy's landing: the landing fails; no issue to reopen",
    fixture: refineryOnLanding(),
    report: report("r", { agent: REF, bead: "c-landing-1", type: "ReviewFailed", message: "conflict with main" }),
    caused: [
      {
        type: "UpdateBeadStatus",
        name: "c-landing-1",
        status: { phase: "Failed", resolution: "ReviewFailed", reason: "conflict with main" },
      },
      ...released(REF, "r"),
      appliedStatus("r"),
    ],
  },
  {
    name: "refinery Done when the source issue is already Closed: only the merge request closes",
    fixture: withObjects(refineryOnMR(), {
      beads: [issue("x", { phase: "Closed", status: { resolution: "Merged", mergedBy: "x-mr-0" } })],
    }),
    report: report("r", { agent: REF, bead: "x-mr-1", type: "Done" }),
    caused: [
      { type: "UpdateBeadStatus", name: "x-mr-1", status: { phase: "Closed", resolution: "Merged" } },
      ...released(REF, "r"),
      appliedStatus("r"),
    ],
  },
  {
    name: "ReviewFailed when the source issue no longer exists: only the merge request fails",
    fixture: { ...refineryOnMR(), beads: refineryOnMR().beads?.filter((b) => b.metadata.name !== "x") },
    report: report("r", { agent: REF, bead: "x-mr-1", type: "ReviewFailed", message: "conflict" }),
    caused: [
      { type: "UpdateBeadStatus", name: "x-mr-1", status: { phase: "Failed", resolution: "ReviewFailed" } },
      ...released(REF, "r"),
      appliedStatus("r"),
    ],
  },
  // Already applied: an earlier plan wrote the effects but died before marking the report.
  {
    name: "already applied: polecat Done whose issue is InReview with its merge request",
    fixture: withObjects(polecatOnX(), {
      beads: [issue("x", { phase: "InReview", attempts: 1 }), mergeRequest("x-mr-1", "x")],
      agents: [polecat(TOAST, { status: { phase: "Idle", session: 1, idleSince: iso(NOW) } })],
    }),
    report: report("r", { agent: TOAST, bead: "x", type: "Done" }),
    caused: [appliedStatus("r", "already applied")],
  },
  {
    name: "already applied: polecat Done on a rework that is Closed",
    fixture: polecatOnRework("Open", {
      beads: [rework("x-mr-1-rework-1", "x-mr-1", { phase: "Closed", status: { resolution: "ReworkDone" } })],
      agents: [polecat(TOAST, { status: { phase: "Idle", session: 1, idleSince: iso(NOW) } })],
    }),
    report: report("r", { agent: TOAST, bead: "x-mr-1-rework-1", type: "Done" }),
    caused: [appliedStatus("r", "already applied")],
  },
  {
    name: "already applied: refinery Done on a merge request that is Closed",
    fixture: withObjects(refineryOnMR(), {
      beads: [mergeRequest("x-mr-1", "x", { phase: "Closed", status: { resolution: "Merged" } })],
      agents: [refinery({ status: { phase: "Idle", session: 1, idleSince: iso(NOW) } })],
    }),
    report: report("r", { agent: REF, bead: "x-mr-1", type: "Done" }),
    caused: [appliedStatus("r", "already applied")],
  },
  {
    name: "already applied: refinery Done whose prURL is already recorded",
    fixture: withObjects(refineryOnMR(), {
      beads: [mergeRequest("x-mr-1", "x", { phase: "InProgress", status: { prURL: "https://forge.example/pr/1" } })],
      agents: [refinery({ status: { phase: "Idle", session: 1, idleSince: iso(NOW) } })],
    }),
    report: report("r", { agent: REF, bead: "x-mr-1", type: "Done", prURL: "https://forge.example/pr/1" }),
    caused: [appliedStatus("r", "already applied")],
  },
];

describe("a report that applies", () => {
  it.each(appliedRows)("$name", ({ fixture, report: r, caused }) => {
    const p = planAt(withObjects(fixture, { reports: [r] }), NOW);
    expect(causedBy(p, r.metadata.name)).toMatchObject(caused);
  });
});

describe("target branch of the merge request a polecat's Done creates", () => {
  it.each([
    { name: "plain issue: the rig's default branch", rig: {}, convoy: undefined, target: "main" },
    {
      name: "rig with another default branch",
      rig: { defaultBranch: "develop" },
      convoy: undefined,
      target: "develop",
    },
    { name: "ReviewThenLand convoy member: the feature branch", rig: {}, convoy: "ReviewThenLand", target: "convoy/c" },
    { name: "ReviewAndMerge convoy member: the default branch", rig: {}, convoy: "ReviewAndMerge", target: "main" },
  ] as const)("$name", ({ rig, convoy, target }) => {
    const f: Fixture = {
      town: town({ rigs: [{ name: "app", ...rig }] }),
      beads: [
        issue("c-a", {
          phase: "InProgress",
          assignee: TOAST,
          attempts: 1,
          spec: convoy ? { convoy: "c" } : {},
        }),
      ],
      agents: [polecat(TOAST, { hook: "c-a", status: workingStatus(TOAST, "c-a", { heartbeat: NOW }) })],
      sessions: [pod(TOAST, 1, { bead: "c-a" })],
      leases: [lease(TOAST, { renewTime: NOW })],
      convoys: convoy ? [convoyOf("c", [{ name: "a" }], { mergeMode: convoy })] : [],
      reports: [report("r", { agent: TOAST, bead: "c-a", type: "Done" })],
    };
    const [mr] = ofType(planAt(f, NOW), "CreateBead").filter((a) => a.name === "c-a-mr-1");
    expect(mr?.spec.targetBranch).toBe(target);
    expect(mr?.spec.convoy).toBe(convoy ? "c" : undefined);
  });
});

interface RejectedRow {
  name: string;
  fixture: Fixture;
  report: AgentReport;
  error: string;
}

const rejectedRows: RejectedRow[] = [
  {
    name: "an agent that does not exist",
    fixture: polecatOnX(),
    report: report("r", { agent: "ghost", bead: "x", type: "Done" }),
    error: "agent ghost does not exist in town gt",
  },
  {
    name: "an old session",
    fixture: polecatOnX(),
    report: report("r", { agent: TOAST, bead: "x", type: "Done", session: 0 }),
    error: "report is from session 0; agent gt-app-toast is in session 1",
  },
  {
    name: "a bead that does not exist",
    fixture: polecatOnX(),
    report: report("r", { agent: TOAST, bead: "nope", type: "Done" }),
    error: "bead nope does not exist",
  },
  {
    name: "a bead the agent is not hooked to",
    fixture: withObjects(polecatOnX(), { beads: [issue("y")] }),
    report: report("r", { agent: TOAST, bead: "y", type: "Done" }),
    error: "agent gt-app-toast is not hooked to y (hook: x)",
  },
  {
    name: "an unhooked agent whose Done left no trace (issue InReview without its merge request)",
    fixture: withObjects(polecatOnX(), {
      beads: [issue("x", { phase: "InReview", attempts: 1 })],
      agents: [polecat(TOAST, { status: { phase: "Idle", session: 1, idleSince: iso(NOW) } })],
    }),
    report: report("r", { agent: TOAST, bead: "x", type: "Done" }),
    error: "agent gt-app-toast is not hooked to x (hook: none)",
  },
  {
    name: "an unhooked agent's Escalate (only Done and ReviewFailed can be already applied)",
    fixture: withObjects(polecatOnX(), {
      agents: [polecat(TOAST, { status: { phase: "Idle", session: 1, idleSince: iso(NOW) } })],
    }),
    report: report("r", { agent: TOAST, bead: "x", type: "Escalate", severity: "Low", message: "m" }),
    error: "agent gt-app-toast is not hooked to x (hook: none)",
  },
  {
    name: "a polecat's Done on a merge request",
    fixture: {
      beads: [mergeRequest("x-mr-1", "x", { phase: "InProgress", assignee: TOAST, attempts: 1 })],
      agents: [polecat(TOAST, { hook: "x-mr-1", status: workingStatus(TOAST, "x-mr-1", { heartbeat: NOW }) })],
      sessions: [pod(TOAST, 1, { bead: "x-mr-1" })],
      leases: [lease(TOAST, { renewTime: NOW })],
    },
    report: report("r", { agent: TOAST, bead: "x-mr-1", type: "Done" }),
    error: "a polecat reports Done on an Issue",
  },
  {
    name: "a refinery's Done on an issue",
    fixture: {
      beads: [issue("x", { phase: "InProgress", assignee: REF, attempts: 1 })],
      agents: [refinery({ hook: "x", status: workingStatus(REF, "x", { heartbeat: NOW }) })],
      sessions: [pod(REF, 1, { bead: "x" })],
      leases: [lease(REF, { renewTime: NOW })],
    },
    report: report("r", { agent: REF, bead: "x", type: "Done" }),
    error: "a refinery reports Done on a MergeRequest",
  },
  {
    name: "a polecat's RequestChanges",
    fixture: polecatOnX(),
    report: report("r", { agent: TOAST, bead: "x", type: "RequestChanges", feedback: "f" }),
    error: "RequestChanges is for a refinery reviewing a merge request",
  },
  {
    name: "a polecat's ReviewFailed",
    fixture: polecatOnX(),
    report: report("r", { agent: TOAST, bead: "x", type: "ReviewFailed", message: "m" }),
    error: "ReviewFailed is for a refinery reviewing a merge request",
  },
];

describe("a report that is rejected is recorded, not applied", () => {
  it.each(rejectedRows)("$name", ({ fixture, report: r, error }) => {
    const p = planAt(withObjects(fixture, { reports: [r] }), NOW);
    expect(causedBy(p, r.metadata.name)).toEqual([
      {
        type: "UpdateReportStatus",
        name: "r",
        resourceVersion: "rv-r",
        status: { outcome: "Rejected", processedAt: iso(NOW), error },
        events: [{ reason: "ReportRejected", message: error, warning: true }],
      },
    ]);
  });
});

describe("Escalate", () => {
  it("sets Escalated on the agent and on the town", () => {
    const p = planAt(
      withObjects(polecatOnX(), {
        reports: [report("r", { agent: TOAST, bead: "x", type: "Escalate", severity: "Critical", message: "help" })],
      }),
      NOW,
    );
    expect(conditionsOf(p, "Agent", TOAST).Escalated).toMatchObject({
      status: "True",
      reason: "AgentEscalated",
      message: "Critical: help",
    });
    expect(conditionsOf(p, "Town").Escalated).toMatchObject({ status: "True", reason: "Unacknowledged" });
    expect((townStatus(p) as { escalations?: Escalation[] }).escalations).toMatchObject([
      {
        id: `agent-escalated-${TOAST}-x`,
        severity: "Critical",
        reason: "AgentEscalated",
        agent: TOAST,
        bead: "x",
        message: `${TOAST} on x: help`,
      },
    ]);
    expect(ofType(p, "Escalate")).toMatchObject([{ agent: TOAST, bead: "x", severity: "Critical" }]);
  });
});

describe("order", () => {
  const twoReports = (first: AgentReport["spec"]["type"], second: AgentReport["spec"]["type"]) =>
    withObjects(refineryOnMR(), {
      reports: [
        report("r-b", { agent: REF, bead: "x-mr-1", type: second, feedback: "f" }, { created: NOW - SEC }),
        report("r-a", { agent: REF, bead: "x-mr-1", type: first, feedback: "f" }, { created: NOW - SEC }),
      ],
    });

  it("same creation time: by name — RequestChanges then Done releases the refinery, never merges", () => {
    const p = planAt(twoReports("RequestChanges", "Done"), NOW);
    expect(ofType(p, "CreateBead").map((a) => a.name)).toEqual(["x-mr-1-rework-1"]);
    expect(beadStatus(p, "x-mr-1")).toMatchObject({ phase: "Open", reason: "WaitingForRework" });
    expect(reportStatus(p, "r-a")).toMatchObject({ outcome: "Applied" });
    expect(reportStatus(p, "r-b")).toMatchObject({ outcome: "Applied" });
  });

  it("creation time first: a Done created earlier merges, and the later RequestChanges is rejected", () => {
    const f = withObjects(refineryOnMR(), {
      reports: [
        report("r-a", { agent: REF, bead: "x-mr-1", type: "RequestChanges", feedback: "f" }, { created: NOW - SEC }),
        report("r-b", { agent: REF, bead: "x-mr-1", type: "Done" }, { created: NOW - 2 * SEC }),
      ],
    });
    const p = planAt(f, NOW);
    expect(beadStatus(p, "x-mr-1")).toMatchObject({ phase: "Closed", resolution: "Merged" });
    expect(ofType(p, "CreateBead")).toEqual([]);
    expect(reportStatus(p, "r-a")).toMatchObject({ outcome: "Rejected" });
  });

  // Case 4 of issue 8: a report carrying a session number the controller does not know (a buggy
  // or forged gt) held back every later report of that agent forever.
  const bogus = () =>
    withObjects(polecatOnX(), {
      agents: [polecat("gt-app-maple", { hook: "y", status: workingStatus("gt-app-maple", "y", { heartbeat: NOW }) })],
      beads: [issue("y", { phase: "InProgress", assignee: "gt-app-maple", attempts: 1 })],
      sessions: [pod("gt-app-maple", 1, { bead: "y" })],
      leases: [lease("gt-app-maple", { renewTime: NOW })],
      reports: [
        report(
          "r1",
          { agent: TOAST, bead: "x", type: "Checkpoint", data: "a", session: 7 },
          { created: NOW - 3 * SEC },
        ),
        report("r2", { agent: TOAST, bead: "x", type: "Done" }, { created: NOW - 2 * SEC }),
        report("r3", { agent: "gt-app-maple", bead: "y", type: "Done" }, { created: NOW - SEC }),
      ],
    });

  it("a report from a session the agent never ran waits, bounded, without holding back its known sessions", () => {
    const p = planAt(bogus(), NOW);
    expect(reportStatus(p, "r1")).toBeUndefined();
    expect(reportStatus(p, "r2")).toMatchObject({ outcome: "Applied" });
    expect(beadStatus(p, "x")?.phase).toBe("InReview");
    expect(reportStatus(p, "r3")).toMatchObject({ outcome: "Applied" });
    expect(p.nextWakeAt).toBeLessThanOrEqual(NOW - 3 * SEC + 5 * MIN + 1);
  });

  it("... and is rejected with its reason once timeouts.unknownSessionReport has passed", () => {
    const at = NOW - 3 * SEC + 5 * MIN + 1;
    const p = planAt(bogus(), at);
    expect(reportStatus(p, "r1")).toMatchObject({ outcome: "Rejected" });
    expect(String(reportStatus(p, "r1")?.error)).toContain("session 7, which agent gt-app-toast never ran");
  });

  it("a report from a newer session that is running (its Working write was lost) waits and keeps the hook", () => {
    const f = withObjects(polecatOnX(), {
      agents: [polecat(TOAST, { hook: "x", status: { phase: "Idle", session: 1, idleSince: iso(NOW - MIN) } })],
      sessions: [pod(TOAST, 2, { bead: "x", started: NOW - 30 * SEC })],
      reports: [report("r1", { agent: TOAST, bead: "x", type: "Done", session: 2 }, { created: NOW - SEC })],
    });
    const p = planAt(f, NOW);
    expect(reportStatus(p, "r1")).toBeUndefined();
    // The session is adopted in the same plan; the report applies in the next.
    expect(agentStatus(p, TOAST)).toMatchObject({ phase: "Working", session: 2 });
    expect(ofType(p, "SetHook")).toEqual([]);
  });

  // Found by the crash-safety test under load: the operator died between a session's pod and its
  // Working write, and the session reported Done and exited before the next operator planned.
  // The report waited as from a session nobody ran; the bead was redone and charged, and the
  // report later rejected. Five such kills in a row failed a bead that had done its work.
  it("a report from a newer session that has already ended adopts that session; the report applies in the next plan", () => {
    const ended = withObjects(polecatOnX(), {
      agents: [polecat(TOAST, { hook: "x", status: { phase: "Idle", session: 1, idleSince: iso(NOW - MIN) } })],
      sessions: [pod(TOAST, 2, { bead: "x", started: NOW - 30 * SEC, phase: "Succeeded" })],
      reports: [report("r1", { agent: TOAST, bead: "x", type: "Done", session: 2 }, { created: NOW - SEC })],
    });
    const p = planAt(ended, NOW);
    expect(agentStatus(p, TOAST)).toMatchObject({ phase: "Working", session: 2, pod: `${TOAST}-2` });
    // Neither interrupted nor ended without Done: the bead keeps its claim and its attempts.
    expect(beadStatus(p, "x")).not.toHaveProperty("phase");
    expect(beadStatus(p, "x")).not.toHaveProperty("attempts");
    expect(ofType(p, "StopSession")).toEqual([]);
    expect(reportStatus(p, "r1")).toBeUndefined();

    const adopted = withObjects(ended, {
      agents: [polecat(TOAST, { hook: "x", status: workingStatus(TOAST, "x", { session: 2 }) })],
    });
    const next = planAt(adopted, NOW + SEC);
    expect(reportStatus(next, "r1")).toMatchObject({ outcome: "Applied" });
    expect(beadStatus(next, "x")).toMatchObject({ phase: "InReview" });
  });

  it("an ended newer session without a report of it is not adopted", () => {
    const p = planAt(
      withObjects(polecatOnX(), {
        agents: [polecat(TOAST, { hook: "x", status: { phase: "Idle", session: 1, idleSince: iso(NOW - MIN) } })],
        sessions: [pod(TOAST, 2, { bead: "x", started: NOW - 30 * SEC, phase: "Succeeded" })],
      }),
      NOW,
    );
    expect(agentStatus(p, TOAST)?.phase).not.toBe("Working");
  });
});

describe("retry and poisoning of a report whose writes failed", () => {
  const L = NOW - 5 * MIN;
  const failing = (attempts: number, lastAttempt: number | undefined) =>
    report(
      "r",
      { agent: TOAST, bead: "x", type: "Done" },
      {
        status: {
          attempts,
          ...(lastAttempt === undefined ? {} : { lastAttemptTime: iso(lastAttempt) }),
          error: "webhook denied",
        },
      },
    );

  it.each([
    { attempts: 1, delay: 10 * SEC, limits: {} },
    { attempts: 2, delay: 20 * SEC, limits: {} },
    { attempts: 3, delay: 40 * SEC, limits: { maxReportAttempts: 5 } },
    { attempts: 4, delay: 80 * SEC, limits: { maxReportAttempts: 5 } },
  ])("after $attempts attempts: waits until lastAttempt + $delay ms, then applies", ({ attempts, delay, limits }) => {
    const f = withObjects(polecatOnX(), { town: town({ limits }), reports: [failing(attempts, L)] });
    const before = planAt(withObjects(f, { leases: [lease(TOAST, { renewTime: L + delay - 1 })] }), L + delay - 1);
    expect(reportStatus(before, "r")).toBeUndefined();
    expect(beadStatus(before, "x")?.phase).toBeUndefined();
    expect(before.nextWakeAt).toBe(L + delay);
    const at = planAt(withObjects(f, { leases: [lease(TOAST, { renewTime: L + delay })] }), L + delay);
    expect(reportStatus(at, "r")).toMatchObject({ outcome: "Applied" });
    expect(beadStatus(at, "x")).toMatchObject({ phase: "InReview" });
  });

  it("a failed report without lastAttemptTime is due at once", () => {
    const p = planAt(withObjects(polecatOnX(), { reports: [failing(1, undefined)] }), NOW);
    expect(reportStatus(p, "r")).toMatchObject({ outcome: "Applied" });
  });

  it.each([
    { attempts: 3, limits: {}, poisoned: true },
    { attempts: 4, limits: {}, poisoned: true },
    { attempts: 2, limits: { maxReportAttempts: 2 }, poisoned: true },
    { attempts: 2, limits: {}, poisoned: false },
  ])("$attempts attempts with limits $limits: poisoned = $poisoned", ({ attempts, limits, poisoned }) => {
    const f = withObjects(polecatOnX(), { town: town({ limits }), reports: [failing(attempts, L)] });
    const p = planAt(f, NOW);
    if (!poisoned) {
      expect(reportStatus(p, "r")).toMatchObject({ outcome: "Applied" });
      return;
    }
    expect(causedBy(p, "r")).toEqual([
      {
        type: "UpdateReportStatus",
        name: "r",
        resourceVersion: "rv-r",
        status: { outcome: "Poisoned", processedAt: iso(NOW) },
        events: [
          {
            reason: "ReportPoisoned",
            message: `gave up after ${attempts} failed attempts: webhook denied`,
            warning: true,
          },
        ],
      },
    ]);
    // Kept, not applied: the issue is still in progress and the agent still hooked.
    expect(beadStatus(p, "x")?.phase).toBeUndefined();
    expect(ofType(p, "SetHook")).toEqual([]);
  });

  it("a report waiting for its retry keeps the agent's hook even when the hook is no longer valid", () => {
    const idle = polecat(TOAST, { hook: "x", status: { phase: "Idle", session: 1, idleSince: iso(NOW) } });
    const base = withObjects(polecatOnX(), {
      beads: [issue("x", { phase: "InReview", assignee: TOAST, attempts: 1 })],
      agents: [idle],
      sessions: [],
    });
    const waiting = planAt(withObjects(base, { reports: [failing(1, NOW)] }), NOW);
    expect(ofType(waiting, "SetHook")).toEqual([]);
    const without = planAt(base, NOW);
    expect(ofType(without, "SetHook")).toMatchObject([{ agent: TOAST, hook: null, why: { reason: "Unhooked" } }]);
  });
});

describe("effects are exactly the report's", () => {
  it("a polecat Done makes no other writes than its own (plus derived status)", () => {
    const p = planAt(
      withObjects(polecatOnX(), { reports: [report("r", { agent: TOAST, bead: "x", type: "Done" })] }),
      NOW,
    );
    expect(effects(p)).toEqual(causedBy(p, "r"));
    expect(agentStatus(p, TOAST)).toMatchObject({ phase: "Idle" });
  });
});
