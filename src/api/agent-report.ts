// AgentReport: a durable fact an agent states about its work. Agents may only create them; the
// controller applies them in order and records the outcome in status.
import { z } from "zod";
import { MAX_CHECKPOINT_BYTES } from "./agent.ts";
import { dnsLabel, objectName, resource, timestamp } from "./meta.ts";

// ReviewFailed is the refinery's "this cannot merge" (e.g. a conflict): the merge request fails and
// its source issue is redone. docs/rules.md (Reports) names the outcome; this makes it an explicit fact.
// Handoff: the agent ends its session on purpose to continue in a fresh one (optionally with a
// checkpoint in data); it has its own cap and does not use the bead's dispatch budget.
export const REPORT_TYPES = ["Done", "RequestChanges", "Escalate", "Checkpoint", "ReviewFailed", "Handoff"] as const;
export type ReportType = (typeof REPORT_TYPES)[number];

export const SEVERITIES = ["Low", "Medium", "High", "Critical"] as const;
export type Severity = (typeof SEVERITIES)[number];

export const REPORT_OUTCOMES = ["Applied", "Rejected", "Poisoned"] as const;
export type ReportOutcome = (typeof REPORT_OUTCOMES)[number];

export const AgentReportSpecSchema = z
  .object({
    town: dnsLabel(24).describe("The Town of the reporting agent."),
    agent: dnsLabel(63).describe("The reporting agent; must be the agent of the ServiceAccount creating the report."),
    bead: objectName().describe("The bead the report is about; the agent must be hooked to it."),
    session: z
      .int()
      .min(0)
      .describe("The session number (GT_SESSION) that reports; reports of an older session are rejected."),
    type: z
      .enum(REPORT_TYPES)
      .describe(
        "Done, RequestChanges (refinery: rework needed), ReviewFailed (refinery: cannot merge), Escalate, Checkpoint or Handoff.",
      ),
    branch: z
      .string()
      .min(1)
      .max(256)
      .regex(/^[A-Za-z0-9._/-]+$/)
      .optional()
      .describe("Done from a polecat: the branch its work is on (default gt/<rig>/<bead>)."),
    prURL: z
      .string()
      .max(2048)
      .optional()
      .describe(
        "Done from a refinery: the pull request (https) it opened, recorded on the merge request and polled; required on a PullRequest rig.",
      ),
    commit: z
      .string()
      .regex(/^[0-9a-f]{7,64}$/)
      .optional()
      .describe("Done from a refinery: the merge commit."),
    summary: z
      .string()
      .max(16384)
      .optional()
      .describe(
        "Done: what was done (the merge request's description and the WorkDone Event). Handoff: shown in the HandedOff Event.",
      ),
    feedback: z
      .string()
      .max(16384)
      .optional()
      .describe("RequestChanges (required): what to change; given to the rework."),
    files: z
      .array(z.string().min(1).max(1024))
      .max(100)
      .optional()
      .describe("RequestChanges: the files the feedback is about."),
    severity: z.enum(SEVERITIES).optional().describe("Escalate (required): Low, Medium, High or Critical."),
    message: z
      .string()
      .max(4096)
      .optional()
      .describe(
        "Escalate (required): what a person must look at. ReviewFailed (required): why the branch cannot merge.",
      ),
    data: z
      .string()
      .max(MAX_CHECKPOINT_BYTES)
      .optional()
      .describe("Checkpoint (required) or Handoff: notes for the bead's next session, at most 16 KiB."),
  })
  .describe("The fact, written once by the agent (gt done, gt checkpoint, …); immutable.")
  .meta({
    "x-kubernetes-validations": [
      { rule: "self == oldSelf", message: "an AgentReport is immutable; create a new report instead" },
      {
        rule: "self.type != 'RequestChanges' || has(self.feedback)",
        message: "a RequestChanges report needs feedback",
        fieldPath: ".feedback",
        reason: "FieldValueRequired",
      },
      {
        rule: "self.type != 'Escalate' || (has(self.severity) && has(self.message))",
        message: "an Escalate report needs severity and message",
        fieldPath: ".message",
        reason: "FieldValueRequired",
      },
      {
        rule: "self.type != 'ReviewFailed' || has(self.message)",
        message: "a ReviewFailed report needs message (why the branch cannot merge)",
        fieldPath: ".message",
        reason: "FieldValueRequired",
      },
      {
        rule: "self.type != 'Checkpoint' || has(self.data)",
        message: "a Checkpoint report needs data",
        fieldPath: ".data",
        reason: "FieldValueRequired",
      },
    ],
  });
export type AgentReportSpec = z.infer<typeof AgentReportSpecSchema>;

export const AgentReportStatusSchema = z
  .object({
    outcome: z
      .enum(REPORT_OUTCOMES)
      .optional()
      .describe(
        "Applied (its effects are written), Rejected (never applied; error says why) or Poisoned (its writes failed limits.maxReportAttempts times; kept).",
      ),
    processedAt: timestamp()
      .optional()
      .describe("When it was applied or rejected (RFC 3339); reportRetention counts from it."),
    attempts: z.int().min(0).optional().describe("Failed attempts to write its effects so far."),
    lastAttemptTime: timestamp()
      .optional()
      .describe("When it was last tried (RFC 3339); retries back off 10s, 20s, 40s…"),
    error: z.string().max(4096).optional().describe("Why it was rejected, or the last write error."),
  })
  .describe("Written by the controller: whether and when the report was applied.");
export type AgentReportStatus = z.infer<typeof AgentReportStatusSchema>;

export const AgentReportSchema = resource("AgentReport", AgentReportSpecSchema, AgentReportStatusSchema);
export type AgentReport = z.infer<typeof AgentReportSchema>;
