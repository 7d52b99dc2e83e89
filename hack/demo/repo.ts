// The demo rig: a local bare git repository, created on first run and kept afterwards, so what the
// agents merged stays there to look at (`git --git-dir=.run/demo/app.git log --graph main`).
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const DEMO_BRANCH = "main";

/**
 * The rig's gate. A bead file may not keep a line that starts with TODO: the demo polecat writes
 * the bead's description into its file, so a task described as "TODO: ..." fails review once, and
 * the demo polecat's rework resolves the marker. That makes the rework loop visible on demand.
 */
export const CHECK_SCRIPT = `#!/bin/sh
# Gate of the demo rig: no bead file may keep an unresolved TODO line.
if grep -n '^TODO' beads/*.md 2>/dev/null; then
  echo "unresolved TODO lines (see above)"
  exit 1
fi
echo "check passed"
`;

export const DEMO_GATES = ["sh scripts/check.sh"];

const README = `# app

The demo rig of Gas Town. Each bead that lands adds its own file under beads/.
`;

function git(cwd: string, args: string[]): string {
  return execFileSync("git", args, {
    cwd,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "Gas Town demo",
      GIT_AUTHOR_EMAIL: "demo@gastown.local",
      GIT_COMMITTER_NAME: "Gas Town demo",
      GIT_COMMITTER_EMAIL: "demo@gastown.local",
    },
  });
}

/** Creates the bare repository with one commit on main unless it exists; returns whether it did. */
export function ensureDemoRepo(bareDir: string): boolean {
  if (existsSync(join(bareDir, "HEAD"))) return false;
  mkdirSync(bareDir, { recursive: true });
  git(bareDir, ["init", "--quiet", "--bare", `--initial-branch=${DEMO_BRANCH}`]);
  const work = mkdtempSync(join(tmpdir(), "gastown-demo-seed-"));
  try {
    git(work, ["init", "--quiet", `--initial-branch=${DEMO_BRANCH}`]);
    writeFileSync(join(work, "README.md"), README);
    mkdirSync(join(work, "scripts"));
    writeFileSync(join(work, "scripts", "check.sh"), CHECK_SCRIPT, { mode: 0o755 });
    git(work, ["add", "."]);
    git(work, ["commit", "--quiet", "-m", "Start the demo rig"]);
    git(work, ["push", "--quiet", bareDir, `HEAD:refs/heads/${DEMO_BRANCH}`]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return true;
}
