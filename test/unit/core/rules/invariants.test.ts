// §5.8 Invariants: each of the 8 is detected, and none is reported for the transient states the
// design allows (claim before hook, hook before claim, startup and review grace periods).
import { describe, expect, it } from "vitest";
import { checkInvariants, INVARIANTS } from "../../../../src/core/invariants.ts";
import {
  convoyOf,
  type Fixture,
  iso,
  issue,
  landingMR,
  lease,
  MIN,
  mergeRequest,
  planAt,
  pod,
  polecat,
  refinery,
  report,
  rework,
  SEC,
  snapshotOf,
  T0,
  workingStatus,
} from "../builders.ts";

const TOAST = "gt-app-toast";
const MAPLE = "gt-app-maple";
const NOW = T0 + 30 * MIN;
const idle = (name: string, hook?: string) =>
  polecat(name, { hook, status: { phase: "Idle", session: 1, idleSince: iso(NOW) } });
const merged = { resolution: "Merged" as const };

interface Row {
  name: string;
  fixture: Fixture;
  now?: number;
  found: [number, string][];
}

const rows: Row[] = [
  // 1
  {
    name: "1: two agents hooked to one bead",
    fixture: { beads: [issue("x", { phase: "InProgress", since: NOW })], agents: [idle(TOAST, "x"), idle(MAPLE, "x")] },
    found: [[1, "x"]],
  },
  {
    name: "1: a hooked agent that is not the bead's assignee",
    fixture: { beads: [issue("x", { phase: "InProgress", assignee: MAPLE, since: NOW })], agents: [idle(TOAST, "x")] },
    found: [[1, "x"]],
  },
  {
    name: "1 allowed: hooked to an unassigned bead (refinery hooks before it claims)",
    fixture: { beads: [mergeRequest("x-mr-1", "x")], agents: [refinery({ hook: "x-mr-1" })] },
    found: [],
  },
  {
    name: "1 allowed: an assigned bead nobody is hooked to yet (polecat claims before it hooks)",
    fixture: { beads: [issue("x", { phase: "InProgress", assignee: TOAST, since: NOW })], agents: [idle(TOAST)] },
    found: [],
  },
  {
    name: "1 allowed: a terminal bead assigned to another agent",
    fixture: {
      beads: [issue("x", { phase: "Failed", assignee: MAPLE, status: { resolution: "Cancelled" } })],
      agents: [idle(TOAST, "x")],
    },
    found: [],
  },
  // 2
  {
    name: "2: a Working agent without a hook",
    fixture: {
      agents: [polecat(TOAST, { status: workingStatus(TOAST, "x", { start: NOW }) })],
      sessions: [pod(TOAST, 1, { created: NOW })],
    },
    found: [[2, TOAST]],
  },
  {
    name: "2: Working with no live session, heartbeatTimeout + startupGrace + 1 ms after the session start",
    fixture: {
      beads: [issue("x", { phase: "InProgress", assignee: TOAST, since: T0 })],
      agents: [polecat(TOAST, { hook: "x", status: workingStatus(TOAST, "x", { start: T0 }) })],
    },
    now: T0 + 270 * SEC + 1,
    found: [[2, TOAST]],
  },
  {
    name: "2 allowed: Working with no live session, exactly heartbeatTimeout + startupGrace after the start",
    fixture: {
      beads: [issue("x", { phase: "InProgress", assignee: TOAST, since: T0 })],
      agents: [polecat(TOAST, { hook: "x", status: workingStatus(TOAST, "x", { start: T0 }) })],
    },
    now: T0 + 270 * SEC,
    found: [],
  },
  {
    name: "2 allowed: the session just finished (grace from its finish time)",
    fixture: {
      beads: [issue("x", { phase: "InProgress", assignee: TOAST, since: T0 })],
      agents: [polecat(TOAST, { hook: "x", status: workingStatus(TOAST, "x", { start: T0 }) })],
      sessions: [pod(TOAST, 1, { bead: "x", phase: "Failed", finished: NOW - 270 * SEC })],
    },
    found: [],
  },
  {
    name: "2 allowed: the session ended past the grace, but its Done waits to be applied (a busy operator)",
    fixture: {
      beads: [issue("x", { phase: "InProgress", assignee: TOAST, since: T0 })],
      agents: [polecat(TOAST, { hook: "x", status: workingStatus(TOAST, "x", { start: T0 }) })],
      sessions: [pod(TOAST, 1, { bead: "x", phase: "Succeeded", finished: NOW - 270 * SEC - 1 })],
      reports: [report("r", { agent: TOAST, bead: "x", type: "Done" })],
    },
    found: [],
  },
  {
    name: "2: ... and a report of an earlier session is no such excuse",
    fixture: {
      beads: [issue("x", { phase: "InProgress", assignee: TOAST, since: T0 })],
      agents: [polecat(TOAST, { hook: "x", status: workingStatus(TOAST, "x", { start: T0, session: 2 }) })],
      sessions: [pod(TOAST, 2, { bead: "x", phase: "Succeeded", finished: NOW - 270 * SEC - 1 })],
      reports: [report("r", { agent: TOAST, bead: "x", type: "Done", session: 1 })],
    },
    found: [[2, TOAST]],
  },
  {
    name: "2 allowed: a recent heartbeat (grace from the lease renewal)",
    fixture: {
      beads: [issue("x", { phase: "InProgress", assignee: TOAST, since: T0 })],
      agents: [polecat(TOAST, { hook: "x", status: workingStatus(TOAST, "x", { start: T0 }) })],
      leases: [lease(TOAST, { renewTime: NOW - 270 * SEC })],
    },
    found: [],
  },
  // 3
  {
    name: "3: two direct reviews InProgress on one rig",
    fixture: {
      beads: [
        mergeRequest("x-mr-1", "x", { phase: "InProgress", since: NOW }),
        mergeRequest("y-mr-1", "y", { phase: "InProgress", since: NOW }),
      ],
    },
    found: [[3, "app"]],
  },
  {
    name: "3 allowed: one direct review and one pull request",
    fixture: {
      beads: [
        mergeRequest("x-mr-1", "x", { phase: "InProgress", since: NOW }),
        mergeRequest("y-mr-1", "y", { phase: "InProgress", since: NOW, status: { prURL: "https://f/pr/1" } }),
      ],
    },
    found: [],
  },
  // 4
  {
    name: "4: InReview with no live merge request for more than 2 × orphanedInReview",
    fixture: { beads: [issue("x", { phase: "InReview", since: NOW - 10 * MIN - 1 })] },
    found: [[4, "x"]],
  },
  {
    name: "4 allowed: exactly 2 × orphanedInReview",
    fixture: { beads: [issue("x", { phase: "InReview", since: NOW - 10 * MIN })] },
    found: [],
  },
  {
    name: "4 allowed: the merge request failed recently (grace from its transition)",
    fixture: {
      beads: [
        issue("x", { phase: "InReview", since: T0 }),
        mergeRequest("x-mr-1", "x", { phase: "Failed", since: NOW - 10 * MIN, status: { resolution: "ReviewFailed" } }),
      ],
    },
    found: [],
  },
  {
    name: "4 allowed: a live merge request",
    fixture: { beads: [issue("x", { phase: "InReview", since: T0 }), mergeRequest("x-mr-1", "x", { since: T0 })] },
    found: [],
  },
  // 5
  {
    name: "5: two live landings",
    fixture: {
      convoys: [convoyOf("c", [{ name: "a" }])],
      beads: [landingMR("c-landing-1", "c"), landingMR("c-landing-2", "c", { phase: "InProgress", since: NOW })],
    },
    found: [[5, "c"]],
  },
  {
    name: "5: a Landed ReviewThenLand convoy without a merged landing",
    fixture: {
      convoys: [convoyOf("c", [{ name: "a" }], { status: { phase: "Landed" } })],
      beads: [landingMR("c-landing-1", "c", { phase: "Failed", status: { resolution: "ReviewFailed" } })],
    },
    found: [[5, "c"]],
  },
  {
    name: "5 allowed: one live landing after a failed one",
    fixture: {
      convoys: [convoyOf("c", [{ name: "a" }], { status: { phase: "Landing" } })],
      beads: [
        landingMR("c-landing-1", "c", { phase: "Failed", status: { resolution: "ReviewFailed" } }),
        landingMR("c-landing-2", "c"),
      ],
    },
    found: [],
  },
  {
    name: "5 allowed: a Landed ReviewAndMerge convoy has no landing",
    fixture: {
      convoys: [convoyOf("c", [{ name: "a" }], { mergeMode: "ReviewAndMerge", status: { phase: "Landed" } })],
    },
    found: [],
  },
  {
    name: "5 allowed: a Landed ReviewThenLand convoy whose landing merged",
    fixture: {
      convoys: [convoyOf("c", [{ name: "a" }], { status: { phase: "Landed" } })],
      beads: [landingMR("c-landing-1", "c", { phase: "Closed", status: merged })],
    },
    found: [],
  },
  // 6
  {
    name: "6: a merge request Closed without being merged",
    fixture: { beads: [mergeRequest("x-mr-1", "x", { phase: "Closed", status: { resolution: "ReviewFailed" } })] },
    found: [[6, "x-mr-1"]],
  },
  {
    name: "6: a merge request Superseded by one that did not merge",
    fixture: {
      beads: [
        mergeRequest("x-mr-1", "x", { phase: "Closed", status: { resolution: "Superseded", mergedBy: "x-mr-2" } }),
        mergeRequest("x-mr-2", "x", { phase: "Failed", status: { resolution: "ReviewFailed" } }),
      ],
    },
    found: [[6, "x-mr-1"]],
  },
  {
    name: "6: a merge request Closed with no resolution",
    fixture: { beads: [mergeRequest("x-mr-1", "x", { phase: "Closed" })] },
    found: [[6, "x-mr-1"]],
  },
  {
    name: "6: an issue Closed with no resolution",
    fixture: { beads: [issue("x", { phase: "Closed" })] },
    found: [[6, "x"]],
  },
  {
    name: "6: an issue Closed as Merged by a merge request that is not merged",
    fixture: {
      beads: [
        issue("x", { phase: "Closed", status: { resolution: "Merged", mergedBy: "x-mr-1" } }),
        mergeRequest("x-mr-1", "x", { phase: "InProgress", since: NOW }),
      ],
    },
    found: [[6, "x"]],
  },
  {
    name: "6: an issue Closed as Merged by a bead that is not a merge request",
    fixture: {
      beads: [
        issue("x", { phase: "Closed", status: { resolution: "Merged", mergedBy: "y" } }),
        issue("y", { phase: "Closed", status: merged }),
      ],
    },
    found: [
      [6, "x"],
      [6, "y"],
    ],
  },
  {
    name: "6: ReworkDone on an issue that is not a rework",
    fixture: { beads: [issue("x", { phase: "Closed", status: { resolution: "ReworkDone" } })] },
    found: [[6, "x"]],
  },
  {
    name: "6 allowed: merged MR, its issue, a superseded sibling, a finished rework, a cancelled bead",
    fixture: {
      beads: [
        issue("x", { phase: "Closed", status: { resolution: "Merged", mergedBy: "x-mr-2" } }),
        mergeRequest("x-mr-1", "x", { phase: "Closed", status: { resolution: "Superseded", mergedBy: "x-mr-2" } }),
        mergeRequest("x-mr-2", "x", { phase: "Closed", status: merged }),
        rework("x-mr-2-rework-1", "x-mr-2", { phase: "Closed", status: { resolution: "ReworkDone" } }),
        issue("y", { phase: "Failed", status: { resolution: "Cancelled" } }),
      ],
    },
    found: [],
  },
  // 7
  {
    name: "7: two live sessions of one agent",
    fixture: {
      agents: [idle(TOAST)],
      sessions: [pod(TOAST, 1, { bead: "a" }), pod(TOAST, 2, { bead: "b", phase: "Pending" })],
    },
    found: [[7, TOAST]],
  },
  {
    name: "7 allowed: a live session and finished ones",
    fixture: {
      agents: [idle(TOAST)],
      sessions: [pod(TOAST, 1, { phase: "Succeeded" }), pod(TOAST, 2, { phase: "Failed" }), pod(TOAST, 3)],
    },
    found: [],
  },
  // 8
  {
    name: "8: two live sessions for one bead",
    fixture: {
      agents: [idle(TOAST), idle(MAPLE)],
      sessions: [pod(TOAST, 1, { bead: "x" }), pod(MAPLE, 1, { bead: "x", phase: "Unknown" })],
    },
    found: [[8, "x"]],
  },
  {
    name: "8 allowed: a live and a finished session for one bead",
    fixture: {
      agents: [idle(TOAST), idle(MAPLE)],
      sessions: [pod(TOAST, 1, { bead: "x" }), pod(MAPLE, 1, { bead: "x", phase: "Succeeded" })],
    },
    found: [],
  },
];

describe("invariants", () => {
  it.each(rows)("$name", ({ fixture, now, found }) => {
    const violations = checkInvariants(snapshotOf(fixture), now ?? NOW);
    expect(violations.map((v) => [v.invariant, v.object])).toEqual(found);
    for (const v of violations) {
      expect(v.message.startsWith(`${INVARIANTS[v.invariant as keyof typeof INVARIANTS]}: `)).toBe(true);
    }
  });

  it("messages name the objects involved", () => {
    const [v] = checkInvariants(
      snapshotOf({
        beads: [issue("x", { phase: "InProgress", since: NOW })],
        agents: [idle(TOAST, "x"), idle(MAPLE, "x")],
      }),
      NOW,
    );
    expect(v?.message).toBe(`${INVARIANTS[1]}: x is hooked by ${TOAST}, ${MAPLE}`);
  });

  it("the plan reports the observed state's violations and the town lists them", () => {
    const p = planAt(
      {
        beads: [
          mergeRequest("x-mr-1", "x", { phase: "InProgress", since: NOW, status: { prURL: "https://f/1" } }),
          mergeRequest("y-mr-1", "y", { phase: "Closed", status: { resolution: "Orphaned" } }),
        ],
      },
      NOW,
    );
    expect(p.violations.map((v) => v.invariant)).toEqual([6]);
  });
});
