// The convoy graph and its three drawings.
import { describe, expect, it } from "vitest";
import { convoyGraph } from "../../../src/cli/convoy/graph.ts";
import { renderDot, renderMermaid, renderTree } from "../../../src/cli/convoy/render.ts";
import { beads, convoy } from "./fixtures.ts";

const graph = () => convoyGraph(convoy(), beads());

describe("kubectl gt convoy", () => {
  it("joins each task to its bead, its merge requests and their reworks", () => {
    const g = graph();
    expect(
      g.tasks.map((t) => [
        t.task,
        t.phase,
        t.assignee ?? "-",
        t.mergeRequests.map((m) => `${m.name}:${m.phase}:${m.reworks.length}`),
      ]),
    ).toEqual([
      ["schema", "Closed", "demo-app-toast", ["signup-schema-mr-1:Closed:0"]],
      ["api", "InProgress", "demo-app-toast", []],
      ["ui", "InReview", "demo-app-maple", ["signup-ui-mr-1:InProgress:1"]],
      ["release", "Open", "-", []],
    ]);
    expect(g.landing).toBeUndefined();
  });

  it("draws the DAG as a tree: a task with two dependencies in full once, then referred to", () => {
    expect(
      renderTree(graph()),
    ).toBe(`Convoy signup   Active   ███░░░░░░░░░ 1/4   ReviewThenLand → convoy/signup   town demo
  Let people sign up
TASK               PHASE        ASSIGNEE         MERGE REQUEST                          WHY
├─ schema          Closed       demo-app-toast   signup-schema-mr-1 Closed
│  ├─ api          InProgress   demo-app-toast   -
│  │  └─ release   Open         -                -                                      waits for api, ui
│  └─ ui           InReview     demo-app-maple   signup-ui-mr-1 InProgress (1 rework)
│     └─ release                                                                        (shown above)
└─ (landing)       -                             -                                      waits for every task to merge
`);
  });

  it("shows the landing once there is one", () => {
    const c = convoy();
    c.status = { ...c.status!, phase: "Landing", landing: { attempts: 2, bead: "signup-landing-2" } };
    const landing = {
      ...beads()[1]!,
      metadata: { name: "signup-landing-2" },
      spec: { ...beads()[1]!.spec, source: { kind: "Convoy" as const, name: "signup" } },
      status: { phase: "InProgress" as const },
    };
    const g = convoyGraph(c, [...beads(), landing]);
    expect(g.landing).toEqual({ name: "signup-landing-2", phase: "InProgress", attempts: 2 });
    expect(renderTree(g).trimEnd().split("\n").pop()).toBe(
      "└─ (landing)       InProgress                    signup-landing-2 (attempt 2)",
    );
  });

  it("says why a held task waits, and counts its retries", () => {
    const b = beads();
    const api = b.find((x) => x.metadata.name === "signup-api")!;
    api.status = {
      phase: "Open",
      retry: 1,
      hold: { reason: "HungAgent", message: "force-stopped 2 times", since: "2026-05-04T11:58:00Z" },
      conditions: [],
    };
    const g = convoyGraph(convoy(), b);
    expect(g.tasks[1]).toMatchObject({ task: "api", phase: "Open", retries: 1, hold: { reason: "HungAgent" } });
    expect(renderTree(g).split("\n")[4]).toBe(
      "│  ├─ api          Open       -                -                                      held: HungAgent: force-stopped 2 times",
    );
  });

  it("exports Graphviz dot with an edge per dependency and into the landing", () => {
    const dot = renderDot(graph());
    expect(dot).toContain('  "schema" -> "api";');
    expect(dot).toContain('  "api" -> "release";\n  "ui" -> "release";');
    expect(dot).toContain('  "release" -> "(landing)";');
    expect(dot).toContain('"ui" [label="ui\nInReview · demo-app-maple", fillcolor="#d1c4e9"];');
    expect(dot.startsWith('digraph "signup" {')).toBe(true);
  });

  it("exports a Mermaid flowchart with safe node ids", () => {
    const m = renderMermaid(graph());
    expect(m.split("\n").slice(0, 3)).toEqual([
      "flowchart LR",
      '  t_schema["schema<br/>Closed · demo-app-toast"]:::closed',
      '  t_api["api<br/>InProgress · demo-app-toast"]:::inprogress',
    ]);
    expect(m).toContain("  t_schema --> t_api");
    expect(m).toContain("  t_release --> landing");
    expect(m).toContain("  classDef inprogress fill:#bbdefb");
  });
});
