// A town in the middle of a convoy, as the API would return it: enough of every kind to exercise
// each part of the status screen and the convoy graph.
import type { Agent } from "../../../src/api/agent.ts";
import type { Bead } from "../../../src/api/bead.ts";
import type { Convoy } from "../../../src/api/convoy.ts";
import type { Condition } from "../../../src/api/meta.ts";
import type { Escalation, Town } from "../../../src/api/town.ts";
import type { TownObjects } from "../../../src/cli/objects.ts";

export const NOW = Date.parse("2026-05-04T12:00:00Z");
export const at = (secondsAgo: number) => new Date(NOW - secondsAgo * 1000).toISOString();

export const cond = (type: string, status: "True" | "False", reason: string, message: string, ago = 60): Condition => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: at(ago),
});

const meta = (name: string, generation = 1) => ({ name, namespace: "team-a", generation, creationTimestamp: at(600) });

export function escalation(
  id: string,
  e: Partial<Escalation> & Pick<Escalation, "severity" | "reason" | "message">,
  secondsAgo = 30,
): Escalation {
  return {
    id,
    firstTime: at(secondsAgo),
    lastTime: at(secondsAgo),
    raisedTime: at(secondsAgo),
    count: 1,
    level: 0,
    acknowledged: false,
    ...e,
  };
}

export function escalations(): Escalation[] {
  return [
    escalation("agent-escalated-demo-app-maple-tidy", {
      severity: "Low",
      reason: "AgentEscalated",
      message: "demo-app-maple on tidy: which branch?",
      agent: "demo-app-maple",
      bead: "tidy",
      acknowledged: true,
    }),
    escalation("nudge-escalate-signup-api", {
      severity: "Medium",
      reason: "NudgeEscalate",
      message: "demo-app-toast on signup-api: No activity for 60 min; escalated to the town's operators.",
      agent: "demo-app-toast",
      bead: "signup-api",
    }),
    escalation(
      "max-dispatch-attempts-fix-typo",
      {
        severity: "Critical",
        reason: "MaxDispatchAttempts",
        message: "fix-typo: max dispatch attempts (5) reached",
        bead: "fix-typo",
        firstTime: at(5 * 3600),
        count: 2,
        level: 2,
      },
      3600,
    ),
    escalation(
      "hung-agent-migrate",
      {
        severity: "High",
        reason: "HungAgent",
        message:
          "migrate was force-stopped 2 times for inactivity (last: demo-app-maple); retry it (spec.retry) or cancel it",
        bead: "migrate",
      },
      120,
    ),
  ];
}

export function town(
  o: {
    suspend?: boolean;
    conditions?: Condition[];
    escalations?: Escalation[];
    circuitBreaker?: NonNullable<Town["status"]>["circuitBreaker"];
  } = {},
): Town {
  return {
    apiVersion: "gastown.dev/v1alpha1",
    kind: "Town",
    metadata: meta("demo"),
    spec: {
      rigs: [
        { name: "app", repo: "/srv/app.git", defaultBranch: "main", mergeStrategy: "Direct", gates: ["make test"] },
        {
          name: "web",
          repo: "https://git.example/web.git",
          defaultBranch: "trunk",
          mergeStrategy: "PullRequest",
          gates: [],
          forge: { provider: "GitHub", apiURL: "https://api.github.com" },
        },
      ],
      limits: { maxPolecatsPerRig: 3, maxDispatchAttempts: 5, maxReportAttempts: 3 },
      suspend: o.suspend ?? false,
      acknowledgedEscalations: ["agent-escalated-demo-app-maple-tidy"],
    } as Town["spec"],
    status: {
      observedGeneration: 1,
      rigCount: 2,
      workingAgents: 1,
      openBeads: 3,
      conditions: o.conditions ?? [cond("Ready", "True", "Reconciled", "the town is reconciled", 600)],
      escalations: o.escalations ?? escalations(),
      circuitBreaker: o.circuitBreaker ?? {
        open: false,
        recentFailures: [{ time: at(600), agent: "demo-app-maple", bead: "fix-typo", reason: "SessionFailed" }],
      },
    },
  };
}

export function convoy(): Convoy {
  return {
    apiVersion: "gastown.dev/v1alpha1",
    kind: "Convoy",
    metadata: meta("signup"),
    spec: {
      town: "demo",
      title: "Let people sign up",
      mergeMode: "ReviewThenLand",
      staged: false,
      tasks: [
        { name: "schema", title: "Add the accounts table", description: "", rig: "app", priority: 1, dependsOn: [] },
        {
          name: "api",
          title: "Add the signup endpoint",
          description: "",
          rig: "app",
          priority: 2,
          dependsOn: ["schema"],
        },
        { name: "ui", title: "Add the signup form", description: "", rig: "app", priority: 2, dependsOn: ["schema"] },
        { name: "release", title: "Announce", description: "", rig: "app", priority: 3, dependsOn: ["api", "ui"] },
      ],
    },
    status: {
      phase: "Active",
      progress: { closed: 1, failed: 0, total: 4, summary: "1/4" },
      featureBranch: "convoy/signup",
      conditions: [],
    },
  };
}

export function bead(name: string, spec: Partial<Bead["spec"]>, status: Bead["status"]): Bead {
  return {
    apiVersion: "gastown.dev/v1alpha1",
    kind: "Bead",
    metadata: meta(name),
    spec: {
      town: "demo",
      rig: "app",
      type: "Issue",
      title: name,
      description: "",
      priority: 2,
      labels: [],
      dependsOn: [],
      cancel: false,
      ...spec,
    },
    status,
  };
}

export function beads(): Bead[] {
  return [
    bead(
      "signup-schema",
      { convoy: "signup" },
      {
        phase: "Closed",
        assignee: "demo-app-toast",
        resolution: "Merged",
        conditions: [cond("Ready", "True", "Merged", "merged by signup-schema-mr-1")],
      },
    ),
    bead(
      "signup-schema-mr-1",
      {
        type: "MergeRequest",
        convoy: "signup",
        source: { kind: "Bead", name: "signup-schema" },
        branch: "gt/app/signup-schema",
      },
      {
        phase: "Closed",
        assignee: "demo-app-refinery",
        conditions: [cond("Ready", "True", "Merged", "merged")],
      },
    ),
    bead(
      "signup-api",
      { convoy: "signup", dependsOn: ["signup-schema"] },
      {
        phase: "InProgress",
        assignee: "demo-app-toast",
        dispatchAttempts: 1,
        lastPhaseTransitionTime: at(40),
        conditions: [cond("Ready", "False", "InProgress", "demo-app-toast is working on it", 40)],
      },
    ),
    bead(
      "signup-ui",
      { convoy: "signup", dependsOn: ["signup-schema"] },
      {
        phase: "InReview",
        assignee: "demo-app-maple",
        conditions: [cond("Ready", "False", "InReview", "waiting for its merge request", 20)],
      },
    ),
    bead(
      "signup-ui-mr-1",
      {
        type: "MergeRequest",
        convoy: "signup",
        source: { kind: "Bead", name: "signup-ui" },
        branch: "gt/app/signup-ui",
      },
      {
        phase: "InProgress",
        assignee: "demo-app-refinery",
        conditions: [cond("Ready", "False", "InProgress", "demo-app-refinery is working on it", 10)],
      },
    ),
    bead(
      "signup-ui-mr-1-rework-1",
      { reworkOf: "signup-ui-mr-1", convoy: "signup" },
      {
        phase: "Closed",
        conditions: [cond("Ready", "True", "ReworkDone", "closed")],
      },
    ),
    bead(
      "signup-release",
      { convoy: "signup", dependsOn: ["signup-api", "signup-ui"] },
      {
        phase: "Open",
        conditions: [
          cond("Ready", "False", "Blocked", "waiting for signup-api, signup-ui"),
          cond("Blocked", "True", "DependenciesOpen", "waiting for signup-api, signup-ui"),
        ],
      },
    ),
    bead(
      "fix-typo",
      {},
      {
        phase: "Failed",
        resolution: "MaxDispatchAttempts",
        reason: "max dispatch attempts",
        dispatchAttempts: 5,
        conditions: [
          cond("Ready", "False", "MaxDispatchAttempts", "max dispatch attempts (5) reached"),
          cond("Stalled", "True", "MaxDispatchAttempts", "max dispatch attempts (5) reached"),
        ],
      },
    ),
    bead(
      "tidy",
      { rig: "web" },
      {
        phase: "Open",
        conditions: [cond("Ready", "False", "WaitingForCapacity", "all polecats of the rig or town are busy")],
      },
    ),
    bead("dropped", {}, { phase: "Failed", resolution: "Cancelled", conditions: [] }),
    bead(
      "migrate",
      {},
      {
        phase: "Open",
        forceStops: 2,
        lastPhaseTransitionTime: at(120),
        hold: {
          reason: "HungAgent",
          message:
            "migrate was force-stopped 2 times for inactivity (last: demo-app-maple); retry it (spec.retry) or cancel it",
          since: at(120),
        },
        conditions: [
          cond("Ready", "False", "HungAgent", "migrate was force-stopped 2 times", 120),
          cond("Stalled", "True", "HungAgent", "migrate was force-stopped 2 times", 120),
        ],
      },
    ),
    bead("elsewhere", { town: "other" }, { phase: "Open", conditions: [] }),
  ];
}

function agent(name: string, role: "Polecat" | "Refinery", status: Agent["status"], hook?: string): Agent {
  return {
    apiVersion: "gastown.dev/v1alpha1",
    kind: "Agent",
    metadata: meta(name),
    spec: { town: "demo", role, rig: "app", ...(hook ? { hook } : {}) },
    status,
  };
}

export function agents(): Agent[] {
  return [
    agent(
      "demo-app-toast",
      "Polecat",
      {
        phase: "Working",
        session: 2,
        lastActivityTime: at(5),
        nudges: [{ tier: "warn", time: at(900), message: "No activity for 15 min." }],
        conditions: [
          cond("Escalated", "True", "NudgeEscalate", "No activity for 60 min; escalated to the town's operators.", 30),
        ],
      },
      "signup-api",
    ),
    agent("demo-app-maple", "Polecat", { phase: "Idle", session: 1, lastHeartbeat: at(75), conditions: [] }),
    agent(
      "demo-app-refinery",
      "Refinery",
      { phase: "Working", session: 3, lastActivityTime: at(2), conditions: [] },
      "signup-ui-mr-1",
    ),
  ];
}

export function objects(): TownObjects {
  return { towns: [town()], convoys: [convoy()], beads: beads(), agents: agents() };
}
