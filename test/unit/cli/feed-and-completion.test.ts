// The feed's lines and filters, and shell completion answered from the command tree itself.
import { describe, expect, it } from "vitest";
import { slug } from "../../../src/cli/actions/sling.ts";
import { complete } from "../../../src/cli/completion.ts";
import type { Output } from "../../../src/cli/context.ts";
import { eventEntry, formatEntry, matches, phaseEntry } from "../../../src/cli/feed.ts";
import { age, progressBar, shortDuration } from "../../../src/cli/format.ts";
import { buildProgram } from "../../../src/cli/program.ts";
import type { KubeObject } from "../../../src/controller/informer.ts";
import { BEADS } from "../../../src/controller/resources.ts";
import { beads } from "./fixtures.ts";

const io: Output = { out: () => {}, err: () => {}, isTTY: false, columns: 100 };

describe("kubectl gt feed", () => {
  it("prints an Event with its series count, and a phase change", () => {
    const e = eventEntry({
      metadata: { name: "x.1", namespace: "a" },
      regarding: { kind: "Bead", name: "signup-api", apiVersion: "gastown.dev/v1alpha1" },
      reason: "Dispatched",
      note: "dispatched to demo-app-toast",
      type: "Normal",
      eventTime: "2026-05-04T12:00:00.000000Z",
      series: { count: 3, lastObservedTime: "2026-05-04T12:00:07.000000Z" },
    } as KubeObject);
    expect(e).toEqual({
      time: "2026-05-04T12:00:07.000000Z",
      kind: "Event",
      type: "Normal",
      object: "bead/signup-api",
      reason: "Dispatched",
      message: "dispatched to demo-app-toast",
      count: 3,
    });
    expect(formatEntry(e).replace(/^\d\d:\d\d:\d\d/, "hh:mm:ss")).toBe(
      "hh:mm:ss  Normal   bead/signup-api                       Dispatched: dispatched to demo-app-toast (×3)",
    );
    expect(formatEntry(phaseEntry("Bead", "signup-api", "Open", "InProgress", "2026-05-04T12:00:00Z")).slice(8)).toBe(
      "  Phase    bead/signup-api                       Open → InProgress",
    );
  });

  it("filters by town, convoy and agent through the objects the Event is about", () => {
    const live = {
      list: (r: { plural: string }) => (r.plural === BEADS.plural ? (beads() as unknown as KubeObject[]) : []),
    };
    expect(matches(live, "Bead", "signup-api", { convoy: "signup" })).toBe(true);
    expect(matches(live, "Bead", "fix-typo", { convoy: "signup" })).toBe(false);
    expect(matches(live, "Bead", "signup-api", { agent: "demo-app-toast" })).toBe(true);
    expect(matches(live, "Bead", "signup-ui", { agent: "demo-app-toast" })).toBe(false);
    expect(matches(live, "Agent", "demo-app-toast", { agent: "demo-app-toast" })).toBe(true);
    expect(matches(live, "Bead", "elsewhere", { town: "demo" })).toBe(false);
    expect(matches(live, "Town", "demo", { town: "demo" })).toBe(true);
  });
});

describe("completion", () => {
  const program = buildProgram(io);
  const answer = async (...words: string[]) => (await complete(program, words, io)).trimEnd().split("\n");

  it("offers subcommands with their descriptions, and never files", async () => {
    const lines = await answer("s");
    expect(lines.map((l) => l.split("\t")[0])).toEqual(["status", "sling", "stage", "start", "suspend", ":4"]);
    expect(lines[0]).toBe("status\tone screen per town: rigs, agents, convoys, beads needing attention, escalations");
  });

  it("offers a command's flags, and the choices of a flag's value", async () => {
    expect((await answer("status", "--")).map((l) => l.split("\t")[0])).toEqual([
      "--watch",
      "--output",
      "--namespace",
      "--context",
      "--kubeconfig",
      ":4",
    ]);
    expect(await answer("-n", "team-a", "convoy", "x", "-o", "")).toEqual(["json", "yaml", ":4"]);
  });

  // The first answer that needs the cluster loads the Kubernetes client (seconds on a loaded machine).
  it("answers nothing but the directive when the cluster cannot be asked", { timeout: 60_000 }, async () => {
    expect(await answer("--kubeconfig", "/nonexistent", "convoy", "")).toEqual([":4"]);
  });

  it("completes the commands that act on failures, and their flags", async () => {
    const lines = await answer("retry", "--");
    expect(lines.map((l) => l.split("\t")[0])).toEqual(["--namespace", "--context", "--kubeconfig", ":4"]);
    expect((await answer("reset-breaker", "--")).at(-1)).toBe(":4");
    expect((await answer("a")).map((l) => l.split("\t")[0])).toEqual(["ack", ":4"]);
  });
});

describe("names and ages", () => {
  it("makes DNS-safe name stems from titles", () => {
    expect(slug("Fix the login redirect!")).toBe("fix-the-login-redirect");
    expect(slug("Ünïcödé — and more")).toBe("unicode-and-more");
    expect(slug("!!!")).toBe("work");
    expect(slug("a".repeat(50)).length).toBe(40);
  });

  it("writes durations like kubectl", () => {
    expect([5, 119, 150, 600, 3600 * 3, 3600 * 49].map((s) => shortDuration(s * 1000))).toEqual([
      "5s",
      "119s",
      "2m30s",
      "10m",
      "3h",
      "2d1h",
    ]);
    expect(age(undefined, 0)).toBe("-");
  });

  it("draws a convoy's progress: closed, failed (cancelled included), the rest", () => {
    expect(progressBar(1, 0, 4)).toBe("███░░░░░░░░░");
    expect(progressBar(2, 1, 4)).toBe("██████▒▒▒░░░");
    expect(progressBar(0, 1, 1)).toBe("▒▒▒▒▒▒▒▒▒▒▒▒");
    expect(progressBar(0, 0, 0)).toBe("░░░░░░░░░░░░");
  });
});
