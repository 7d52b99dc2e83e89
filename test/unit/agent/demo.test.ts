// The demo agent's git work against a real bare repository: what a polecat pushes and reports,
// how the refinery merges (--no-ff, into a feature branch that may not exist yet), and what it
// reports when a gate fails or the branch conflicts.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { beadFile, runDemo } from "../../../src/agent/demo.ts";
import { gitRunner, prepareRepo } from "../../../src/agent/git.ts";
import type { SessionEnv } from "../../../src/api/session.ts";
import {
  createOrigin,
  GIT_ENV,
  git,
  type Origin,
  pushBranch,
  recorder,
  repoDir,
  session,
  show,
  tip,
} from "./fixtures.ts";

/** What `gt run` does before starting the agent, then the demo agent itself. */
async function runSession(o: Origin, s: SessionEnv) {
  const dir = repoDir(o);
  await prepareRepo(s, dir, GIT_ENV);
  const tools = recorder();
  const lines: string[] = [];
  await runDemo({
    session: s,
    repoDir: dir,
    git: gitRunner(dir, GIT_ENV),
    tools,
    env: GIT_ENV,
    out: (l) => lines.push(l),
  });
  return { dir, calls: tools.calls, lines };
}

const parents = (o: Origin, rev: string) => git(o.bare, "rev-list", "--parents", "-n", "1", rev).split(" ").slice(1);

// Real git in every case: seconds on a loaded machine.
describe("demo polecat", { timeout: 60_000 }, () => {
  it("adds beads/<bead>.md with the title and description, commits, pushes its branch and reports Done", async () => {
    const o = createOrigin();
    const { calls } = await runSession(
      o,
      session(o, { bead: "login", beadTitle: "Add login", beadDescription: "A form." }),
    );

    expect(calls).toEqual([{ tool: "done", branch: "gt/app/login", summary: "added beads/login.md" }]);
    expect(git(o.bare, "show", "gt/app/login:beads/login.md")).toBe("# Add login\n\nA form.");
    expect(git(o.bare, "log", "-1", "--format=%s%n%an <%ae>", "gt/app/login")).toBe(
      "login: Add login\ngt-app-toast <gt-app-toast@gastown.local>",
    );
    expect(parents(o, "gt/app/login")).toEqual([tip(o, "main")]);
  });

  it("starts a convoy member from the feature branch, creating it from the default branch when missing", async () => {
    const o = createOrigin();
    expect(tip(o, "convoy/c1")).toBeUndefined();
    const s = session(o, { bead: "c1-a", baseBranch: "convoy/c1", targetBranch: "convoy/c1" });
    await runSession(o, s);

    expect(tip(o, "convoy/c1")).toBe(tip(o, "main"));
    expect(parents(o, "gt/app/c1-a")).toEqual([tip(o, "convoy/c1")]);
  });

  it("reworks the branch under review: appends the feedback to the named file and fast-forwards it", async () => {
    const o = createOrigin();
    await runSession(o, session(o, { bead: "b3" }));
    const before = tip(o, "gt/app/b3")!;
    const rework = session(o, {
      bead: "b3-mr-1-rework-1",
      beadTitle: "Rework b3",
      branch: "gt/app/b3",
      baseBranch: "gt/app/b3",
      reworkOf: "b3-mr-1",
      feedback: "gate 'make test' failed:\nboom",
      files: [beadFile("b3")],
    });
    const { calls } = await runSession(o, rework);

    expect(calls).toEqual([{ tool: "done", branch: "gt/app/b3", summary: "reworked beads/b3.md" }]);
    expect(git(o.bare, "show", "gt/app/b3:beads/b3.md")).toBe(
      "# Title of b3\n\nDescription of b3.\nreworked: gate 'make test' failed: boom",
    );
    expect(parents(o, "gt/app/b3")).toEqual([before]);
    expect(git(o.bare, "log", "-1", "--format=%s", "gt/app/b3")).toBe("b3-mr-1-rework-1: Rework b3");
  });

  it("resolves the TODO lines of the reworked files, so a gate that objected to them passes", async () => {
    const o = createOrigin();
    await runSession(o, session(o, { bead: "b5", beadDescription: "TODO: handle the empty password" }));
    expect(git(o.bare, "show", "gt/app/b5:beads/b5.md")).toMatch(/^TODO: handle/m);
    const rework = session(o, {
      bead: "b5-mr-1-rework-1",
      branch: "gt/app/b5",
      baseBranch: "gt/app/b5",
      reworkOf: "b5-mr-1",
      feedback: "TODO lines left:\nTODO: handle the empty password",
      files: [beadFile("b5")],
    });
    await runSession(o, rework);
    const text = git(o.bare, "show", "gt/app/b5:beads/b5.md");
    expect(text).not.toMatch(/^TODO/m);
    expect(text).toContain("DONE: handle the empty password");
  });

  it("reworks the files the branch changed when the reviewer named none", async () => {
    const o = createOrigin();
    await runSession(o, session(o, { bead: "b4" }));
    const rework = session(o, {
      bead: "b4-rw",
      branch: "gt/app/b4",
      baseBranch: "gt/app/b4",
      reworkOf: "b4-mr-1",
      feedback: "more",
    });
    await runSession(o, rework);
    expect(git(o.bare, "show", "gt/app/b4:beads/b4.md")).toContain("reworked: more");
  });
});

describe("demo refinery", { timeout: 60_000 }, () => {
  const refinery = (o: Origin, overrides: Parameters<typeof session>[1]) =>
    session(o, { role: "Refinery", agent: "gt-app-refinery", bead: "b1-mr-1", branch: "gt/app/b1", ...overrides });

  it("merges --no-ff into a convoy feature branch that does not exist yet, pushes it and reports the merge commit", async () => {
    const o = createOrigin();
    await runSession(o, session(o, { bead: "b1" }));
    const branchTip = tip(o, "gt/app/b1")!;
    const s = refinery(o, { baseBranch: "convoy/c2", targetBranch: "convoy/c2", gates: ["test -f beads/b1.md"] });
    const { calls } = await runSession(o, s);

    const merged = tip(o, "convoy/c2")!;
    expect(calls).toEqual([
      { tool: "done", branch: "gt/app/b1", commit: merged, summary: "merged gt/app/b1 into convoy/c2" },
    ]);
    expect(parents(o, merged)).toEqual([tip(o, "main"), branchTip]);
    expect(show(o, `${merged}:beads/b1.md`)).toContain("Title of b1");
    expect(git(o.bare, "log", "-1", "--format=%s", merged)).toBe("Merge gt/app/b1 into convoy/c2 (b1-mr-1)");
  });

  it("on a failing gate resets the merge, requests changes with the gate's output, then releases itself", async () => {
    const o = createOrigin();
    await runSession(o, session(o, { bead: "b1" }));
    const mainBefore = tip(o, "main");
    const failing = "echo checking >&2; echo 'lint: 3 problems' >&2; exit 3";
    const { calls, dir } = await runSession(o, refinery(o, { gates: ["true", failing, "echo never-run"] }));

    expect(calls).toEqual([
      {
        tool: "requestChanges",
        feedback: `gate '${failing}' failed: checking\nlint: 3 problems`,
        files: ["beads/b1.md"],
      },
      { tool: "done", branch: "gt/app/b1", summary: `changes requested: gate '${failing}' failed` },
    ]);
    expect(tip(o, "main")).toBe(mainBefore);
    expect(git(dir, "rev-parse", "HEAD")).toBe(mainBefore);
  });

  it("on a conflict aborts the merge and reports ReviewFailed naming the files", async () => {
    const o = createOrigin();
    pushBranch(o, "gt/app/b1", { "README.md": "# app, the polecat's version\n" });
    pushBranch(o, "main", { "README.md": "# app, someone else's version\n" });
    const mainBefore = tip(o, "main");
    const { calls, dir } = await runSession(o, refinery(o, { gates: ["echo should-not-run; exit 1"] }));

    expect(calls).toEqual([{ tool: "reviewFailed", message: "merge conflict: README.md" }]);
    expect(tip(o, "main")).toBe(mainBefore);
    expect(git(dir, "status", "--porcelain")).toBe("");
    expect(readFileSync(join(dir, "README.md"), "utf8")).toBe("# app, someone else's version\n");
  });

  it("reports ReviewFailed when the branch under review does not exist", async () => {
    const o = createOrigin();
    const { calls } = await runSession(o, refinery(o, { branch: "gt/app/ghost" }));
    expect(calls).toEqual([{ tool: "reviewFailed", message: "branch gt/app/ghost does not exist in the repository" }]);
  });

  it("cannot open pull requests: with mergeStrategy PullRequest it reports ReviewFailed saying so", async () => {
    const o = createOrigin();
    await runSession(o, session(o, { bead: "b1" }));
    const { calls } = await runSession(o, refinery(o, { mergeStrategy: "PullRequest" }));
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ tool: "reviewFailed" });
    expect((calls[0] as { message: string }).message).toMatch(/cannot open pull requests.*PullRequest/);
    expect(tip(o, "main")).toBe(git(o.bare, "rev-list", "--max-parents=0", "main"));
  });
});
