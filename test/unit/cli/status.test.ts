// The status view as a pure function: which beads need attention and in what order, what each
// section says, and the exact screen (layout included) for a town in the middle of a convoy.
import { describe, expect, it } from "vitest";
import { changedLines, summaries } from "../../../src/cli/status/lines.ts";
import { statusDocument, townView } from "../../../src/cli/status/model.ts";
import { renderStatus } from "../../../src/cli/status/render.ts";
import { NOW, objects, town } from "./fixtures.ts";

describe("the status model", () => {
  it("lists open beads of the town attention first: held/failed, escalated, unknown rig, capacity, blocked, then work in progress", () => {
    const view = townView(town(), objects());
    expect(view.beads.map((b) => [b.name, b.attention ?? "-"])).toEqual([
      ["fix-typo", "Failed"],
      ["signup-api", "Escalated"],
      ["tidy", "WaitingForCapacity"],
      ["signup-release", "Blocked"],
      ["signup-ui-mr-1", "-"],
      ["signup-ui", "-"],
      ["dropped", "-"],
    ]);
    // Closed beads are counted, not listed; another town's bead is neither.
    expect(view.closedBeads).toBe(3);
  });

  it("names an unknown rig instead of calling the bead pending", () => {
    const o = objects();
    o.beads.push({
      ...o.beads.find((b) => b.metadata.name === "tidy")!,
      metadata: { name: "lost", namespace: "team-a" },
      spec: { ...o.beads[0]!.spec, rig: "nope", convoy: undefined },
    });
    const lost = townView(town(), o).beads.find((b) => b.name === "lost");
    expect(lost).toMatchObject({
      attention: "InvalidRig",
      reason: "UnknownRig",
      message: "rig nope is not a rig of the town",
    });
  });

  it("summarises rigs, escalations and whether the operator saw the latest spec", () => {
    const t = town();
    t.metadata.generation = 2;
    const view = townView(t, objects());
    expect(view.observed).toBe(false);
    expect(view.rigs[0]).toEqual({
      name: "app",
      mergeStrategy: "Direct",
      defaultBranch: "main",
      gates: 1,
      polecats: { working: 1, total: 2, max: 3 },
      refinery: { name: "demo-app-refinery", phase: "Working", hook: "signup-ui-mr-1" },
    });
    expect(view.escalations).toEqual([
      {
        agent: "demo-app-toast",
        bead: "signup-api",
        reason: "NudgeEscalate",
        message: "No activity for 60 min; escalated to the town's operators.",
        since: "2026-05-04T11:59:30.000Z",
      },
    ]);
  });

  it("renders the whole screen, columns aligned", () => {
    const doc = statusDocument("team-a", objects());
    expect(renderStatus(doc, { now: NOW })).toBe(`Town demo   Ready   dispatching   circuit breaker n/a
Rigs
  NAME   STRATEGY      BRANCH   GATES   POLECATS                REFINERY
  app    Direct        main     1       1 working / 2 (max 3)   Working on signup-ui-mr-1
  web    PullRequest   trunk    0       0 working / 0 (max 3)   -
Agents
  NAME                ROLE       RIG   PHASE      HOOK             ACTIVITY   NUDGES
  demo-app-maple      Polecat    app   Idle       -                75s ago    0
  demo-app-refinery   Refinery   app   Working    signup-ui-mr-1   2s ago     0
  demo-app-toast      Polecat    app   Working!   signup-api       5s ago     1 (last: warn 15m ago)
Convoys
  NAME     PHASE    PROGRESS           MODE             TITLE
  signup   Active   ███░░░░░░░░░ 1/4   ReviewThenLand   Let people sign up
Beads (attention first; 3 closed not listed)
  NAME             PHASE        ATTENTION            ASSIGNEE            WHY
  fix-typo         Failed       Failed               -                   MaxDispatchAttempts: max dispatch attempts (5) reached
  signup-api       InProgress   Escalated            demo-app-toast      InProgress: demo-app-toast is working on it
  tidy             Open         WaitingForCapacity   -                   WaitingForCapacity: all polecats of the rig or town are busy
  signup-release   Open         Blocked              -                   DependenciesOpen: waiting for signup-api, signup-ui
  signup-ui-mr-1   InProgress   -                    demo-app-refinery   -
  signup-ui        InReview     -                    demo-app-maple      -
  dropped          Failed       -                    -                   -
Escalations
  ! demo-app-toast on signup-api 30s ago: NudgeEscalate: No activity for 60 min; escalated to the town's operators.
`);
  });

  it("says when the town is suspended, unobserved or degraded, and cuts long lines to the terminal", () => {
    const t = town({
      suspend: true,
      conditions: [
        {
          type: "Ready",
          status: "True",
          reason: "Reconciled",
          message: "ok",
          lastTransitionTime: "2026-05-04T11:00:00Z",
        },
        {
          type: "Degraded",
          status: "True",
          reason: "InvariantViolated",
          message: "1 invariant violation(s): two agents hooked to signup-api",
          lastTransitionTime: "2026-05-04T11:00:00Z",
        },
      ],
    });
    t.metadata.generation = 3;
    const text = renderStatus(statusDocument("team-a", { ...objects(), towns: [t] }), { now: NOW, columns: 60 });
    expect(text.split("\n").slice(0, 3)).toEqual([
      "Town demo   Ready   SUSPENDED (dispatch stopped)   circuit breaker n/a",
      "  the operator has not seen the latest spec of this town yet (kubectl gt doctor)",
      "  Degraded: 1 invariant violation(s): two agents hooked to …",
    ]);
    for (const line of text.split("\n").filter((l) => l.startsWith("  fix-typo")))
      expect(line.length).toBeLessThanOrEqual(60);
  });

  it("tells where to start in an empty namespace", () => {
    expect(
      renderStatus(statusDocument("team-b", { towns: [], convoys: [], beads: [], agents: [] }), { now: NOW }),
    ).toBe("No towns in namespace team-b. Create one with: kubectl apply -n team-b -f examples/town.yaml\n");
  });
});

describe("--watch without a terminal", () => {
  it("prints a line for each object whose summary changed, and for beads that left the list", () => {
    const before = summaries(statusDocument("team-a", objects()));
    const o = objects();
    o.convoys[0]!.status!.phase = "Landed";
    o.beads = o.beads.filter((b) => b.metadata.name !== "signup-release");
    const after = summaries(statusDocument("team-a", o));
    expect(changedLines(before, after)).toEqual(["convoy/signup Landed 1/4", "bead/signup-release Closed"]);
    expect(changedLines(new Map(), before)[0]).toBe("town/demo Ready");
  });
});
