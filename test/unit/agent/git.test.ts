// Which branch a session starts on, from which base (docs/agent-contract.md): a new issue branches fresh from
// its base, a rework continues the branch under review, a redo after a failed review starts over;
// and the git credentials a session gets from its mounted Secret.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runDemo } from "../../../src/agent/demo.ts";
import { gitCredentialEnv, gitRunner, prepareRepo } from "../../../src/agent/git.ts";
import { createOrigin, GIT_ENV, git, pushBranch, recorder, repoDir, session, tip } from "./fixtures.ts";

describe("branch checkout rules", () => {
  it("a new issue: GT_BRANCH created from the base branch, not tracking anything", async () => {
    const o = createOrigin();
    const dir = repoDir(o);
    const result = await prepareRepo(session(o, { bead: "n1" }), dir, GIT_ENV);

    expect(result).toEqual({ branch: "gt/app/n1", from: "main" });
    expect(git(dir, "rev-parse", "--abbrev-ref", "HEAD")).toBe("gt/app/n1");
    expect(git(dir, "rev-parse", "HEAD")).toBe(tip(o, "main"));
    expect(git(dir, "config", "user.email")).toBe("gt-app-toast@gastown.local");
    expect(() => git(dir, "rev-parse", "--abbrev-ref", "@{upstream}")).toThrow();
  });

  it("a rework: the existing merge request branch is checked out as it is", async () => {
    const o = createOrigin();
    const branchTip = pushBranch(o, "gt/app/r1", { "r1.txt": "first attempt\n" });
    const dir = repoDir(o);
    const s = session(o, {
      bead: "r1-mr-1-rework-1",
      branch: "gt/app/r1",
      baseBranch: "gt/app/r1",
      reworkOf: "r1-mr-1",
    });
    await prepareRepo(s, dir, GIT_ENV);

    expect(git(dir, "rev-parse", "--abbrev-ref", "HEAD")).toBe("gt/app/r1");
    expect(git(dir, "rev-parse", "HEAD")).toBe(branchTip);
  });

  it("a rework whose branch is gone fails, naming the branch", async () => {
    const o = createOrigin();
    const s = session(o, { bead: "x-rw", branch: "gt/app/x", baseBranch: "gt/app/x", reworkOf: "x-mr-1" });
    await expect(prepareRepo(s, repoDir(o), GIT_ENV)).rejects.toThrow(/gt\/app\/x/);
  });

  it("a redo after a failed review starts the same branch fresh from the base, and the demo force-pushes it", async () => {
    const o = createOrigin();
    const old = pushBranch(o, "gt/app/d1", { "README.md": "# conflicting attempt\n" });
    const dir = repoDir(o);
    const s = session(o, { bead: "d1" });
    await prepareRepo(s, dir, GIT_ENV);
    expect(git(dir, "rev-parse", "HEAD")).toBe(tip(o, "main"));

    await runDemo({ session: s, repoDir: dir, git: gitRunner(dir, GIT_ENV), tools: recorder() });
    const redone = tip(o, "gt/app/d1")!;
    expect(redone).not.toBe(old);
    expect(git(o.bare, "rev-list", "--parents", "-n", "1", redone).split(" ")[1]).toBe(tip(o, "main"));
    expect(() => git(o.bare, "merge-base", "--is-ancestor", old, redone)).toThrow();
  });

  it("a refinery: the target branch, or the default branch under the target's name when it is missing", async () => {
    const o = createOrigin();
    const convoyTip = pushBranch(o, "convoy/c", { "c.txt": "feature\n" });
    const existing = repoDir(o);
    const r = session(o, {
      role: "Refinery",
      bead: "m-mr-1",
      branch: "gt/app/m",
      baseBranch: "convoy/c",
      targetBranch: "convoy/c",
    });
    expect(await prepareRepo(r, existing, GIT_ENV)).toEqual({ branch: "convoy/c", from: "convoy/c" });
    expect(git(existing, "rev-parse", "HEAD")).toBe(convoyTip);

    const missing = repoDir(o);
    const r2 = { ...r, baseBranch: "convoy/new", targetBranch: "convoy/new" };
    expect(await prepareRepo(r2, missing, GIT_ENV)).toEqual({ branch: "convoy/new", from: "main" });
    expect(git(missing, "rev-parse", "HEAD")).toBe(tip(o, "main"));
    expect(tip(o, "convoy/new")).toBeUndefined(); // created on the remote only by a merge
  });

  it("reuses a clone left in the workspace and still starts fresh", async () => {
    const o = createOrigin();
    const dir = repoDir(o);
    await prepareRepo(session(o, { bead: "p1" }), dir, GIT_ENV);
    writeFileSync(join(dir, "README.md"), "local edit\n");
    const moved = pushBranch(o, "main", { "more.txt": "more\n" });
    await prepareRepo(session(o, { bead: "p2" }), dir, GIT_ENV);
    expect(git(dir, "rev-parse", "HEAD")).toBe(moved);
    expect(git(dir, "status", "--porcelain")).toBe("");
  });
});

describe("git credentials", () => {
  it("username+password or token files become a credential helper that git asks", async () => {
    const o = createOrigin();
    const creds = join(o.root, "creds dir");
    mkdirSync(creds);
    writeFileSync(join(creds, "token"), "s3cr3t");
    // As in a session: the environment is derived from the files present when it starts.
    const env = () => ({ ...GIT_ENV, ...gitCredentialEnv(creds) });
    const ask = () =>
      execFileSync("git", ["credential", "fill"], {
        env: env(),
        input: "protocol=https\nhost=git.example.com\n\n",
        encoding: "utf8",
      });
    expect(ask()).toContain("username=x-access-token\npassword=s3cr3t\n");
    writeFileSync(join(creds, "username"), "bot");
    writeFileSync(join(creds, "password"), "pw");
    expect(ask()).toContain("username=bot\npassword=pw\n");
    expect(JSON.stringify(env())).not.toContain("s3cr3t");
  });

  it("an ssh-privatekey file becomes GIT_SSH_COMMAND; no directory, no credentials", () => {
    const o = createOrigin();
    writeFileSync(join(o.root, "ssh-privatekey"), "key");
    expect(gitCredentialEnv(o.root).GIT_SSH_COMMAND).toBe(
      `ssh -i '${o.root}'/ssh-privatekey -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new`,
    );
    expect(gitCredentialEnv(undefined)).toEqual({ GIT_TERMINAL_PROMPT: "0" });
  });
});
