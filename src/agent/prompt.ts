// The prompt a coding agent starts from (GT_WORKSPACE/PROMPT.md, path in GT_PROMPT_FILE): who it
// is, the bead, rework context, its checkpoint, and the exact tool calls that end its session.
// Everything comes from the session environment, so the prompt exists before any API call.
import type { SessionEnv } from "../api/session.ts";

function roleInstructions(s: SessionEnv): string[] {
  if (s.role === "Refinery") {
    const pr =
      s.mergeStrategy === "PullRequest"
        ? [
            `This rig merges through pull requests: open a pull request of \`${s.branch}\` into \`${s.targetBranch}\`,`,
            "then report it with `gt done --pr-url <https URL>`; the operator polls it until it is merged or closed.",
          ]
        : [
            `Merge \`origin/${s.branch}\` into \`${s.targetBranch}\` with \`git merge --no-ff\`, run every gate below`,
            `after the merge, push \`${s.targetBranch}\` and report \`gt done --commit <merge sha>\`.`,
          ];
    return [
      `You are the refinery of rig **${s.rig}**: you review merge request **${s.bead}** and merge it.`,
      `You are on branch \`${s.targetBranch}\` (created from \`${s.defaultBranch}\` if it did not exist yet).`,
      ...pr,
      '- A gate fails or the change is not good enough: `gt request-changes --feedback "..." --files a,b`,',
      "  then `gt done` to release yourself (the polecat reworks the same branch; you review it again).",
      "- The branch cannot merge at all (e.g. a conflict): `git merge --abort`, then",
      '  `gt review-failed --message "merge conflict: <files>"` (the issue is redone from scratch).',
    ];
  }
  const start = s.reworkOf
    ? `You are on \`${s.branch}\`, the branch of merge request **${s.reworkOf}**, as the refinery left it: add to it.`
    : `You are on \`${s.branch}\`, freshly started from \`${s.baseBranch}\`: it is yours; force-push it if it already exists.`;
  return [
    `You are **${s.agent}**, a polecat of rig **${s.rig}**: implement bead **${s.bead}** and nothing else.`,
    start,
    `Commit your work, push it with \`git push ${s.reworkOf ? "" : "--force "}origin ${s.branch}\`, then report`,
    `\`gt done --branch ${s.branch} --summary "<what you did>"\`. The refinery merges it into \`${s.targetBranch}\`.`,
  ];
}

export function buildPrompt(s: SessionEnv): string {
  const lines = [
    `# Gas Town: ${s.beadTitle || s.bead}`,
    "",
    `Town ${s.town}, rig ${s.rig}, agent ${s.agent} (${s.role}), session ${s.session}. Repository: ${s.repo}.`,
    "",
    "## Your job",
    "",
    ...roleInstructions(s),
    "",
    `## Bead ${s.bead}: ${s.beadTitle}`,
    "",
    s.beadDescription || "(no description)",
  ];
  if (s.reworkOf) {
    lines.push("", `## Rework requested on ${s.reworkOf}`, "", s.feedback || "(no feedback given)");
    if (s.files.length > 0) lines.push("", "Files named by the reviewer:", ...s.files.map((f) => `- ${f}`));
  }
  if (s.role === "Refinery" && s.gates.length > 0)
    lines.push(
      "",
      "## Gates (each must exit 0, run with `sh -c` in the repository)",
      "",
      ...s.gates.map((g) => `- \`${g}\``),
    );
  if (s.checkpoint) lines.push("", "## Checkpoint from this bead's previous session", "", "```", s.checkpoint, "```");
  lines.push(
    "",
    "## Tools",
    "",
    "- `gt prime` — print this assignment again, with any nudges the operator sent you.",
    "- `gt checkpoint --data <text>` (or `--data -` for stdin) — save progress for the next session if this one dies.",
    "- `gt handoff [--checkpoint <text>]` — end this session on purpose and continue in a fresh one; then exit.",
    "- `gt escalate --severity Low|Medium|High|Critical --message <text>` — ask a human for help.",
    "- `gt done --branch B [--summary S] [--pr-url U] [--commit SHA]` — the work is finished; then exit.",
    ...(s.role === "Refinery"
      ? [
          "- `gt request-changes --feedback <text> [--files a,b]` — send the branch back for rework.",
          "- `gt review-failed --message <text>` — the branch cannot be merged.",
        ]
      : []),
    "",
    "Nothing you do counts until it is reported with these tools. Stay active: a session silent for",
    "too long is nudged, then stopped.",
    "",
  );
  return lines.join("\n");
}

/**
 * The standing instructions, for the CLI's own instruction file (CLAUDE.md, AGENTS.md in the
 * session's HOME): how a Gas Town session works, whatever the bead. The assignment is the prompt.
 */
export function buildInstructions(s: SessionEnv): string {
  return [
    "# Working in Gas Town",
    "",
    `You are ${s.agent}, a ${s.role === "Refinery" ? "refinery (reviewer and merger)" : "polecat (worker)"} of rig ${s.rig} in town ${s.town}.`,
    "You run unattended: nobody answers questions. Work in the current directory (a clone of the rig),",
    "use the shell for git and for the `gt` tools, and finish by reporting with `gt`.",
    "",
    "- `gt prime` prints your assignment again, with any nudges.",
    "- `gt done` reports the work finished; nothing you do counts until it is reported.",
    "- `gt escalate --severity Low|Medium|High|Critical --message <text>` asks a human for help.",
    "- `gt checkpoint --data <text>` saves progress for the next session if this one dies.",
    "",
    `Messages that start with "${NUDGE_PREFIX}" come from the operator while you work: read them and act.`,
    "",
  ].join("\n");
}

export const NUDGE_PREFIX = "[Gas Town nudge]";

/** A nudge as the agent reads it, whatever way it is delivered. */
export function nudgeText(n: { tier: string; message: string }): string {
  return `${NUDGE_PREFIX} (${n.tier}) ${n.message}`;
}
