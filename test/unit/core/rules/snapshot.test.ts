// snapshot.ts and config.ts: the indexed view of one town the rules read, and the town's settings.
import { describe, expect, it } from "vitest";
import type { Town } from "../../../../src/api/town.ts";
import { townConfig } from "../../../../src/core/config.ts";
import { isLive, sourceKey } from "../../../../src/core/snapshot.ts";
import {
  HOUR,
  iso,
  issue,
  landingMR,
  lease,
  MIN,
  mergeRequest,
  pod,
  polecat,
  report,
  rework,
  SEC,
  snapshotOf,
  T0,
  town,
} from "../builders.ts";

describe("townConfig", () => {
  it("resolves defaults into milliseconds", () => {
    const c = townConfig(town({ rigs: [{ name: "app" }, { name: "web" }] }));
    expect(c).toMatchObject({
      name: "gt",
      namespace: "default",
      uid: "town-uid",
      generation: 1,
      maxPolecatsPerRig: 5,
      maxPolecats: 10,
      maxDispatchAttempts: 5,
      maxReportAttempts: 3,
      suspend: false,
      timeouts: {
        heartbeatPeriod: 30 * SEC,
        heartbeatTimeout: 90 * SEC,
        startupGrace: 180 * SEC,
        staleInProgress: 5 * MIN,
        orphanedInReview: 5 * MIN,
        stuckReview: 30 * MIN,
        abandonedReview: 2 * MIN,
        orphanedPR: 30 * MIN,
        prPollInterval: 30 * SEC,
        dispatchBackoff: [2 * MIN, 2 * MIN, 5 * MIN, 10 * MIN, 30 * MIN],
        guppWarn: 15 * MIN,
        guppEscalate: HOUR,
        guppForceStop: 2 * HOUR,
        nudgeDedupe: 60 * MIN,
        agentGC: 24 * HOUR,
        podRetention: HOUR,
        reportRetention: 24 * HOUR,
      },
    });
    expect([...c.rigs.keys()]).toEqual(["app", "web"]);
  });

  it("takes overrides, and fills what a raw object lacks (no timeouts/limits blocks, no metadata)", () => {
    const t = town({
      limits: { maxPolecats: 3 },
      timeouts: { staleInProgress: "1m30s", dispatchBackoff: ["10s", "1m"] },
      suspend: true,
    });
    expect(townConfig(t)).toMatchObject({
      maxPolecats: 3,
      suspend: true,
      timeouts: { staleInProgress: 90 * SEC, dispatchBackoff: [10 * SEC, MIN] },
    });
    const raw = {
      ...t,
      metadata: { name: "bare" },
      spec: { rigs: t.spec.rigs },
    } as unknown as Town;
    expect(townConfig(raw)).toMatchObject({
      name: "bare",
      namespace: "default",
      uid: "",
      generation: 0,
      maxPolecats: 5,
      suspend: false,
      timeouts: { heartbeatTimeout: 90 * SEC },
    });
  });
});

describe("buildSnapshot", () => {
  it("ignores other towns' objects, and sessions and leases of agents it does not know", () => {
    const foreign = <T extends { spec: { town: string } }>(o: T): T => ({ ...o, spec: { ...o.spec, town: "other" } });
    const s = snapshotOf({
      beads: [issue("x"), foreign(issue("y"))],
      agents: [polecat("gt-app-toast"), foreign(polecat("gt-app-maple"))],
      reports: [foreign(report("r", { agent: "gt-app-maple", bead: "y", type: "Done" }))],
      sessions: [pod("gt-app-toast", 1, { bead: "x" }), pod("gt-app-maple", 1, { bead: "y" })],
      leases: [lease("gt-app-toast"), lease("gt-app-maple")],
    });
    expect([...s.beads.keys()]).toEqual(["x"]);
    expect([...s.agents.keys()]).toEqual(["gt-app-toast"]);
    expect(s.pendingReports).toEqual([]);
    expect([...s.sessionsByAgent.keys()]).toEqual(["gt-app-toast"]);
    expect([...s.leases.keys()]).toEqual(["gt-app-toast"]);
  });

  it("indexes merge requests by source, reworks by merge request, members by convoy, live sessions by bead", () => {
    const s = snapshotOf({
      beads: [
        issue("c-a", { spec: { convoy: "c" } }),
        mergeRequest("c-a-mr-1", "c-a", { spec: { convoy: "c" } }),
        landingMR("c-landing-1", "c"),
        rework("c-a-mr-1-rework-1", "c-a-mr-1"),
      ],
      agents: [polecat("gt-app-toast"), polecat("gt-app-maple")],
      sessions: [
        pod("gt-app-toast", 2, { bead: "c-a" }),
        pod("gt-app-toast", 1, { bead: "c-a", phase: "Failed" }),
        pod("gt-app-maple", 1, { bead: "c-a", phase: "Unknown" }),
      ],
    });
    expect(s.mergeRequestsBySource.get("c-a")?.map((b) => b.name)).toEqual(["c-a-mr-1"]);
    expect(s.mergeRequestsBySource.get("convoy/c")?.map((b) => b.name)).toEqual(["c-landing-1"]);
    expect(s.reworksByMergeRequest.get("c-a-mr-1")?.map((b) => b.name)).toEqual(["c-a-mr-1-rework-1"]);
    expect(s.membersByConvoy.get("c")?.map((b) => b.name)).toEqual(["c-a", "c-a-mr-1", "c-landing-1"]);
    expect(s.sessionsByAgent.get("gt-app-toast")?.map((p) => p.session)).toEqual([1, 2]);
    expect(s.liveSessionsByBead.get("c-a")?.map((p) => p.name)).toEqual(["gt-app-toast-2", "gt-app-maple-1"]);
  });

  it("active beads exclude terminal ones and are in creation order, then name", () => {
    const s = snapshotOf({
      beads: [
        issue("b", { created: T0 }),
        issue("z", { created: T0 - 1 }),
        issue("a", { created: T0 }),
        issue("done", { phase: "Closed", created: T0 - 2 }),
        issue("gone", { phase: "Failed", created: T0 - 2 }),
      ],
    });
    expect(s.activeBeads.map((b) => b.name)).toEqual(["z", "a", "b"]);
  });

  it("pending reports are ordered by creation time, then name; processed ones are apart", () => {
    const s = snapshotOf({
      reports: [
        report("r-b", { agent: "a", bead: "x", type: "Done" }, { created: T0 }),
        report("r-c", { agent: "a", bead: "x", type: "Done" }, { created: T0 - SEC }),
        report("r-a", { agent: "a", bead: "x", type: "Done" }, { created: T0 }),
        report("r-0", { agent: "a", bead: "x", type: "Done" }, { status: { outcome: "Applied" } }),
      ],
    });
    expect(s.pendingReports.map((r) => r.name)).toEqual(["r-c", "r-a", "r-b"]);
    expect(s.processedReports.map((r) => r.name)).toEqual(["r-0"]);
  });

  it("fills what metadata and status lack, parses times once, and reads Date timestamps", () => {
    const bare = {
      ...issue("x"),
      metadata: { name: "x", creationTimestamp: new Date(T0) as unknown as string, deletionTimestamp: iso(T0) },
      status: undefined,
    };
    const s = snapshotOf({ beads: [bare] });
    expect(s.beads.get("x")).toMatchObject({
      uid: "",
      resourceVersion: "",
      generation: 0,
      created: T0,
      deleting: true,
      state: { phase: "Open", phaseSince: T0, attempts: 0, fresh: true, conditions: [] },
      pr: { consecutiveErrors: 0 },
    });
    expect(s.town.status).toEqual({ rigCount: 0, workingAgents: 0, openBeads: 0 });
  });

  it("agent status times are parsed; an unparseable nested time counts as the epoch", () => {
    const s = snapshotOf({
      agents: [
        polecat("gt-app-toast", {
          status: {
            phase: "Idle",
            session: 2,
            lastSessionExit: { session: 2, reason: "lost", time: "garbage" },
          },
        }),
      ],
    });
    expect(s.agents.get("gt-app-toast")?.state).toMatchObject({
      lastSessionExit: { session: 2, reason: "lost", time: 0 },
    });
  });

  it("lease values that are not finite numbers are unknown", () => {
    const s = snapshotOf({
      agents: [polecat("gt-app-toast")],
      leases: [
        {
          agent: "gt-app-toast",
          renewTime: Number.NaN,
          activityTime: Number.NEGATIVE_INFINITY,
          activeTools: Number.NaN,
          session: Number.NaN,
        },
      ],
    });
    expect(s.leases.get("gt-app-toast")).toEqual({
      agent: "gt-app-toast",
      renewTime: undefined,
      activityTime: undefined,
      activityKind: undefined,
      activeTools: 0,
      session: undefined,
    });
  });

  it.each([
    ["Pending", true],
    ["Running", true],
    ["Unknown", true],
    ["Succeeded", false],
    ["Failed", false],
  ] as const)("a %s session is live: %s", (phase, live) => {
    expect(isLive(pod("a", 1, { phase }))).toBe(live);
  });

  it("sourceKey: a landing's source is convoy/<name>", () => {
    expect(sourceKey({ kind: "Bead", name: "x" })).toBe("x");
    expect(sourceKey({ kind: "Convoy", name: "c" })).toBe("convoy/c");
  });
});
