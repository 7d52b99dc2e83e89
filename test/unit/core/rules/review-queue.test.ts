// §5.4 The review queue: pop the queue, pull-request polling (merged, closed, orphaned, back-off),
// stuck and abandoned direct reviews, refinery retry with back-off and cap, rework return.
import { describe, expect, it } from "vitest";
import type { Bead } from "../../../../src/api/bead.ts";
import {
  BACKOFF_STEPS,
  beadStatus,
  conditionsOf,
  effects,
  type Fixture,
  HOUR,
  iso,
  issue,
  type Limits,
  lease,
  MIN,
  mergeRequest,
  ofType,
  planAt,
  pod,
  polecat,
  prRig,
  reasons,
  refinery,
  rework,
  SEC,
  T0,
  town,
  withObjects,
  workingStatus,
} from "../builders.ts";

const REF = "gt-app-refinery";
const P = T0 + 10 * MIN;
const URL = "https://forge.example/pr/1";

const reviewedBy = (p: ReturnType<typeof planAt>) => ofType(p, "StartSession").map((a) => [a.agent, a.bead]);
const freeRefinery = (session = 0) => refinery({ status: { phase: "Idle", session, idleSince: iso(P) } });

describe("pop the queue", () => {
  it("the oldest Open merge request of a rig gets the rig's refinery (created when missing)", () => {
    const p = planAt(
      {
        town: town({ rigs: [{ name: "app", gates: ["npm test"] }] }),
        beads: [
          mergeRequest("x-mr-1", "x", { created: T0 + SEC }),
          mergeRequest("y-mr-1", "y", { created: T0 }),
          issue("x", { phase: "InReview", since: P }),
          issue("y", { phase: "InReview", since: P }),
        ],
      },
      P,
    );
    expect(effects(p)).toMatchObject([
      { type: "CreateAgent", name: REF, role: "Refinery", rig: "app", why: { reason: "RefineryCreated" } },
      // The refinery is hooked before the claim: its resourceVersion is the per-rig review lock.
      { type: "SetHook", agent: REF, resourceVersion: "", hook: "y-mr-1", why: { reason: "ReviewStarted" } },
      {
        type: "UpdateBeadStatus",
        name: "y-mr-1",
        status: {
          phase: "InProgress",
          lastPhaseTransitionTime: iso(P),
          assignee: REF,
          dispatchAttempts: 1,
          lastDispatchTime: iso(P),
          branch: "gt/app/y",
          reason: "ReviewStarted",
        },
      },
      {
        type: "StartSession",
        agent: REF,
        role: "Refinery",
        rig: "app",
        session: 1,
        pod: `${REF}-1`,
        bead: "y-mr-1",
        context: {
          beadTitle: "bead y-mr-1",
          branch: "gt/app/y",
          baseBranch: "main",
          targetBranch: "main",
          mergeStrategy: "Direct",
          gates: ["npm test"],
        },
      },
      { type: "UpdateAgentStatus", name: REF, status: { phase: "Working", session: 1, pod: `${REF}-1` } },
    ]);
  });

  it("an Idle, unhooked refinery is reused; its session number follows its highest pod", () => {
    const p = planAt(
      {
        beads: [mergeRequest("x-mr-1", "x")],
        agents: [freeRefinery(2)],
        sessions: [pod(REF, 4, { phase: "Succeeded", finished: P })],
      },
      P,
    );
    expect(ofType(p, "CreateAgent")).toEqual([]);
    expect(ofType(p, "StartSession")).toMatchObject([{ agent: REF, session: 5, pod: `${REF}-5`, bead: "x-mr-1" }]);
  });

  it("a pull-request rig's refinery is told its strategy", () => {
    const p = planAt({ town: town({ rigs: [prRig()] }), beads: [mergeRequest("x-mr-1", "x")] }, P);
    expect(ofType(p, "StartSession")[0]?.context.mergeStrategy).toBe("PullRequest");
  });

  const blocked: { name: string; fixture: Fixture }[] = [
    {
      name: "a direct review is InProgress on the rig",
      fixture: {
        beads: [
          mergeRequest("x-mr-1", "x"),
          mergeRequest("z-mr-1", "z", { phase: "InProgress", assignee: REF, attempts: 1, since: P }),
        ],
        agents: [refinery({ hook: "z-mr-1", status: workingStatus(REF, "z-mr-1", { start: P }) })],
        sessions: [pod(REF, 1, { bead: "z-mr-1", created: P })],
      },
    },
    {
      name: "the refinery is still running a session",
      fixture: {
        beads: [mergeRequest("x-mr-1", "x")],
        agents: [freeRefinery(1)],
        sessions: [pod(REF, 1, { bead: "old", created: P })],
      },
    },
    {
      name: "the refinery is being deleted",
      fixture: {
        beads: [mergeRequest("x-mr-1", "x")],
        agents: [refinery({ deleting: true, status: { phase: "Idle", session: 1, idleSince: iso(P) } })],
      },
    },
    { name: "the town is suspended", fixture: { town: town({ suspend: true }), beads: [mergeRequest("x-mr-1", "x")] } },
    { name: "the rig is unknown", fixture: { beads: [mergeRequest("x-mr-1", "x", { spec: { rig: "nope" } })] } },
    {
      name: "its only Open merge request waits for an open rework",
      fixture: {
        beads: [mergeRequest("x-mr-1", "x"), rework("x-mr-1-rework-1", "x-mr-1", { phase: "InProgress", since: P })],
        agents: [freeRefinery(1)],
      },
    },
  ];

  it.each(blocked)("nothing is popped when $name", ({ fixture }) => {
    const p = planAt(fixture, P);
    expect(ofType(p, "StartSession").filter((a) => a.bead === "x-mr-1")).toEqual([]);
    expect(beadStatus(p, "x-mr-1")?.phase).toBeUndefined();
  });

  it("merge requests created at the same time are taken by name", () => {
    const p = planAt(
      { beads: [mergeRequest("y-mr-1", "y"), mergeRequest("x-mr-1", "x"), mergeRequest("z-mr-1", "z")] },
      P,
    );
    expect(reviewedBy(p)).toEqual([[REF, "x-mr-1"]]);
  });

  it("pull-request reviews never block the queue", () => {
    const p = planAt(
      {
        town: town({ rigs: [prRig()] }),
        beads: [
          mergeRequest("x-mr-1", "x", { created: P }),
          mergeRequest("z-mr-1", "z", {
            phase: "InProgress",
            since: P,
            created: T0,
            status: { prURL: URL, pullRequest: { lastAttemptTime: iso(P), lastPolledTime: iso(P) } },
          }),
        ],
        agents: [freeRefinery(1)],
      },
      P,
    );
    expect(reviewedBy(p)).toEqual([[REF, "x-mr-1"]]);
  });

  it("merge requests waiting for rework are skipped (WaitingForRework); the next one is reviewed", () => {
    const p = planAt(
      {
        beads: [
          mergeRequest("x-mr-1", "x", { created: T0 }),
          rework("x-mr-1-rework-1", "x-mr-1", { phase: "InProgress", since: P }),
          mergeRequest("y-mr-1", "y", { created: T0 + SEC }),
        ],
        agents: [freeRefinery(1)],
      },
      P,
    );
    expect(reviewedBy(p)).toEqual([[REF, "y-mr-1"]]);
    expect(conditionsOf(p, "Bead", "x-mr-1").Ready).toMatchObject({
      status: "False",
      reason: "WaitingForRework",
      message: "waiting for x-mr-1-rework-1",
    });
  });

  it("a merge request whose rework is done is reviewed again", () => {
    const p = planAt(
      {
        beads: [
          mergeRequest("x-mr-1", "x", { attempts: 1 }),
          rework("x-mr-1-rework-1", "x-mr-1", { phase: "Closed", status: { resolution: "ReworkDone" } }),
        ],
        agents: [freeRefinery(1)],
      },
      P,
    );
    expect(reviewedBy(p)).toEqual([[REF, "x-mr-1"]]);
    expect(beadStatus(p, "x-mr-1")).toMatchObject({ phase: "InProgress", dispatchAttempts: 2 });
  });
});

/** x-mr-1 under pull-request review since P; x InReview. */
function pullRequest(pr: NonNullable<Bead["status"]>["pullRequest"], extra: Fixture = {}): Fixture {
  return withObjects(
    {
      town: town({ rigs: [prRig()] }),
      beads: [
        issue("x", { phase: "InReview", assignee: "gt-app-toast", attempts: 1, since: P }),
        mergeRequest("x-mr-1", "x", {
          phase: "InProgress",
          attempts: 1,
          since: P,
          status: { prURL: URL, pullRequest: pr },
        }),
      ],
    },
    extra,
  );
}

describe("pull requests", () => {
  it("merged: the merge request closes with the forge's merge commit, and so does its source", () => {
    const p = planAt(pullRequest({ state: "Merged", mergeCommit: "def5678", lastPolledTime: iso(P) }), P + MIN);
    expect(effects(p)).toMatchObject([
      {
        type: "UpdateBeadStatus",
        name: "x-mr-1",
        status: { phase: "Closed", resolution: "Merged", mergeCommit: "def5678", reason: "Merged" },
        events: expect.arrayContaining([{ reason: "Merged", message: `pull request ${URL} was merged` }]),
      },
      {
        type: "UpdateBeadStatus",
        name: "x",
        status: { phase: "Closed", resolution: "Merged", mergedBy: "x-mr-1", reason: "Merged" },
      },
    ]);
  });

  it("closed unmerged: the review fails and the source is reopened unassigned", () => {
    const p = planAt(pullRequest({ state: "Closed", lastPolledTime: iso(P) }), P + MIN);
    expect(beadStatus(p, "x-mr-1")).toMatchObject({
      phase: "Failed",
      resolution: "ReviewFailed",
      reason: `pull request ${URL} was closed without merging`,
    });
    expect(reasons(p, "x")).toContain("Reopened");
    expect(ofType(p, "PollPullRequest")).toEqual([]);
  });

  it.each([
    { errors: 0, delay: 30 * SEC },
    { errors: 1, delay: 60 * SEC },
    { errors: 3, delay: 240 * SEC },
    { errors: 5, delay: 960 * SEC },
    { errors: 9, delay: 960 * SEC },
  ])("with $errors consecutive errors the next poll is due $delay ms after the last attempt", ({ errors, delay }) => {
    const L = P + 5 * MIN;
    const f = pullRequest({ lastPolledTime: iso(P), lastAttemptTime: iso(L), consecutiveErrors: errors });
    const before = planAt(f, L + delay - 1);
    expect(effects(before)).toEqual([]);
    expect(before.nextWakeAt).toBe(L + delay);
    expect(effects(planAt(f, L + delay))).toEqual([
      {
        type: "PollPullRequest",
        bead: "x-mr-1",
        rig: "app",
        url: URL,
        why: { reason: "PollPullRequest", message: `checking ${URL}` },
      },
    ]);
  });

  it("a pull request never polled is polled at once", () => {
    expect(ofType(planAt(pullRequest(undefined), P), "PollPullRequest")).toHaveLength(1);
  });

  describe("orphaned: 30 min without a successful poll and no agent", () => {
    // The last attempt failed recently, so no poll is due at the boundary.
    const failing = (lastPolled?: number) =>
      pullRequest({
        ...(lastPolled === undefined ? {} : { lastPolledTime: iso(lastPolled) }),
        lastAttemptTime: iso(P + 29 * MIN),
        consecutiveErrors: 3,
      });

    it.each([
      { name: "never polled: counted from the phase transition", fixture: failing(), from: P, polls: 0 },
      // Here the next poll (P + 33 min) is already due at the boundary: it is asked for, and the
      // plan wakes at the orphan deadline.
      { name: "counted from the last successful poll", fixture: failing(P + 20 * MIN), from: P + 20 * MIN, polls: 1 },
    ])("$name", ({ fixture, from, polls }) => {
      const at = planAt(fixture, from + 30 * MIN);
      expect(beadStatus(at, "x-mr-1")?.phase).toBeUndefined();
      expect(ofType(at, "PollPullRequest")).toHaveLength(polls);
      expect(at.nextWakeAt).toBe(from + 30 * MIN + 1);
      const p = planAt(fixture, from + 30 * MIN + 1);
      expect(beadStatus(p, "x-mr-1")).toMatchObject({ phase: "Failed", resolution: "Orphaned" });
      expect(reasons(p, "x-mr-1")).toContain("PullRequestOrphaned");
      expect(ofType(p, "PollPullRequest")).toEqual([]);
      // The source is reopened unassigned, then dispatched afresh.
      expect(ofType(p, "UpdateBeadStatus").filter((a) => a.name === "x")[0]).toMatchObject({
        status: { phase: "Open", assignee: null, reason: "ReviewFailed" },
      });
    });

    it("an agent hooked to it keeps it alive", () => {
      const now = P + 60 * MIN;
      const f = withObjects(failing(), {
        agents: [refinery({ hook: "x-mr-1", status: workingStatus(REF, "x-mr-1", { start: now, heartbeat: now }) })],
        sessions: [pod(REF, 1, { bead: "x-mr-1", created: now })],
        leases: [lease(REF, { renewTime: now })],
      });
      expect(beadStatus(planAt(f, now), "x-mr-1")?.phase).toBeUndefined();
    });
  });
});

describe("stuck direct review (30 min, a refinery hooked but not Working)", () => {
  /** A Stalled refinery (GUPP stopped it) still hooked; its pod is terminating. */
  const stuck = (now: number): Fixture => ({
    beads: [mergeRequest("x-mr-1", "x", { phase: "InProgress", assignee: REF, attempts: 1, since: P })],
    agents: [refinery({ hook: "x-mr-1", status: { phase: "Stalled", session: 1, pod: `${REF}-1` } })],
    sessions: [pod(REF, 1, { bead: "x-mr-1", started: P, deleting: true })],
    leases: [lease(REF, { renewTime: now })],
  });

  it("nothing at phase + 30 min; the plan wakes 1 ms later", () => {
    const now = P + 30 * MIN;
    const p = planAt(stuck(now), now);
    expect(effects(p)).toEqual([]);
    expect(p.nextWakeAt).toBe(now + 1);
  });

  it("back to Open and the refinery released at phase + 30 min + 1 ms", () => {
    const now = P + 30 * MIN + 1;
    const p = planAt(stuck(now), now);
    expect(effects(p)).toMatchObject([
      {
        type: "UpdateBeadStatus",
        name: "x-mr-1",
        status: { phase: "Open", lastPhaseTransitionTime: iso(now), assignee: null, reason: "ReviewStuck" },
      },
      { type: "UpdateAgentStatus", name: REF, status: { phase: "Idle", idleSince: iso(now) } },
      { type: "SetHook", agent: REF, hook: null, why: { reason: "ReviewStuck" } },
    ]);
  });
});

describe("abandoned direct review (2 min, no agent hooked)", () => {
  const abandoned = (extra: Fixture = {}): Fixture =>
    withObjects({ beads: [mergeRequest("x-mr-1", "x", { phase: "InProgress", attempts: 1, since: P })] }, extra);

  it("nothing at phase + 2 min; the plan wakes 1 ms later", () => {
    const p = planAt(abandoned(), P + 2 * MIN);
    expect(effects(p)).toEqual([]);
    expect(p.nextWakeAt).toBe(P + 2 * MIN + 1);
  });

  it("back in the queue at phase + 2 min + 1 ms, and popped in the same plan", () => {
    const now = P + 2 * MIN + 1;
    const p = planAt(abandoned(), now);
    expect(effects(p)).toMatchObject([
      {
        type: "UpdateBeadStatus",
        name: "x-mr-1",
        status: { phase: "Open", lastPhaseTransitionTime: iso(now), reason: "ReviewAbandoned" },
        events: [{ reason: "ReviewAbandoned" }],
      },
      { type: "CreateAgent", name: REF },
      { type: "SetHook", agent: REF, hook: "x-mr-1" },
      {
        type: "UpdateBeadStatus",
        name: "x-mr-1",
        status: { phase: "InProgress", assignee: REF, dispatchAttempts: 2, reason: "ReviewStarted" },
      },
      { type: "StartSession", agent: REF, bead: "x-mr-1" },
      { type: "UpdateAgentStatus", name: REF, status: { phase: "Working" } },
    ]);
  });

  it("an open rework keeps it InProgress however old", () => {
    const p = planAt(
      abandoned({ beads: [rework("x-mr-1-rework-1", "x-mr-1", { phase: "InProgress", since: P + 60 * MIN })] }),
      P + 60 * MIN,
    );
    expect(beadStatus(p, "x-mr-1")?.phase).toBeUndefined();
  });

  it("a closed rework does not: this is how the merge request returns to the queue", () => {
    const p = planAt(
      abandoned({
        town: town({ suspend: true }),
        beads: [rework("x-mr-1-rework-1", "x-mr-1", { phase: "Closed", status: { resolution: "ReworkDone" } })],
      }),
      P + 2 * MIN + 1,
    );
    expect(beadStatus(p, "x-mr-1")).toMatchObject({ phase: "Open", reason: "ReviewAbandoned" });
  });
});

/** x-mr-1 InProgress assigned to the refinery, which is Idle and hooked: its session `attempts` ended at E. */
function refineryLost(
  attempts: number,
  o: { limits?: Limits; exit?: boolean; idleSince?: number; suspend?: boolean } = {},
): Fixture {
  const E = P + MIN;
  return {
    town: town({ limits: o.limits, suspend: o.suspend }),
    beads: [
      issue("x", { phase: "InReview", assignee: "gt-app-toast", attempts: 1, since: P }),
      mergeRequest("x-mr-1", "x", { phase: "InProgress", assignee: REF, attempts, since: P }),
    ],
    agents: [
      refinery({
        hook: "x-mr-1",
        status: {
          phase: "Idle",
          session: attempts,
          idleSince: o.idleSince === undefined ? undefined : iso(o.idleSince),
          ...(o.exit === false ? {} : { lastSessionExit: { session: attempts, reason: "lost", time: iso(E) } }),
        },
      }),
    ],
    sessions: [pod(REF, attempts, { bead: "x-mr-1", phase: "Failed", exitCode: 1, finished: E })],
  };
}

describe("refinery retry: same back-off and cap as polecats", () => {
  const E = P + MIN;

  // Found by the crash-safety test under load: operators killed right after each restart's first
  // plan failed a merge request whose review sessions never existed ("5 review sessions ended
  // without a result"), and its issue was redone with a second merge request.
  /** The review dispatched at P (attempt `attempts`) never got its pod: the operator died first. */
  const cutShort = (attempts: number, o: { interrupted?: number; pod?: boolean } = {}): Fixture => ({
    beads: [
      issue("x", { phase: "InReview", assignee: "gt-app-toast", attempts: 1, since: P }),
      mergeRequest("x-mr-1", "x", {
        phase: "InProgress",
        assignee: REF,
        attempts,
        since: P,
        status: {
          lastDispatchTime: iso(P),
          sessionCharged: true,
          ...(o.interrupted ? { interruptedDispatches: o.interrupted } : {}),
        },
      }),
    ],
    agents: [
      refinery({
        hook: "x-mr-1",
        status: { phase: "Idle", session: 1, idleSince: iso(P - MIN), sessionStartTime: iso(P - 2 * MIN) },
      }),
    ],
    sessions: o.pod ? [pod(REF, 2, { bead: "x-mr-1", phase: "Failed", exitCode: 1, finished: E })] : [],
  });

  it("a review whose session never existed gets its attempt back, and is restarted even at the cap", () => {
    const p = planAt(cutShort(5), E + HOUR);
    expect(ofType(p, "StartSession")).toMatchObject([{ agent: REF, session: 2, bead: "x-mr-1" }]);
    expect(effects(p)[0]).toMatchObject({
      type: "UpdateBeadStatus",
      name: "x-mr-1",
      status: { interruptedDispatches: 1, reason: "ReviewRetried" },
    });
    // Given back, then charged again by the new session: still 5, so unchanged in the patch.
    expect(beadStatus(p, "x-mr-1")).not.toHaveProperty("dispatchAttempts");
    expect(ofType(p, "StartSession")[0]?.why.message).toContain(
      "its session never started, so the attempt is given back (1 of 5)",
    );
  });

  it.each([
    { name: "its session existed (a pod of it)", fixture: cutShort(5, { pod: true }) },
    { name: "every refund was already given", fixture: cutShort(5, { interrupted: 5 }) },
  ])("a review is charged when $name: at the cap it fails", ({ fixture }) => {
    const p = planAt(fixture, E + HOUR);
    expect(ofType(p, "StartSession")).toEqual([]);
    expect(beadStatus(p, "x-mr-1")).toMatchObject({ phase: "Failed", resolution: "MaxDispatchAttempts" });
  });

  it.each(BACKOFF_STEPS)(
    "after $attempts attempts: waits $backoff ms from the session's exit, then restarts the review",
    ({ attempts, backoff, limits }) => {
      const f = refineryLost(attempts, { limits });
      const before = planAt(f, E + backoff - 1);
      expect(effects(before)).toEqual([]);
      expect(before.nextWakeAt).toBe(E + backoff);
      const p = planAt(f, E + backoff);
      expect(effects(p)).toMatchObject([
        {
          type: "UpdateBeadStatus",
          name: "x-mr-1",
          status: {
            lastPhaseTransitionTime: iso(E + backoff),
            dispatchAttempts: attempts + 1,
            lastDispatchTime: iso(E + backoff),
            reason: "ReviewRetried",
          },
        },
        { type: "StartSession", agent: REF, session: attempts + 1, bead: "x-mr-1", why: { reason: "ReviewRetried" } },
        { type: "UpdateAgentStatus", name: REF, status: { phase: "Working", session: attempts + 1 } },
      ]);
    },
  );

  it.each([
    {
      name: "no session exit recorded: from idleSince",
      fixture: refineryLost(1, { exit: false, idleSince: P + 3 * MIN }),
      from: P + 3 * MIN,
    },
    { name: "neither: from the merge request's phase transition", fixture: refineryLost(1, { exit: false }), from: P },
  ])("back-off start $name", ({ fixture, from }) => {
    const before = planAt(fixture, from + 2 * MIN - 1);
    expect(ofType(before, "StartSession")).toEqual([]);
    expect(before.nextWakeAt).toBe(from + 2 * MIN);
    expect(ofType(planAt(fixture, from + 2 * MIN), "StartSession")).toHaveLength(1);
  });

  it.each([
    { attempts: 5, limits: {} },
    { attempts: 2, limits: { maxDispatchAttempts: 2 } },
  ])(
    "at the cap ($attempts attempts) the merge request fails, its source is reopened, the refinery released",
    ({ attempts, limits }) => {
      const p = planAt(refineryLost(attempts, { limits }), E);
      // The reopened source is redone after its back-off: a back-off lies between every two sessions.
      expect(ofType(p, "StartSession")).toEqual([]);
      expect(effects(p).slice(0, 3)).toMatchObject([
        {
          type: "UpdateBeadStatus",
          name: "x-mr-1",
          status: {
            phase: "Failed",
            resolution: "MaxDispatchAttempts",
            reason: `x-mr-1 failed: ${attempts} review sessions ended without a result`,
          },
        },
        { type: "UpdateBeadStatus", name: "x", status: { phase: "Open", assignee: null, reason: "ReviewFailed" } },
        { type: "SetHook", agent: REF, hook: null, why: { reason: "MaxDispatchAttempts" } },
      ]);
    },
  );

  it("no retry while the town is suspended", () => {
    const p = planAt(refineryLost(1, { suspend: true }), E + 60 * MIN);
    expect(effects(p)).toEqual([]);
  });

  it("a refinery that asked for changes is released and the merge request waits for the rework", () => {
    const p = planAt(
      withObjects(refineryLost(1), { beads: [rework("x-mr-1-rework-1", "x-mr-1", { phase: "Open", since: E })] }),
      E,
    );
    expect(
      effects(p).filter((a) => a.type !== "CreateAgent" && !("bead" in a && a.bead === "x-mr-1-rework-1")),
    ).toMatchObject([
      {
        type: "UpdateBeadStatus",
        name: "x-mr-1",
        status: { phase: "Open", assignee: null, reason: "WaitingForRework" },
      },
      { type: "SetHook", agent: REF, hook: null, why: { reason: "WaitingForRework" } },
      // The rework itself is dispatched to a polecat in the same plan.
      { type: "UpdateBeadStatus", name: "x-mr-1-rework-1", status: { phase: "InProgress" } },
      { type: "SetHook", agent: "gt-app-toast", hook: "x-mr-1-rework-1" },
      { type: "UpdateAgentStatus", name: "gt-app-toast" },
    ]);
  });
});

describe("rework", () => {
  it("a rework bead is dispatched on the merge request's branch with its feedback", () => {
    const p = planAt(
      {
        beads: [
          mergeRequest("x-mr-1", "x", { phase: "Open", since: P }),
          rework("x-mr-1-rework-1", "x-mr-1", { spec: { feedback: "add tests", files: ["a.ts"] } }),
        ],
        agents: [polecat("gt-app-toast", { status: { phase: "Idle", session: 1, idleSince: iso(P) } })],
      },
      P,
    );
    expect(ofType(p, "StartSession")).toMatchObject([
      {
        agent: "gt-app-toast",
        bead: "x-mr-1-rework-1",
        context: {
          branch: "gt/app/x",
          baseBranch: "gt/app/x",
          targetBranch: "main",
          reworkOf: "x-mr-1",
          feedback: "add tests",
          files: ["a.ts"],
        },
      },
    ]);
  });
});
