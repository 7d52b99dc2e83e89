// The status view as a pure function: which beads need attention and in what order, what each
// section says, and the exact screen (layout included) for a town in the middle of a convoy.
import { describe, expect, it } from "vitest";
import { changedLines, summaries } from "../../../src/cli/status/lines.ts";
import { statusDocument, townView } from "../../../src/cli/status/model.ts";
import { renderStatus } from "../../../src/cli/status/render.ts";
import { at, bead, cond, convoy, escalation, NOW, objects, town } from "./fixtures.ts";

describe("the status model", () => {
  it("lists open beads of the town attention first: held, failed, escalated, unknown rig, capacity, blocked, then work in progress", () => {
    const view = townView(town(), objects());
    expect(view.beads.map((b) => [b.name, b.attention ?? "-"])).toEqual([
      ["migrate", "Held"],
      ["fix-typo", "Failed"],
      ["signup-api", "Escalated"],
      ["tidy", "WaitingForCapacity"],
      ["signup-release", "Blocked"],
      ["signup-ui-mr-1", "-"],
      ["signup-ui", "-"],
      ["dropped", "-"],
    ]);
    // Closed beads are counted, not listed; a bead of another town (an orphan here) is neither.
    expect(view.closedBeads).toBe(3);
  });

  it("shows a held bead with its hold: reason, message and since when", () => {
    const held = townView(town(), objects()).beads.find((b) => b.name === "migrate");
    expect(held).toMatchObject({
      attention: "Held",
      reason: "HungAgent",
      message:
        "migrate was force-stopped 2 times for inactivity (last: demo-app-maple); retry it (spec.retry) or cancel it",
      since: at(120),
    });
  });

  it("a bead is escalated while an open escalation names it, not once it is acknowledged", () => {
    const o = objects();
    o.agents = o.agents.map((a) => ({ ...a, status: { ...a.status, conditions: [] } }));
    const open = townView(town(), o);
    expect(open.beads.find((b) => b.name === "signup-api")?.attention).toBe("Escalated");
    const acked = town({
      escalations: [
        escalation("nudge-escalate-signup-api", {
          severity: "Medium",
          reason: "NudgeEscalate",
          message: "m",
          bead: "signup-api",
          acknowledged: true,
        }),
      ],
    });
    expect(townView(acked, o).beads.find((b) => b.name === "signup-api")?.attention).toBeUndefined();
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
    // Open ones first, most severe first; acknowledged ones last, all with every field kept.
    expect(view.escalations.map((e) => [e.id, e.severity, e.acknowledged])).toEqual([
      ["max-dispatch-attempts-fix-typo", "Critical", false],
      ["hung-agent-migrate", "High", false],
      ["nudge-escalate-signup-api", "Medium", false],
      ["agent-escalated-demo-app-maple-tidy", "Low", true],
    ]);
    expect(view.escalations[0]).toEqual({
      id: "max-dispatch-attempts-fix-typo",
      severity: "Critical",
      reason: "MaxDispatchAttempts",
      message: "fix-typo: max dispatch attempts (5) reached",
      bead: "fix-typo",
      firstTime: at(5 * 3600),
      lastTime: at(3600),
      raisedTime: at(3600),
      count: 2,
      level: 2,
      acknowledged: false,
    });
    expect(view.circuitBreaker).toEqual({ open: false, failures: 1, maxFailedSessions: 20, beads: ["fix-typo"] });
  });

  it("renders the whole screen, columns aligned", () => {
    const doc = statusDocument("team-a", objects());
    expect(
      renderStatus(doc, { now: NOW }),
    ).toBe(`Town demo   Ready   dispatching   circuit breaker closed (1/20 failed sessions)
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
  migrate          Open         Held                 -                   HungAgent: migrate was force-stopped 2 times for inactivity (last: demo-app-maple); re…
  fix-typo         Failed       Failed               -                   MaxDispatchAttempts: max dispatch attempts (5) reached
  signup-api       InProgress   Escalated            demo-app-toast      InProgress: demo-app-toast is working on it
  tidy             Open         WaitingForCapacity   -                   WaitingForCapacity: all polecats of the rig or town are busy
  signup-release   Open         Blocked              -                   DependenciesOpen: waiting for signup-api, signup-ui
  signup-ui-mr-1   InProgress   -                    demo-app-refinery   -
  signup-ui        InReview     -                    demo-app-maple      -
  dropped          Failed       -                    -                   -
  a Failed or held bead waits for a person: kubectl gt retry NAME, or kubectl gt cancel NAME
Escalations (acknowledge: kubectl gt ack ID)
  SEVERITY   ID                               ON                SEEN                        WHY
  Critical   max-dispatch-attempts-fix-typo   bead/fix-typo     60m ago ×2 (re-raised 2×)   MaxDispatchAttempts: fix-typo: max dispatch attempts (5) reached
  High       hung-agent-migrate               bead/migrate      2m ago                      HungAgent: migrate was force-stopped 2 times for inactivity (last: …
  Medium     nudge-escalate-signup-api        bead/signup-api   30s ago                     NudgeEscalate: demo-app-toast on signup-api: No activity for 60 min…
  1 acknowledged (kubectl gt status -o yaml lists them)

Orphans (their Town does not exist in team-a: nothing dispatches them)
  KIND   NAME        TOWN    PHASE   WHY
  Bead   elsewhere   other   Open    TownNotFound: town other does not exist in namespace team-a: create it, or set spec.town to an existing Town
`);
  });

  it("says when the circuit breaker is open: since when, which beads, and how to close it", () => {
    const t = town({
      conditions: [
        {
          type: "Ready",
          status: "False",
          reason: "CircuitBreakerOpen",
          message: "2 sessions failed within 30 min (limits.maxFailedSessions 2); no new session starts …",
          lastTransitionTime: at(90),
        },
      ],
      circuitBreaker: {
        open: true,
        openedTime: at(90),
        recentFailures: [
          { time: at(200), agent: "demo-app-maple", bead: "fix-typo", reason: "SessionFailed" },
          { time: at(100), agent: "demo-app-toast", bead: "fix-typo", reason: "SessionFailed" },
          { time: at(90), agent: "demo-app-toast", bead: "tidy", reason: "SessionEndedWithoutDone" },
        ],
      },
    });
    const view = townView(t, { ...objects(), towns: [t] });
    expect(view.circuitBreaker).toEqual({
      open: true,
      since: at(90),
      failures: 3,
      maxFailedSessions: 20,
      beads: ["fix-typo", "tidy"],
      message: "2 sessions failed within 30 min (limits.maxFailedSessions 2); no new session starts …",
    });
    const text = renderStatus(statusDocument("team-a", { ...objects(), towns: [t] }), { now: NOW });
    expect(text.split("\n").slice(0, 2)).toEqual([
      "Town demo   Not ready (CircuitBreakerOpen)   dispatch stopped   circuit breaker OPEN",
      "  no new session starts (since 90s ago): 3 sessions failed (fix-typo, tidy); once fixed: kubectl gt reset-breaker demo",
    ]);
    expect(summaries(statusDocument("team-a", { ...objects(), towns: [t] })).get("town/demo")).toBe(
      "town/demo NotReady(CircuitBreakerOpen) circuit-breaker=open",
    );
  });

  it("says when the town is suspended, unobserved or degraded, and cuts long lines to the terminal", () => {
    const t = town({
      suspend: true,
      circuitBreaker: { open: false, recentFailures: [] },
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
      "Town demo   Ready   SUSPENDED (dispatch stopped)   circuit breaker closed",
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
    expect(before.get("bead/migrate")).toBe("bead/migrate Open attention=Held reason=HungAgent");
    expect(before.get("escalation/hung-agent-migrate")).toBe("escalation/hung-agent-migrate High open");
  });

  it("says when an escalation is acknowledged and when it is resolved", () => {
    const before = summaries(statusDocument("team-a", objects()));
    const t = town({
      escalations: [
        escalation("hung-agent-migrate", { severity: "High", reason: "HungAgent", message: "m", acknowledged: true }),
      ],
    });
    const after = summaries(statusDocument("team-a", { ...objects(), towns: [t] }));
    expect(changedLines(before, after).filter((l) => l.startsWith("escalation/"))).toEqual([
      "escalation/hung-agent-migrate High acknowledged",
      "escalation/max-dispatch-attempts-fix-typo resolved",
      "escalation/nudge-escalate-signup-api resolved",
      "escalation/agent-escalated-demo-app-maple-tidy resolved",
    ]);
  });
});

describe("sessions that cannot start, failed reconciles and orphans (issue 9)", () => {
  const secret = 'secret "model-api-keys" not found';
  const trouble = () => {
    const o = objects();
    o.beads.push(
      bead(
        "login",
        {},
        {
          phase: "Open",
          configurationProbes: 1,
          lastFailure: { reason: "CreateContainerConfigError", message: secret, time: at(50) },
          hold: {
            reason: "SessionCannotStart",
            message: `CreateContainerConfigError: ${secret}; tried again by itself from ${at(-250)}, or at once when the Town's spec changes`,
            since: at(50),
            probeAt: at(-250),
            townGeneration: 1,
          },
          conditions: [cond("Ready", "False", "SessionCannotStart", "held", 50)],
        },
      ),
      bead(
        "logout",
        {},
        {
          phase: "Open",
          assignee: "demo-app-maple",
          dispatchAttempts: 2,
          lastFailure: { reason: "ImagePullBackOff", message: 'Back-off pulling image "agent:v2"', time: at(30) },
          conditions: [
            cond(
              "Ready",
              "False",
              "WaitingForRetry",
              'demo-app-maple retries after a back-off (last session: ImagePullBackOff: Back-off pulling image "agent:v2")',
              30,
            ),
          ],
        },
      ),
      // Its town does not exist: an orphan, shown apart with the operator's message.
      bead(
        "stray",
        { town: "gone" },
        {
          phase: "Open",
          conditions: [
            cond(
              "Ready",
              "False",
              "TownNotFound",
              "town gone does not exist in namespace team-a: create it, or set spec.town to an existing Town",
            ),
          ],
        },
      ),
    );
    o.convoys.push({
      ...convoy(),
      metadata: { name: "lost", namespace: "team-a" },
      spec: { ...convoy().spec, town: "gone" },
      status: {},
    });
    return o;
  };
  const cannotStart = town({
    conditions: [
      cond(
        "Ready",
        "False",
        "AgentsCannotStart",
        `sessions cannot start: CreateContainerConfigError: ${secret} (login); fix it in the Town's agents template, its Secrets or the namespace's quota, and the work resumes by itself`,
      ),
    ],
  });

  it("a bead held because its session cannot start says the runtime's reason and when it is tried again", () => {
    const o = trouble();
    const view = townView(cannotStart, o);
    expect(view.beads.find((b) => b.name === "login")).toMatchObject({
      attention: "Held",
      reason: "SessionCannotStart",
      message: `CreateContainerConfigError: ${secret}`,
      lastFailure: { reason: "CreateContainerConfigError", message: secret, time: at(50) },
      probeAt: at(-250),
      since: at(50),
    });
    const lines = renderStatus(statusDocument("team-a", { ...o, towns: [cannotStart] }), {
      now: NOW,
      columns: 240,
    }).split("\n");
    expect(lines.find((l) => l.startsWith("  login "))).toMatch(
      / Held +- +SessionCannotStart \(tried again in 4m10s, or when the Town's spec changes\): CreateContainerConfigError: secret "model-api-keys" not found$/,
    );
    // Out of probes: only a spec change or a person moves it.
    o.beads.find((b) => b.metadata.name === "login")!.status!.hold!.probeAt = undefined;
    const out = renderStatus(statusDocument("team-a", { ...o, towns: [cannotStart] }), { now: NOW, columns: 240 });
    expect(out).toMatch(/SessionCannotStart \(tried again when the Town's spec changes, or retry it\): Create/);
  });

  it("a bead waiting for its retry says how many sessions it used and why the last one failed", () => {
    const view = townView(cannotStart, trouble());
    expect(view.beads.find((b) => b.name === "logout")).toMatchObject({
      attention: "WaitingForRetry",
      reason: "WaitingForRetry",
      message: 'last session: ImagePullBackOff: Back-off pulling image "agent:v2"',
      dispatchAttempts: 2,
      maxDispatchAttempts: 5,
    });
    const text = renderStatus(statusDocument("team-a", { ...trouble(), towns: [cannotStart] }), {
      now: NOW,
      columns: 240,
    });
    expect(text).toMatch(
      / {2}logout +Open +WaitingForRetry +demo-app-maple +WaitingForRetry \(2\/5 sessions used, last failed 30s ago\): last session: ImagePullBackOff: Back-off pulling image "agent:v2"\n/,
    );
    expect(summaries(statusDocument("team-a", { ...trouble(), towns: [cannotStart] })).get("bead/logout")).toBe(
      "bead/logout Open assignee=demo-app-maple attention=WaitingForRetry failure=ImagePullBackOff",
    );
  });

  it("the town's AgentsCannotStart and ReconcileFailed say what the operator said, under the headline", () => {
    const text = renderStatus(statusDocument("team-a", { ...trouble(), towns: [cannotStart] }), {
      now: NOW,
      columns: 400,
    });
    expect(text.split("\n").slice(0, 2)).toEqual([
      "Town demo   Not ready (AgentsCannotStart)   dispatching   circuit breaker closed (1/20 failed sessions)",
      `  AgentsCannotStart: sessions cannot start: CreateContainerConfigError: ${secret} (login); fix it in the Town's agents template, its Secrets or the namespace's quota, and the work resumes by itself`,
    ]);
    const failed = town({
      conditions: [cond("Ready", "False", "ReconcileFailed", 'beads.gastown.dev "x" is forbidden: quota exceeded')],
    });
    const lines = renderStatus(statusDocument("team-a", { ...objects(), towns: [failed] }), { now: NOW }).split("\n");
    expect(lines[1]).toBe('  ReconcileFailed: beads.gastown.dev "x" is forbidden: quota exceeded');
  });

  it("lists convoys and beads whose town does not exist as orphans, in the document, the screen and --watch lines", () => {
    const doc = statusDocument("team-a", { ...trouble(), towns: [cannotStart] });
    expect(doc.orphans).toEqual([
      {
        kind: "Convoy",
        name: "lost",
        town: "gone",
        phase: "Pending",
        reason: "TownNotFound",
        message: "town gone does not exist in namespace team-a: create it, or set spec.town to an existing Town",
      },
      {
        kind: "Bead",
        name: "stray",
        town: "gone",
        phase: "Open",
        reason: "TownNotFound",
        message: "town gone does not exist in namespace team-a: create it, or set spec.town to an existing Town",
        since: at(60),
      },
      {
        kind: "Bead",
        name: "elsewhere",
        town: "other",
        phase: "Open",
        reason: "TownNotFound",
        message: "town other does not exist in namespace team-a: create it, or set spec.town to an existing Town",
      },
    ]);
    // Not a bead of any town's list.
    expect(doc.towns[0]!.beads.some((b) => b.name === "stray")).toBe(false);
    expect(renderStatus(doc, { now: NOW, columns: 400 }).split("\n").slice(-7)).toEqual([
      "",
      "Orphans (their Town does not exist in team-a: nothing dispatches them)",
      "  KIND     NAME        TOWN    PHASE     WHY",
      "  Convoy   lost        gone    Pending   TownNotFound: town gone does not exist in namespace team-a: create it, or set spec.town to an existing Town",
      "  Bead     stray       gone    Open      TownNotFound: town gone does not exist in namespace team-a: create it, or set spec.town to an existing Town",
      "  Bead     elsewhere   other   Open      TownNotFound: town other does not exist in namespace team-a: create it, or set spec.town to an existing Town",
      "",
    ]);
    expect(summaries(doc).get("convoy/lost")).toBe("convoy/lost Pending orphan town=gone reason=TownNotFound");
    // Asked for the missing town by name: its orphans, and what to do.
    const only = statusDocument("team-a", { ...trouble(), towns: [cannotStart] }, "gone");
    expect(only.towns).toEqual([]);
    expect(renderStatus(only, { now: NOW }).split("\n")[0]).toBe(
      "No town gone in namespace team-a, yet work names it: create it (examples/town.yaml shows one) and that work is dispatched.",
    );
  });
});
