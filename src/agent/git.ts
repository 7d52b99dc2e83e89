// Git for one session: credentials from the mounted Secret, the agent's identity, and the branch
// rules of docs/agent-contract.md — which branch a session starts on, and from which base. The rules live here
// (not in the agent) because every agent command, scripted or LLM, must start from the same state.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { SessionEnv } from "../api/session.ts";

export interface GitResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type Git = (args: string[], opts?: { allowFail?: boolean }) => Promise<GitResult>;

/** Runs git in `cwd`; a non-zero exit rejects with git's own words unless allowFail is set. */
export function gitRunner(cwd: string, env: NodeJS.ProcessEnv = process.env): Git {
  return (args, opts = {}) =>
    new Promise((resolve, reject) => {
      execFile("git", args, { cwd, env, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        if (code !== 0 && !opts.allowFail) {
          const why = (stderr.trim() || stdout.trim() || (err as Error).message).split("\n").slice(-5).join(" | ");
          reject(new Error(`git ${args.join(" ")} failed (exit ${code}): ${why}`));
        } else resolve({ code, stdout, stderr });
      });
    });
}

export const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Environment that makes every git command of the session (ours, the agent's, the gates') use the
 * rig's credentials: a credential helper reading `username`+`password` or `token` from the mounted
 * Secret, or `ssh-privatekey` through GIT_SSH_COMMAND. Config goes in through GIT_CONFIG_* so the
 * secrets themselves never land in a file inside the repository.
 */
export function gitCredentialEnv(dir: string | undefined): Record<string, string> {
  const env: Record<string, string> = { GIT_TERMINAL_PROMPT: "0" };
  if (!dir) return env;
  const has = (f: string) => existsSync(join(dir, f));
  const q = shellQuote(dir);
  const secret = has("password") ? "password" : has("token") ? "token" : undefined;
  if (secret) {
    // GitHub and GitLab both accept a token as the password of an arbitrary user name.
    const user = has("username") ? `$(cat ${q}/username)` : "x-access-token";
    const helper = `!f() { test "$1" = get || exit 0; echo "username=${user}"; echo "password=$(cat ${q}/${secret})"; }; f`;
    // The empty value first resets any helper configured elsewhere (a keychain would shadow ours).
    const config: [string, string][] = [
      ["credential.helper", ""],
      ["credential.helper", helper],
    ];
    env.GIT_CONFIG_COUNT = String(config.length);
    config.forEach(([k, v], i) => {
      env[`GIT_CONFIG_KEY_${i}`] = k;
      env[`GIT_CONFIG_VALUE_${i}`] = v;
    });
  }
  if (has("ssh-privatekey")) {
    const hosts = has("known_hosts") ? `-o UserKnownHostsFile=${q}/known_hosts` : "-o StrictHostKeyChecking=accept-new";
    env.GIT_SSH_COMMAND = `ssh -i ${q}/ssh-privatekey -o IdentitiesOnly=yes ${hosts}`;
  }
  return env;
}

export async function remoteBranchExists(git: Git, branch: string): Promise<boolean> {
  const r = await git(["rev-parse", "--verify", "--quiet", `refs/remotes/origin/${branch}^{commit}`], {
    allowFail: true,
  });
  return r.code === 0;
}

export async function head(git: Git): Promise<string> {
  return (await git(["rev-parse", "HEAD"])).stdout.trim();
}

/**
 * A convoy's feature branch may not exist yet when its first member starts: create it on the
 * remote from the default branch. Two polecats racing to do so push the same commit; if the push
 * is refused anyway (the default branch moved in between), the branch that won is used.
 */
export async function ensureRemoteBranch(git: Git, branch: string, from: string): Promise<void> {
  if (await remoteBranchExists(git, branch)) return;
  if (!(await remoteBranchExists(git, from))) throw new Error(`branch ${from} does not exist in the repository`);
  const push = await git(["push", "origin", `refs/remotes/origin/${from}:refs/heads/${branch}`], { allowFail: true });
  await git(["fetch", "--prune", "origin"]);
  if (!(await remoteBranchExists(git, branch)))
    throw new Error(`cannot create branch ${branch} from ${from}: ${push.stderr.trim()}`);
}

/**
 * Checks out what the session works on:
 * - refinery: the target branch (created from the default branch when missing, pushed on merge);
 * - rework: the existing merge request branch, as it is (the rework adds to it);
 * - polecat: GT_BRANCH started fresh from the base (creating a missing feature branch first). A
 *   redo after a failed review reuses the branch name, so starting fresh means resetting it; the
 *   agent force-pushes it.
 */
export async function checkoutForSession(git: Git, s: SessionEnv): Promise<{ branch: string; from: string }> {
  const checkout = (branch: string, from: string) =>
    git(["checkout", "-f", "--no-track", "-B", branch, `refs/remotes/origin/${from}`]);
  if (s.role === "Refinery") {
    const from = (await remoteBranchExists(git, s.targetBranch)) ? s.targetBranch : s.defaultBranch;
    if (!(await remoteBranchExists(git, from)))
      throw new Error(`neither ${s.targetBranch} nor the default branch ${s.defaultBranch} exists in the repository`);
    await checkout(s.targetBranch, from);
    return { branch: s.targetBranch, from };
  }
  if (s.reworkOf) {
    if (!(await remoteBranchExists(git, s.branch)))
      throw new Error(`the branch under rework, ${s.branch}, does not exist in the repository`);
    await checkout(s.branch, s.branch);
    return { branch: s.branch, from: s.branch };
  }
  await ensureRemoteBranch(git, s.baseBranch, s.defaultBranch);
  await checkout(s.branch, s.baseBranch);
  return { branch: s.branch, from: s.baseBranch };
}

/**
 * Clones the rig into `repoDir` (or refreshes a clone left by an earlier session on a persistent
 * workspace), sets the agent's git identity and checks out the session's branch.
 */
export async function prepareRepo(
  s: SessionEnv,
  repoDir: string,
  env: NodeJS.ProcessEnv,
  log: (line: string) => void = () => {},
): Promise<{ branch: string; from: string }> {
  if (existsSync(join(repoDir, ".git"))) {
    log(`refreshing the existing clone in ${repoDir}`);
    await gitRunner(repoDir, env)(["fetch", "--prune", "origin"]);
  } else {
    await mkdir(dirname(repoDir), { recursive: true });
    log(`cloning ${s.repo}`);
    await gitRunner(dirname(repoDir), env)(["clone", "--quiet", s.repo, repoDir]);
  }
  const git = gitRunner(repoDir, env);
  await git(["config", "user.name", s.agent]);
  await git(["config", "user.email", `${s.agent}@gastown.local`]);
  const result = await checkoutForSession(git, s);
  log(`on branch ${result.branch} (from ${result.from})`);
  return result;
}
