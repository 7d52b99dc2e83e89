// Real git repositories in temp dirs for the agent tests: a bare "origin" with one commit on main,
// sessions as the runtime would describe them, and a recorder standing in for the `gt` tools.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import type { DemoTools } from "../../../src/agent/demo.ts";
import { type SessionEnv, SessionEnvSchema } from "../../../src/api/session.ts";

/** git without the machine's global or system config, so the tests see what a fresh pod sees. */
export const GIT_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  GIT_CONFIG_GLOBAL: "/dev/null",
  GIT_CONFIG_NOSYSTEM: "1",
  GIT_TERMINAL_PROMPT: "0",
};

const roots: string[] = [];
afterAll(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

export function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, { cwd, env: GIT_ENV, encoding: "utf8", stdio: "pipe" }).trim();
}

export interface Origin {
  root: string;
  /** The bare repository sessions clone and push to. */
  bare: string;
  /** A clone to make commits "by someone else" (a human, another polecat). */
  seed: string;
}

/** A bare repository whose main has one commit (README.md), plus a seed clone of it. */
export function createOrigin(): Origin {
  const root = mkdtempSync(join(tmpdir(), "gt-agent-"));
  roots.push(root);
  const bare = join(root, "origin.git");
  git(root, "init", "--quiet", "--bare", "-b", "main", bare);
  const seed = join(root, "seed");
  git(root, "clone", "--quiet", bare, seed);
  git(seed, "config", "user.name", "seed");
  git(seed, "config", "user.email", "seed@example.com");
  git(seed, "checkout", "--quiet", "-b", "main");
  writeFileSync(join(seed, "README.md"), "# app\n");
  git(seed, "add", "README.md");
  git(seed, "commit", "--quiet", "-m", "initial");
  git(seed, "push", "--quiet", "origin", "main");
  return { root, bare, seed };
}

/** Commits `files` on `branch` of the seed clone (created from `from`) and pushes it. */
export function pushBranch(o: Origin, branch: string, files: Record<string, string>, from = "main"): string {
  git(o.seed, "fetch", "--quiet", "origin");
  git(o.seed, "checkout", "--quiet", "-B", branch, `origin/${from}`);
  for (const [f, content] of Object.entries(files)) writeFileSync(join(o.seed, f), content);
  git(o.seed, "add", "-A");
  git(o.seed, "commit", "--quiet", "-m", `change ${branch}`);
  git(o.seed, "push", "--quiet", "--force", "origin", `${branch}:${branch}`);
  return git(o.seed, "rev-parse", "HEAD");
}

/** The tip of `branch` in the bare repository, or undefined when it does not exist. */
export function tip(o: Origin, branch: string): string | undefined {
  try {
    return execFileSync("git", ["rev-parse", "--verify", "--quiet", `refs/heads/${branch}`], {
      cwd: o.bare,
      env: GIT_ENV,
      encoding: "utf8",
      stdio: "pipe",
    }).trim();
  } catch {
    return undefined;
  }
}

export function show(o: Origin, rev: string): string {
  return git(o.bare, "show", rev);
}

export function session(o: Origin, overrides: Partial<Record<keyof SessionEnv, unknown>> = {}): SessionEnv {
  const bead = String(overrides.bead ?? "b1");
  return SessionEnvSchema.parse({
    namespace: "ns",
    town: "gt",
    rig: "app",
    agent: "gt-app-toast",
    role: "Polecat",
    session: "1",
    bead,
    beadTitle: `Title of ${bead}`,
    beadDescription: `Description of ${bead}.`,
    branch: `gt/app/${bead}`,
    baseBranch: "main",
    targetBranch: "main",
    repo: o.bare,
    defaultBranch: "main",
    mergeStrategy: "Direct",
    gates: "[]",
    files: "[]",
    agentCommand: "[]",
    workspace: join(o.root, "ws"),
    ...Object.fromEntries(Object.entries(overrides).map(([k, v]) => [k, Array.isArray(v) ? JSON.stringify(v) : v])),
  });
}

export type ToolCall =
  | { tool: "done"; branch: string; commit?: string; summary?: string }
  | { tool: "requestChanges"; feedback: string; files: string[] }
  | { tool: "reviewFailed"; message: string };

/** A fake report sink: records what the demo agent reported, in order. */
export function recorder(): DemoTools & { calls: ToolCall[] } {
  const calls: ToolCall[] = [];
  return {
    calls,
    async done(r) {
      calls.push({ tool: "done", ...r });
    },
    async requestChanges(r) {
      calls.push({ tool: "requestChanges", ...r });
    },
    async reviewFailed(r) {
      calls.push({ tool: "reviewFailed", ...r });
    },
  };
}

let workspaces = 0;
/** A fresh clone directory for one session. */
export function repoDir(o: Origin): string {
  return join(o.root, `ws-${++workspaces}`, "repo");
}
