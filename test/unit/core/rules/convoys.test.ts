// §5.5 Convoys: validation (rejected as a whole), materialisation, progress, landing in both merge
// modes with at most one live landing and a capped number of attempts, staged convoys.
import { describe, expect, it } from "vitest";
import type { BeadPhase } from "../../../../src/api/bead.ts";
import type { Convoy } from "../../../../src/api/convoy.ts";
import { findCycle } from "../../../../src/core/rules/convoys.ts";
import {
  beadStatus,
  convoyOf,
  convoyStatus,
  type Fixture,
  iso,
  issue,
  landingMR,
  MIN,
  mergeRequest,
  ofType,
  planAt,
  T0,
  town,
} from "../builders.ts";

const NOW = T0 + 30 * MIN;

interface Row {
  beads: ReturnType<typeof issue>[];
  phase: string;
  progress: object;
  landing?: object;
  reason?: string;
  stalled?: string;
}

const failedMember = (name: string, resolution: "MaxDispatchAttempts" | "MaxReviewCycles", convoy = "c") =>
  issue(name, { phase: "Failed", since: T0, spec: { convoy }, status: { resolution } });

const member = (name: string, phase: BeadPhase, convoy = "c") =>
  issue(name, {
    phase,
    since: T0,
    spec: { convoy },
    status: phase === "Closed" ? { resolution: "Merged" } : phase === "Failed" ? { resolution: "Cancelled" } : {},
  });

describe("findCycle", () => {
  it.each([
    { tasks: [{ name: "a", dependsOn: [] }], cycle: undefined },
    {
      tasks: [
        { name: "a", dependsOn: [] },
        { name: "b", dependsOn: ["a"] },
        { name: "c", dependsOn: ["a", "b"] },
      ],
      cycle: undefined,
    },
    { tasks: [{ name: "a", dependsOn: ["a"] }], cycle: ["a", "a"] },
    {
      tasks: [
        { name: "a", dependsOn: ["b"] },
        { name: "b", dependsOn: ["a"] },
      ],
      cycle: ["a", "b", "a"],
    },
    {
      tasks: [
        { name: "d", dependsOn: [] },
        { name: "a", dependsOn: ["d", "b"] },
        { name: "b", dependsOn: ["c"] },
        { name: "c", dependsOn: ["a"] },
      ],
      cycle: ["a", "b", "c", "a"],
    },
    { tasks: [{ name: "a", dependsOn: ["missing"] }], cycle: undefined },
  ])("%j", ({ tasks, cycle }) => {
    expect(findCycle(tasks)).toEqual(cycle);
  });
});

describe("validation: an invalid convoy is rejected as a whole (Ready=False InvalidTasks, no beads)", () => {
  const rows: { name: string; convoy: Convoy; fixture?: Fixture; message: string }[] = [
    {
      name: "a dependency cycle",
      convoy: convoyOf("c", [{ name: "a", dependsOn: ["b"] }, { name: "b", dependsOn: ["a"] }, { name: "z" }]),
      message: "dependency cycle: a -> b -> a",
    },
    {
      name: "an unknown rig",
      convoy: convoyOf("c", [{ name: "a" }, { name: "b", rig: "nope" }], { mergeMode: "ReviewAndMerge" }),
      message: "unknown rig nope: town gt has rigs app",
    },
    {
      name: "an unknown task name",
      convoy: convoyOf("c", [{ name: "a" }, { name: "b", dependsOn: ["a", "zzz"] }]),
      message: "task b depends on unknown task zzz",
    },
    {
      name: "ReviewThenLand over two rigs",
      convoy: convoyOf("c", [{ name: "a" }, { name: "b", rig: "web" }]),
      fixture: { town: town({ rigs: [{ name: "app" }, { name: "web" }] }) },
      message: "a ReviewThenLand convoy lands one feature branch, so all its tasks must use the same rig",
    },
    {
      name: "a task bead name taken by a bead outside the convoy",
      convoy: convoyOf("c", [{ name: "a" }, { name: "b" }]),
      fixture: { beads: [issue("c-b")] },
      message: "bead c-b already exists outside this convoy; rename task b",
    },
    {
      name: "a task bead name taken by another convoy's bead",
      convoy: convoyOf("c", [{ name: "a" }]),
      fixture: { beads: [issue("c-a", { spec: { convoy: "other" } })] },
      message: "bead c-a already exists outside this convoy; rename task a",
    },
  ];

  it.each(rows)("$name", ({ convoy, fixture, message }) => {
    const c = { ...convoy, metadata: { ...convoy.metadata, generation: 3 } };
    const p = planAt({ ...fixture, convoys: [c] }, NOW);
    expect(ofType(p, "CreateBead")).toEqual([]);
    const write = ofType(p, "UpdateConvoyStatus");
    expect(write).toEqual([
      {
        type: "UpdateConvoyStatus",
        name: "c",
        resourceVersion: "rv-c",
        status: {
          conditions: [
            {
              type: "Ready",
              status: "False",
              reason: "InvalidTasks",
              message,
              lastTransitionTime: iso(NOW),
              observedGeneration: 3,
            },
            {
              type: "Stalled",
              status: "True",
              reason: "InvalidTasks",
              message,
              lastTransitionTime: iso(NOW),
              observedGeneration: 3,
            },
          ],
          observedGeneration: 3,
        },
        events: [{ reason: "InvalidTasks", message, warning: true }],
      },
    ]);
    // Recorded once: planning again from the written status changes nothing.
    const written = { ...c, status: write[0]?.status as Convoy["status"] };
    expect(ofType(planAt({ ...fixture, convoys: [written] }, NOW + MIN), "UpdateConvoyStatus")).toEqual([]);
  });

  it("ReviewAndMerge may span rigs", () => {
    const p = planAt(
      {
        town: town({ rigs: [{ name: "app" }, { name: "web" }] }),
        convoys: [convoyOf("c", [{ name: "a" }, { name: "b", rig: "web" }], { mergeMode: "ReviewAndMerge" })],
      },
      NOW,
    );
    expect(ofType(p, "CreateBead").map((a) => [a.name, a.spec.rig])).toEqual([
      ["c-a", "app"],
      ["c-b", "web"],
    ]);
  });
});

describe("materialisation", () => {
  it("each task becomes a bead owned by the convoy, with dependsOn mapped to bead names", () => {
    const p = planAt({ convoys: [convoyOf("c", [{ name: "a" }, { name: "b", dependsOn: ["a"], priority: 1 }])] }, NOW);
    expect(ofType(p, "CreateBead")).toEqual([
      {
        type: "CreateBead",
        name: "c-a",
        spec: {
          town: "gt",
          rig: "app",
          type: "Issue",
          title: "task a",
          description: "",
          priority: 2,
          labels: [],
          dependsOn: [],
          convoy: "c",
          cancel: false,
        },
        ownerConvoy: { name: "c", uid: "uid-c" },
        why: { reason: "TaskCreated", message: "task a of convoy c is bead c-a" },
      },
      expect.objectContaining({
        name: "c-b",
        spec: expect.objectContaining({ dependsOn: ["c-a"], priority: 1 }),
      }),
    ]);
    expect(convoyStatus(p, "c")).toMatchObject({
      phase: "Active",
      progress: { closed: 0, failed: 0, total: 2, summary: "0/2" },
      featureBranch: "convoy/c",
    });
  });

  it("existing task beads are not created again", () => {
    const p = planAt(
      { convoys: [convoyOf("c", [{ name: "a" }, { name: "b" }])], beads: [member("c-a", "InProgress")] },
      NOW,
    );
    expect(ofType(p, "CreateBead").map((a) => a.name)).toEqual(["c-b"]);
  });

  it("a ReviewAndMerge convoy has no feature branch", () => {
    const p = planAt({ convoys: [convoyOf("c", [{ name: "a" }], { mergeMode: "ReviewAndMerge" })] }, NOW);
    expect(convoyStatus(p, "c")?.featureBranch).toBeUndefined();
  });

  it("a convoy being deleted is left alone", () => {
    const p = planAt({ convoys: [convoyOf("c", [{ name: "a" }], { deleting: true })] }, NOW);
    expect(ofType(p, "CreateBead")).toEqual([]);
    expect(ofType(p, "UpdateConvoyStatus")).toEqual([]);
  });
});

describe("progress and completion", () => {
  const three = (mergeMode: "ReviewThenLand" | "ReviewAndMerge" = "ReviewAndMerge", status?: Convoy["status"]) =>
    convoyOf("c", [{ name: "a" }, { name: "b" }, { name: "d" }], { mergeMode, status });

  it.each([
    {
      name: "some members open",
      beads: [member("c-a", "Closed"), member("c-b", "Failed"), member("c-d", "InProgress")],
      phase: "Active",
      progress: { closed: 1, failed: 1, total: 3, summary: "1/3" },
    },
    {
      name: "all members terminal but a member's merge request is live",
      beads: [
        member("c-a", "Closed"),
        member("c-b", "Closed"),
        member("c-d", "Closed"),
        mergeRequest("c-d-mr-2", "c-d", { phase: "Open", spec: { convoy: "c" } }),
      ],
      phase: "Active",
      progress: { closed: 3, failed: 0, total: 3, summary: "3/3" },
    },
    {
      // Case 3 of issue 8: one failed task made the convoy Failed for good. It stays Active,
      // Stalled names the task, and the rest goes on.
      name: "all members terminal, one failed (not cancelled)",
      beads: [member("c-a", "Closed"), failedMember("c-b", "MaxDispatchAttempts"), member("c-d", "Closed")],
      phase: "Active",
      progress: { closed: 2, failed: 1, total: 3, summary: "2/3" },
      stalled: "TasksFailed",
    },
    {
      name: "all members terminal, one cancelled: the rest lands without it",
      beads: [member("c-a", "Closed"), member("c-b", "Failed"), member("c-d", "Closed")],
      phase: "Landed",
      progress: { closed: 2, failed: 1, total: 3, summary: "2/3" },
      landing: { attempts: 0, landedAt: iso(NOW) },
      reason: "ConvoyLanded",
    },
    {
      name: "every member cancelled",
      beads: [member("c-a", "Failed"), member("c-b", "Failed"), member("c-d", "Failed")],
      phase: "Failed",
      progress: { closed: 0, failed: 3, total: 3, summary: "0/3" },
      stalled: "AllTasksCancelled",
    },
    {
      name: "ReviewAndMerge: all members merged",
      beads: [member("c-a", "Closed"), member("c-b", "Closed"), member("c-d", "Closed")],
      phase: "Landed",
      progress: { closed: 3, failed: 0, total: 3, summary: "3/3" },
      landing: { attempts: 0, landedAt: iso(NOW) },
      reason: "ConvoyLanded",
    },
  ])("$name → $phase", ({ beads, phase, progress, landing, reason, stalled }: Row) => {
    const p = planAt({ convoys: [three()], beads }, NOW);
    const status = convoyStatus(p, "c");
    expect(status).toMatchObject({ phase, progress, ...(landing ? { landing } : {}) });
    const events = ofType(p, "UpdateConvoyStatus")[0]?.events.map((e) => e.reason);
    expect(events?.[0]).toBe(reason ?? `Convoy${phase}`);
    const conditions = Object.fromEntries(
      ((status?.conditions ?? []) as { type: string; reason: string; message: string }[]).map((c) => [c.type, c]),
    );
    expect(conditions.Ready).toMatchObject({ status: phase === "Landed" ? "True" : "False" });
    expect(conditions.Stalled?.reason).toBe(stalled);
    if (stalled === "TasksFailed") expect(conditions.Stalled?.message).toContain("c-b");
  });

  it("a Landed convoy with nothing new stays Landed and writes nothing", () => {
    const p = planAt(
      {
        convoys: [
          three("ReviewAndMerge", {
            phase: "Landed",
            progress: { closed: 3, failed: 0, total: 3, summary: "3/3" },
            landing: { attempts: 0, landedAt: iso(T0) },
            observedGeneration: 1,
            conditions: [
              {
                type: "Ready",
                status: "True",
                reason: "Landed",
                message: "all 3 merged tasks landed",
                lastTransitionTime: iso(T0),
                observedGeneration: 1,
              },
            ],
          }),
        ],
        beads: [member("c-a", "Closed"), member("c-b", "Closed"), member("c-d", "Closed")],
      },
      NOW,
    );
    expect(ofType(p, "UpdateConvoyStatus")).toEqual([]);
  });

  // Case 11 of issue 8: a task added to a Landed convoy merged into the feature branch and never
  // landed. The convoy goes back to Active and lands again with a new landing attempt.
  it("a Landed convoy with new open work is Active again, its old landings no longer counted", () => {
    const p = planAt(
      {
        convoys: [three("ReviewThenLand", { phase: "Landed", landing: { attempts: 1, bead: "c-landing-1" } })],
        beads: [member("c-a", "Closed"), member("c-b", "Closed"), member("c-d", "Open")],
      },
      NOW,
    );
    expect(convoyStatus(p, "c")).toMatchObject({ phase: "Active", landing: { attempts: 1, attemptsBefore: 1 } });
    expect(ofType(p, "UpdateConvoyStatus")[0]?.events.map((e) => e.reason)).toContain("ConvoyReopened");
  });

  // Found by the simulation (seed 808277806): a task added while the third landing ran. That
  // landing then failed, the cap (3) was spent, and after a person retried the new task and it
  // merged, the convoy failed "3 landing attempts failed" instead of landing it.
  it("new work while a landing runs: the attempts so far stop counting, so the work lands", () => {
    const landing = (n: number, phase: "Failed" | "InProgress") =>
      landingMR(`c-landing-${n}`, "c", {
        phase,
        created: T0 + n,
        status: phase === "Failed" ? { resolution: "ReviewFailed" } : {},
      });
    const landings = [landing(1, "Failed"), landing(2, "Failed"), landing(3, "InProgress")];
    const reopened = planAt(
      {
        town: town({ suspend: true, limits: { maxDispatchAttempts: 3 } }),
        convoys: [three("ReviewThenLand", { phase: "Landing", landing: { attempts: 3, bead: "c-landing-3" } })],
        beads: [member("c-a", "Closed"), member("c-b", "Closed"), member("c-d", "Open"), ...landings],
      },
      NOW,
    );
    expect(convoyStatus(reopened, "c")).toMatchObject({
      phase: "Active",
      landing: { attempts: 3, attemptsBefore: 3 },
    });
    const told = ofType(reopened, "UpdateConvoyStatus")[0]?.events ?? [];
    expect(told.find((e) => e.reason === "ConvoyReopened")?.message).toContain("while it was landing");

    // The landing in flight fails, the new task merges: a fourth landing, not LandingFailed.
    const p = planAt(
      {
        town: town({ suspend: true, limits: { maxDispatchAttempts: 3 } }),
        convoys: [three("ReviewThenLand", { phase: "Active", landing: { attempts: 3, attemptsBefore: 3 } })],
        beads: [
          member("c-a", "Closed"),
          member("c-b", "Closed"),
          member("c-d", "Closed"),
          ...landings.slice(0, 2),
          landing(3, "Failed"),
        ],
      },
      NOW,
    );
    expect(convoyStatus(p, "c")).toMatchObject({ phase: "Landing", landing: { attempts: 4, bead: "c-landing-4" } });
    expect(ofType(p, "CreateBead").map((a) => a.name)).toEqual(["c-landing-4"]);
  });
});

describe("ReviewThenLand landing", () => {
  const done = [member("c-a", "Closed"), member("c-b", "Closed")];
  const tasks = [{ name: "a" }, { name: "b" }];
  const landings = (phases: ("Failed" | "Open" | "InProgress" | "Merged")[]) =>
    phases.map((ph, i) =>
      landingMR(`c-landing-${i + 1}`, "c", {
        phase: ph === "Merged" ? "Closed" : ph,
        created: T0 + i,
        status: ph === "Merged" ? { resolution: "Merged" } : ph === "Failed" ? { resolution: "ReviewFailed" } : {},
      }),
    );

  it("all members merged into the feature branch: exactly one landing merge request is created", () => {
    const p = planAt(
      {
        town: town({ rigs: [{ name: "app", defaultBranch: "develop" }] }),
        convoys: [convoyOf("c", tasks)],
        beads: done,
      },
      NOW,
    );
    expect(ofType(p, "CreateBead")).toEqual([
      {
        type: "CreateBead",
        name: "c-landing-1",
        spec: {
          town: "gt",
          rig: "app",
          type: "MergeRequest",
          title: "Land convoy: convoy c",
          description: "",
          priority: 1,
          labels: [],
          dependsOn: [],
          source: { kind: "Convoy", name: "c" },
          branch: "convoy/c",
          targetBranch: "develop",
          convoy: "c",
          cancel: false,
        },
        ownerConvoy: { name: "c", uid: "uid-c" },
        why: { reason: "LandingStarted", message: "c-landing-1 lands convoy/c on develop" },
      },
    ]);
    expect(convoyStatus(p, "c")).toMatchObject({ phase: "Landing", landing: { attempts: 1, bead: "c-landing-1" } });
  });

  it.each([
    {
      name: "a live landing: no second one",
      prior: ["InProgress"],
      phase: "Landing",
      landing: { attempts: 1, bead: "c-landing-1" },
    },
    {
      name: "an Open landing: no second one",
      prior: ["Failed", "Open"],
      phase: "Landing",
      landing: { attempts: 2, bead: "c-landing-2" },
    },
    {
      name: "one failed: attempt 2",
      prior: ["Failed"],
      phase: "Landing",
      landing: { attempts: 2, bead: "c-landing-2" },
      creates: "c-landing-2",
    },
    {
      name: "four failed: attempt 5 (the cap)",
      prior: ["Failed", "Failed", "Failed", "Failed"],
      phase: "Landing",
      landing: { attempts: 5, bead: "c-landing-5" },
      creates: "c-landing-5",
    },
    {
      name: "five failed: the convoy fails",
      prior: ["Failed", "Failed", "Failed", "Failed", "Failed"],
      phase: "Failed",
      // The last landing's name is removed (sent as null: a merge patch would keep it).
      landing: { attempts: 5, bead: null },
      reason: "LandingFailed",
    },
    {
      name: "two failed with maxDispatchAttempts 2: the convoy fails",
      prior: ["Failed", "Failed"],
      phase: "Failed",
      landing: { attempts: 2, bead: null },
      limits: { maxDispatchAttempts: 2 },
      reason: "LandingFailed",
    },
    {
      name: "the second merged: Landed",
      prior: ["Failed", "Merged"],
      phase: "Landed",
      landing: { attempts: 2, bead: "c-landing-2", landedAt: iso(NOW) },
      reason: "ConvoyLanded",
    },
  ] as const)("$name", (row) => {
    const prior = [...row.prior];
    const c = convoyOf("c", tasks, {
      status: { phase: "Landing", landing: { attempts: prior.length, bead: `c-landing-${prior.length}` } },
    });
    const p = planAt(
      {
        town: town({ limits: "limits" in row ? row.limits : undefined }),
        convoys: [c],
        beads: [...done, ...landings(prior)],
      },
      NOW,
    );
    expect(ofType(p, "CreateBead").map((a) => a.name)).toEqual("creates" in row ? [row.creates] : []);
    const status = convoyStatus(p, "c");
    expect({ phase: status?.phase ?? "Landing", landing: status?.landing ?? c.status?.landing }).toEqual({
      phase: row.phase,
      landing: row.landing,
    });
    if ("reason" in row) expect(ofType(p, "UpdateConvoyStatus")[0]?.events[0]?.reason).toBe(row.reason);
  });
});

describe("staged", () => {
  it("a staged convoy materialises its beads and reports Staged; nothing is dispatched", () => {
    const p = planAt({ convoys: [convoyOf("c", [{ name: "a" }], { staged: true })] }, NOW);
    expect(ofType(p, "CreateBead").map((a) => a.name)).toEqual(["c-a"]);
    expect(convoyStatus(p, "c")).toMatchObject({ phase: "Staged" });
    expect(ofType(p, "StartSession")).toEqual([]);
  });

  it("a staged convoy whose members are all done stays Staged (it does not land)", () => {
    const p = planAt(
      {
        convoys: [convoyOf("c", [{ name: "a" }], { staged: true, mergeMode: "ReviewAndMerge" })],
        beads: [member("c-a", "Closed")],
      },
      NOW,
    );
    expect(convoyStatus(p, "c")?.phase).toBe("Staged");
  });

  it("unstaging makes it Active and its ready members are dispatched", () => {
    const staged = convoyOf("c", [{ name: "a" }], { staged: false, status: { phase: "Staged" } });
    const p = planAt({ convoys: [staged], beads: [member("c-a", "Open")] }, NOW);
    expect(convoyStatus(p, "c")).toMatchObject({ phase: "Active" });
    expect(ofType(p, "UpdateConvoyStatus")[0]?.events[0]).toMatchObject({ reason: "ConvoyActive" });
    expect(ofType(p, "StartSession").map((a) => a.bead)).toEqual(["c-a"]);
  });
});

describe("deletion", () => {
  it("a convoy being deleted (foreground, a finalizer) cancels its unfinished work at once: ConvoyDeleted, never merged", () => {
    const f: Fixture = {
      town: town(),
      convoys: [convoyOf("c", [{ name: "a" }, { name: "b" }], { deleting: true })],
      beads: [
        issue("c-a", { phase: "InReview", since: T0, spec: { convoy: "c" } }),
        mergeRequest("c-a-mr-1", "c-a", { since: T0, spec: { convoy: "c" } }),
        issue("c-b", { phase: "Closed", since: T0, spec: { convoy: "c" }, status: { resolution: "Merged" } }),
      ],
    };
    const p = planAt(f, NOW);
    for (const name of ["c-a", "c-a-mr-1"]) {
      expect(beadStatus(p, name)).toMatchObject({ phase: "Failed", resolution: "Cancelled", reason: "ConvoyDeleted" });
    }
    expect(beadStatus(p, "c-b")?.phase).toBeUndefined();
    expect(ofType(p, "StartSession")).toEqual([]);
  });
});
