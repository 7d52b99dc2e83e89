// The scripted demo agent: no LLM, real git. It is what `gt run` starts when the town configures no
// agent command, so the whole pipeline (dispatch, branches, review, merge, landing) can run on one
// machine. Its changes are deterministic and conflict-free by construction: each bead adds its own
// file beads/<bead>.md.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import type { SessionEnv } from "../api/session.ts";
import { type Git, head, remoteBranchExists } from "./git.ts";

/** How the demo reports; in a session these are the `gt` tools, in unit tests a recorder. */
export interface DemoTools {
  done(r: { branch: string; commit?: string; summary?: string }): Promise<void>;
  requestChanges(r: { feedback: string; files: string[] }): Promise<void>;
  reviewFailed(r: { message: string }): Promise<void>;
}

export interface DemoOptions {
  session: SessionEnv;
  /** The clone, already on the session's branch (see checkoutForSession). */
  repoDir: string;
  git: Git;
  tools: DemoTools;
  /** Environment for the gates. */
  env?: NodeJS.ProcessEnv;
  out?: (line: string) => void;
}

const FEEDBACK_LINES = 20;
const MAX_FEEDBACK_CHARS = 4000;

export function beadFile(bead: string): string {
  return `beads/${bead}.md`;
}

function tail(text: string): string {
  const lines = text.trimEnd().split("\n").slice(-FEEDBACK_LINES).join("\n");
  return lines.length > MAX_FEEDBACK_CHARS ? `…${lines.slice(-MAX_FEEDBACK_CHARS)}` : lines;
}

export async function runDemo(o: DemoOptions): Promise<void> {
  if (o.session.role === "Refinery") await refinery(o);
  else await polecat(o);
}

/**
 * The files a rework touches: those the reviewer named (when they exist in the branch), else the
 * bead files the branch changed, else a new file for this bead.
 */
async function reworkFiles(o: DemoOptions): Promise<string[]> {
  const inRepo = (f: string) => {
    const rel = relative(o.repoDir, resolve(o.repoDir, f));
    return rel !== "" && !rel.startsWith("..") ? rel : undefined;
  };
  const named = o.session.files.map(inRepo).filter((f): f is string => !!f && existsSync(join(o.repoDir, f)));
  if (named.length > 0) return named;
  const target = o.session.targetBranch;
  if (await remoteBranchExists(o.git, target)) {
    const diff = await o.git(["diff", "--name-only", `refs/remotes/origin/${target}...HEAD`, "--", "beads/"]);
    const changed = diff.stdout.split("\n").filter((f) => f && existsSync(join(o.repoDir, f)));
    if (changed.length > 0) return changed;
  }
  return [beadFile(o.session.bead)];
}

async function polecat(o: DemoOptions): Promise<void> {
  const s = o.session;
  const log = o.out ?? (() => {});
  let files: string[];
  if (s.reworkOf) {
    files = await reworkFiles(o);
    const line = `reworked: ${(s.feedback ?? "").replace(/\s+/g, " ").trim()}\n`;
    for (const f of files) {
      const path = join(o.repoDir, f);
      await mkdir(join(path, ".."), { recursive: true });
      // The scripted "fix": resolve the TODO markers a gate may have objected to (see the demo
      // rig's scripts/check.sh), and leave the feedback as a trace of the rework.
      const text = existsSync(path) ? await readFile(path, "utf8") : "";
      await writeFile(path, `${text.replace(/^TODO\b/gm, "DONE")}${line}`);
    }
  } else {
    files = [beadFile(s.bead)];
    await mkdir(join(o.repoDir, "beads"), { recursive: true });
    await writeFile(join(o.repoDir, files[0]!), `# ${s.beadTitle || s.bead}\n\n${s.beadDescription}\n`);
  }
  log(`demo polecat: changed ${files.join(", ")}`);
  await o.git(["add", "--", ...files]);
  const staged = await o.git(["diff", "--cached", "--quiet"], { allowFail: true });
  if (staged.code !== 0) await o.git(["commit", "--quiet", "-m", `${s.bead}: ${s.beadTitle || s.bead}`]);
  // A fresh branch may replace an earlier attempt's (a redo after a failed review): force it.
  // A rework adds to the branch under review, so it must fast-forward.
  await o.git(["push", "--quiet", ...(s.reworkOf ? [] : ["--force"]), "origin", `HEAD:refs/heads/${s.branch}`]);
  log(`demo polecat: pushed ${s.branch}`);
  await o.tools.done({ branch: s.branch, summary: `${s.reworkOf ? "reworked" : "added"} ${files.join(", ")}` });
}

/** Runs one gate with `sh -c` in the repository; its output goes to the log and into the result. */
function runGate(cmd: string, cwd: string, env: NodeJS.ProcessEnv, log: (line: string) => void) {
  return new Promise<{ code: number; output: string }>((done) => {
    const child = spawn("sh", ["-c", cmd], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const collect = (c: Buffer) => {
      output += c.toString("utf8");
      if (output.length > 1 << 20) output = output.slice(-(1 << 19));
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    child.on("error", (e) => done({ code: 127, output: e.message }));
    child.on("close", (code, signal) => {
      for (const line of output.trimEnd().split("\n").slice(-FEEDBACK_LINES)) if (line) log(`  ${line}`);
      done({ code: code ?? (signal ? 128 : 1), output });
    });
  });
}

async function refinery(o: DemoOptions): Promise<void> {
  const s = o.session;
  const log = o.out ?? (() => {});
  if (s.mergeStrategy === "PullRequest") {
    await o.tools.reviewFailed({
      message: `the demo refinery cannot open pull requests (rig ${s.rig} uses mergeStrategy PullRequest); configure a coding agent command that can`,
    });
    return;
  }
  await o.git(["fetch", "--quiet", "--prune", "origin"]);
  if (!(await remoteBranchExists(o.git, s.branch))) {
    await o.tools.reviewFailed({ message: `branch ${s.branch} does not exist in the repository` });
    return;
  }
  const before = await head(o.git);
  const source = `refs/remotes/origin/${s.branch}`;
  const merge = await o.git(
    ["merge", "--no-ff", "--no-edit", "-m", `Merge ${s.branch} into ${s.targetBranch} (${s.bead})`, source],
    { allowFail: true },
  );
  if (merge.code !== 0) {
    const unmerged = await o.git(["diff", "--name-only", "--diff-filter=U"], { allowFail: true });
    const conflicts = unmerged.stdout.split("\n").filter(Boolean);
    await o.git(["merge", "--abort"], { allowFail: true });
    await o.git(["reset", "--quiet", "--hard", before]);
    const message =
      conflicts.length > 0
        ? `merge conflict: ${conflicts.join(", ")}`
        : `merge failed: ${tail(merge.stderr || merge.stdout)}`;
    log(`demo refinery: ${message}`);
    await o.tools.reviewFailed({ message });
    return;
  }
  const files = (await o.git(["diff", "--name-only", before, "HEAD"])).stdout.split("\n").filter(Boolean);
  for (const gate of s.gates) {
    log(`demo refinery: gate ${gate}`);
    const r = await runGate(gate, o.repoDir, o.env ?? process.env, log);
    if (r.code !== 0) {
      await o.git(["reset", "--quiet", "--hard", before]);
      await o.tools.requestChanges({
        feedback: `gate '${gate}' failed: ${tail(r.output) || `exit ${r.code}`}`,
        files: files.slice(0, 100),
      });
      // Release the merge request to the rework (the operator reads this Done as a release).
      await o.tools.done({ branch: s.branch, summary: `changes requested: gate '${gate}' failed` });
      return;
    }
  }
  const commit = await head(o.git);
  await o.git(["push", "--quiet", "origin", `HEAD:refs/heads/${s.targetBranch}`]);
  log(`demo refinery: merged ${s.branch} into ${s.targetBranch} at ${commit}`);
  await o.tools.done({ branch: s.branch, commit, summary: `merged ${s.branch} into ${s.targetBranch}` });
}
