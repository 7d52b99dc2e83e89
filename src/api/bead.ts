// Bead: one unit of work — an Issue a polecat implements, or a MergeRequest the refinery reviews.
import { z } from "zod";
import { MAX_CHECKPOINT_BYTES } from "./agent.ts";
import { conditionList, dnsLabel, objectName, observedGeneration, priority, resource, timestamp } from "./meta.ts";
import { BeadUsageSchema, BudgetSchema } from "./usage.ts";

export const BEAD_TYPES = ["Issue", "MergeRequest"] as const;
export type BeadType = (typeof BEAD_TYPES)[number];

export const BEAD_PHASES = ["Open", "InProgress", "InReview", "Closed", "Failed"] as const;
export type BeadPhase = (typeof BEAD_PHASES)[number];

/** Why a bead reached a terminal phase; invariant 6 reads it to prove nothing closed unmerged. */
export const RESOLUTIONS = [
  "Merged",
  "ReworkDone",
  "Cancelled",
  "MaxDispatchAttempts",
  "ReviewFailed",
  "Superseded",
  "Orphaned",
  "MaxReviewCycles",
] as const;
export type Resolution = (typeof RESOLUTIONS)[number];

const branch = () =>
  z
    .string()
    .min(1)
    .max(256)
    .regex(/^[A-Za-z0-9._/-]+$/);

export const BeadSpecSchema = z
  .object({
    town: dnsLabel(24).describe("The Town (same namespace) this bead belongs to; immutable."),
    rig: dnsLabel(24)
      .optional()
      .describe(
        "The rig (Town spec.rigs[].name) whose agents work on it; without a rig the bead is tracked but never dispatched.",
      ),
    type: z
      .enum(BEAD_TYPES)
      .default("Issue")
      .describe(
        "Issue (default): a polecat implements it. MergeRequest: the rig's refinery reviews and merges a branch. Immutable.",
      ),
    title: z.string().min(1).max(200).describe("One line saying what to do; the agent gets it as GT_BEAD_TITLE."),
    description: z
      .string()
      .max(16384)
      .default("")
      .describe("The full task for the agent (GT_BEAD_DESCRIPTION); default empty."),
    priority: priority(),
    labels: z
      .array(z.string().min(1).max(63))
      .max(20)
      .default([])
      .meta({ "x-kubernetes-list-type": "set" })
      .describe("Free-form tags for people and tools; the controller does not act on them."),
    dependsOn: z
      .array(objectName())
      .max(50)
      .default([])
      .meta({ "x-kubernetes-list-type": "set" })
      .describe("Beads that must be Closed or Failed before this one is dispatched."),
    convoy: objectName().optional().describe("The Convoy this bead is a task (or merge request, rework, landing) of."),
    source: z
      .object({
        kind: z.enum(["Bead", "Convoy"]).describe("Bead for an issue's merge request, Convoy for a landing."),
        name: objectName().describe("Name of that Bead or Convoy."),
      })
      .optional()
      .describe("MergeRequest only: the Issue (or, for a landing, the Convoy) whose branch is reviewed."),
    branch: branch().optional().describe("MergeRequest and rework: the branch under review."),
    targetBranch: branch().optional().describe("MergeRequest: where the branch merges."),
    reworkOf: objectName().optional().describe("Issue only: the merge request this rework answers."),
    feedback: z.string().max(16384).optional().describe("Rework: what the refinery asked to change."),
    files: z
      .array(z.string().min(1).max(1024))
      .max(100)
      .optional()
      .describe("Rework: the files the refinery's feedback is about (GT_FILES)."),
    cancel: z
      .boolean()
      .default(false)
      .describe("true stops the work, cancels its merge requests and reworks, and fails the bead (Cancelled)."),
    retry: z
      .int()
      .min(0)
      .max(1000)
      .optional()
      .describe(
        "Raise it (e.g. absent or 0 to 1) to retry a Failed or held bead: its budgets are reset, its history kept in status.",
      ),
    budget: BudgetSchema.optional().describe(
      "Spend cap of this bead's sessions (status.usage). At the cap its session is stopped and the bead held (BudgetExceeded, not a failure); raise it to continue.",
    ),
  })
  .describe(
    "The work, written by a person (single work items) or by the controller (convoy tasks, merge requests, reworks, landings).",
  )
  .meta({
    "x-kubernetes-validations": [
      { rule: "self.town == oldSelf.town", message: "town is immutable", fieldPath: ".town" },
      { rule: "self.type == oldSelf.type", message: "type is immutable", fieldPath: ".type" },
      {
        rule: "!has(oldSelf.retry) || (has(self.retry) && self.retry >= oldSelf.retry)",
        message: "retry can only grow: set it one higher to retry the bead",
        fieldPath: ".retry",
      },
      {
        rule: "self.type != 'MergeRequest' || has(self.source)",
        message: "a MergeRequest bead needs source (the Issue or Convoy it merges)",
        fieldPath: ".source",
        reason: "FieldValueRequired",
      },
      {
        rule: "self.type != 'MergeRequest' || has(self.branch)",
        message: "a MergeRequest bead needs branch (the branch under review)",
        fieldPath: ".branch",
        reason: "FieldValueRequired",
      },
      {
        rule: "self.type != 'MergeRequest' || has(self.rig)",
        message: "a MergeRequest bead needs rig (the refinery that reviews it)",
        fieldPath: ".rig",
        reason: "FieldValueRequired",
      },
      {
        rule: "self.type != 'Issue' || !has(self.source)",
        message: "source is only for MergeRequest beads",
        fieldPath: ".source",
        reason: "FieldValueForbidden",
      },
      {
        rule: "self.type != 'MergeRequest' || !has(self.reworkOf)",
        message: "reworkOf is only for Issue beads (a rework of a merge request)",
        fieldPath: ".reworkOf",
        reason: "FieldValueForbidden",
      },
    ],
  });
export type BeadSpec = z.infer<typeof BeadSpecSchema>;

export const HoldSchema = z
  .object({
    reason: z.string().max(128).describe("CamelCase cause, e.g. HungAgent or SessionCannotStart."),
    message: z.string().max(1024).describe("What holds it and what to fix."),
    since: timestamp().describe("When it was held (RFC 3339)."),
    probeAt: timestamp()
      .optional()
      .describe("A configuration hold: when a session is tried again (not charged to the budget)."),
    townGeneration: z
      .int()
      .min(0)
      .optional()
      .describe("A configuration hold: the Town's generation then; a later one (a fixed spec) probes at once."),
  })
  .describe("Why the bead is held: not dispatched and not charged until the cause is fixed or it is retried.");

export const RetryRecordSchema = z.object({
  retry: z.int().min(0).describe("The spec.retry value that was acted on."),
  time: timestamp().describe("When the retry was applied (RFC 3339)."),
  phase: z.enum(BEAD_PHASES).describe("The phase the bead was retried from."),
  resolution: z.enum(RESOLUTIONS).optional().describe("Its resolution then, if it had failed."),
  reason: z.string().max(1024).optional().describe("Its status.reason then."),
  dispatchAttempts: z.int().min(0).describe("Sessions it had used then."),
  reviewCycles: z.int().min(0).describe("Review cycles it had gone through then."),
});
export type RetryRecord = z.infer<typeof RetryRecordSchema>;
export const MAX_RETRY_HISTORY = 10;

export const CheckpointSchema = z.object({
  data: z
    .string()
    .max(MAX_CHECKPOINT_BYTES)
    .describe("The agent's own notes (at most 16 KiB), given to the next session as GT_CHECKPOINT and by gt prime."),
  agent: z.string().max(253).describe("The agent that saved it."),
  session: z.int().min(0).describe("The session number that saved it."),
  time: timestamp().describe("When it was saved (RFC 3339)."),
});

export const BeadStatusSchema = z
  .object({
    observedGeneration: observedGeneration(),
    phase: z
      .enum(BEAD_PHASES)
      .optional()
      .describe(
        "Open (waiting to be dispatched, or held), InProgress (an agent works on it), InReview (an issue whose merge request is under review), Closed (merged) or Failed.",
      ),
    lastPhaseTransitionTime: timestamp().optional().describe("When phase last changed (RFC 3339)."),
    assignee: z.string().max(63).optional().describe("The agent that claimed it; kept while it waits for its retry."),
    dispatchAttempts: z.int().min(0).optional().describe("Sessions used from the budget since the last retry."),
    priorDispatchAttempts: z
      .int()
      .min(0)
      .optional()
      .describe("Sessions used before the last retry; keeps merge request names unique across retries."),
    lastDispatchTime: timestamp().optional().describe("When a session was last started for it (RFC 3339)."),
    branch: z
      .string()
      .max(256)
      .optional()
      .describe("The branch the work is on: the one the Done report named, else gt/<rig>/<bead>."),
    prURL: z
      .string()
      .max(2048)
      .optional()
      .describe("The pull request a refinery reported (https); polled on the forge."),
    pullRequest: z
      .object({
        state: z.enum(["Open", "Merged", "Closed"]).optional().describe("The pull request's state on the forge."),
        lastPolledTime: timestamp()
          .optional()
          .describe("Last successful poll; an orphaned PR is one not polled for a while."),
        lastAttemptTime: timestamp().optional().describe("Last poll, successful or not (paces polling)."),
        lastError: z.string().max(1024).optional().describe("The last polling error, as the forge or network said it."),
        consecutiveErrors: z
          .int()
          .min(0)
          .optional()
          .describe("Polling errors in a row; each doubles the poll interval, up to 32 times."),
        mergeCommit: z.string().max(64).optional().describe("The merge commit the forge reported."),
      })
      .optional()
      .describe("What the forge said about prURL: written by the PR poller, read by the reconcile rules."),
    mergeCommit: z.string().max(64).optional().describe("The commit that merged the work (git SHA)."),
    mergedBy: objectName().optional().describe("Issue: the merge request that merged it."),
    resolution: z
      .enum(RESOLUTIONS)
      .optional()
      .describe(
        "Why it is terminal: Merged, ReworkDone, Cancelled, MaxDispatchAttempts, MaxReviewCycles, ReviewFailed, Superseded or Orphaned.",
      ),
    reason: z
      .string()
      .max(1024)
      .optional()
      .describe(
        "Why the phase last changed: a CamelCase reason (e.g. StaleInProgress) or, when it failed, the message.",
      ),
    reviewCycles: z.int().min(0).optional().describe("Rework requests plus failed reviews so far."),
    handoffs: z
      .int()
      .min(0)
      .optional()
      .describe("Voluntary handoffs (gt handoff) so far, capped by limits.maxHandoffs."),
    handoffPending: z
      .boolean()
      .optional()
      .describe("The last session handed off: the next one does not use the budget."),
    forceStops: z.int().min(0).optional().describe("Sessions stopped by GUPP for inactivity."),
    forceStoppedAgent: z
      .string()
      .max(253)
      .optional()
      .describe("The agent last force-stopped on this bead; the redo goes to another polecat."),
    hold: HoldSchema.optional(),
    retry: z.int().min(0).optional().describe("The last spec.retry the controller acted on."),
    history: z
      .array(RetryRecordSchema)
      .max(MAX_RETRY_HISTORY)
      .optional()
      .describe("What the bead went through before each retry, oldest first, at most 10 entries."),
    checkpoint: CheckpointSchema.optional().describe(
      "Progress the last session saved; given only to this bead's next session.",
    ),
    sessionCharged: z
      .boolean()
      .optional()
      .describe("Whether the current or last session was charged to the budget (one after a handoff is not)."),
    interruptedDispatches: z
      .int()
      .min(0)
      .optional()
      .describe(
        "Dispatches cut short by the operator's restart before their session existed: refunded, at most limits.maxDispatchAttempts times.",
      ),
    configurationProbes: z
      .int()
      .min(0)
      .optional()
      .describe("Sessions in a row that could not start for a configuration reason."),
    lastFailure: z
      .object({
        reason: z.string().max(128).describe("CamelCase cause, e.g. GitAuthFailed or ErrImagePull."),
        message: z.string().max(1024).describe("The original message of the runtime or tool."),
        time: timestamp().describe("When it failed (RFC 3339)."),
      })
      .optional()
      .describe("Why the last session failed, in the runtime's or the agent's own words; cleared once a session runs."),
    usage: BeadUsageSchema.optional(),
    conversation: z
      .object({
        id: z
          .string()
          .min(1)
          .max(256)
          .describe("The CLI's own session id (Claude Code session_id, Codex thread, pi session)."),
        agent: z.string().max(253).describe("The agent whose session left it."),
        session: z.int().min(0).describe("That agent's session number."),
        resumed: z
          .boolean()
          .optional()
          .describe(
            "True when that session resumed the conversation an earlier one left; false when it could not (its transcript was not in the agent's HOME) and started this one; absent when it had none to resume.",
          ),
      })
      .optional()
      .describe(
        "The coding-agent conversation the bead's last session left: the next session resumes it where the CLI can (kept with the checkpoint).",
      ),
    conditions: conditionList().describe(
      "Ready (True when Closed; else False naming why, e.g. Blocked, WaitingForCapacity, UnknownRig), Blocked (blockers open), Stalled (Failed, held or on an unknown rig).",
    ),
  })
  .describe(
    "What the controller observed and decided for the bead: phase, assignee, budgets, hold, history, conditions.",
  );
export type BeadStatus = z.infer<typeof BeadStatusSchema>;

export const BeadSchema = resource("Bead", BeadSpecSchema, BeadStatusSchema);
export type Bead = z.infer<typeof BeadSchema>;
