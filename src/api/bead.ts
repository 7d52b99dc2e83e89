// Bead: one unit of work — an Issue a polecat implements, or a MergeRequest the refinery reviews.
import { z } from "zod";
import { MAX_CHECKPOINT_BYTES } from "./agent.ts";
import { conditionList, dnsLabel, objectName, priority, resource, timestamp } from "./meta.ts";

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
    town: dnsLabel(24),
    rig: dnsLabel(24).optional().describe("Without a rig the bead is tracked but never dispatched."),
    type: z.enum(BEAD_TYPES).default("Issue"),
    title: z.string().min(1).max(200),
    description: z.string().max(16384).default(""),
    priority: priority(),
    labels: z.array(z.string().min(1).max(63)).max(20).default([]).meta({ "x-kubernetes-list-type": "set" }),
    dependsOn: z
      .array(objectName())
      .max(50)
      .default([])
      .meta({ "x-kubernetes-list-type": "set" })
      .describe("Beads that must be Closed or Failed before this one is dispatched."),
    convoy: objectName().optional(),
    source: z
      .object({ kind: z.enum(["Bead", "Convoy"]), name: objectName() })
      .optional()
      .describe("MergeRequest only: the Issue (or, for a landing, the Convoy) whose branch is reviewed."),
    branch: branch().optional().describe("MergeRequest and rework: the branch under review."),
    targetBranch: branch().optional().describe("MergeRequest: where the branch merges."),
    reworkOf: objectName().optional().describe("Issue only: the merge request this rework answers."),
    feedback: z.string().max(16384).optional().describe("Rework: what the refinery asked to change."),
    files: z.array(z.string().min(1).max(1024)).max(100).optional(),
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
  })
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
    reason: z.string().max(128),
    message: z.string().max(1024),
    since: timestamp(),
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
  retry: z.int().min(0),
  time: timestamp(),
  phase: z.enum(BEAD_PHASES),
  resolution: z.enum(RESOLUTIONS).optional(),
  reason: z.string().max(1024).optional(),
  dispatchAttempts: z.int().min(0),
  reviewCycles: z.int().min(0),
});
export type RetryRecord = z.infer<typeof RetryRecordSchema>;
export const MAX_RETRY_HISTORY = 10;

export const CheckpointSchema = z.object({
  data: z.string().max(MAX_CHECKPOINT_BYTES),
  agent: z.string().max(253),
  session: z.int().min(0),
  time: timestamp(),
});

export const BeadStatusSchema = z.object({
  observedGeneration: z.int().min(0).optional(),
  phase: z.enum(BEAD_PHASES).optional(),
  lastPhaseTransitionTime: timestamp().optional(),
  assignee: z.string().max(63).optional(),
  dispatchAttempts: z.int().min(0).optional().describe("Sessions used from the budget since the last retry."),
  priorDispatchAttempts: z
    .int()
    .min(0)
    .optional()
    .describe("Sessions used before the last retry; keeps merge request names unique across retries."),
  lastDispatchTime: timestamp().optional(),
  branch: z.string().max(256).optional(),
  prURL: z.string().max(2048).optional(),
  pullRequest: z
    .object({
      state: z.enum(["Open", "Merged", "Closed"]).optional(),
      lastPolledTime: timestamp()
        .optional()
        .describe("Last successful poll; an orphaned PR is one not polled for a while."),
      lastAttemptTime: timestamp().optional().describe("Last poll, successful or not (paces polling)."),
      lastError: z.string().max(1024).optional(),
      consecutiveErrors: z.int().min(0).optional(),
      mergeCommit: z.string().max(64).optional(),
    })
    .optional()
    .describe("What the forge said about prURL: written by the PR poller, read by the reconcile rules."),
  mergeCommit: z.string().max(64).optional(),
  mergedBy: objectName().optional().describe("Issue: the merge request that merged it."),
  resolution: z.enum(RESOLUTIONS).optional(),
  reason: z.string().max(1024).optional(),
  reviewCycles: z.int().min(0).optional().describe("Rework requests plus failed reviews so far."),
  handoffs: z.int().min(0).optional(),
  handoffPending: z.boolean().optional().describe("The last session handed off: the next one does not use the budget."),
  forceStops: z.int().min(0).optional().describe("Sessions stopped by GUPP for inactivity."),
  forceStoppedAgent: z.string().max(253).optional(),
  hold: HoldSchema.optional(),
  retry: z.int().min(0).optional().describe("The last spec.retry the controller acted on."),
  history: z.array(RetryRecordSchema).max(MAX_RETRY_HISTORY).optional(),
  checkpoint: CheckpointSchema.optional().describe(
    "Progress the last session saved; given only to this bead's next session.",
  ),
  sessionCharged: z
    .boolean()
    .optional()
    .describe("Whether the current or last session was charged to the budget (one after a handoff is not)."),
  configurationProbes: z
    .int()
    .min(0)
    .optional()
    .describe("Sessions in a row that could not start for a configuration reason."),
  lastFailure: z
    .object({ reason: z.string().max(128), message: z.string().max(1024), time: timestamp() })
    .optional()
    .describe("Why the last session failed, in the runtime's or the agent's own words."),
  conditions: conditionList(),
});
export type BeadStatus = z.infer<typeof BeadStatusSchema>;

export const BeadSchema = resource("Bead", BeadSpecSchema, BeadStatusSchema);
export type Bead = z.infer<typeof BeadSchema>;
