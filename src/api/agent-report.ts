// AgentReport: a durable fact an agent states about its work. Agents may only create them; the
// controller applies them in order and records the outcome in status.
import { z } from "zod";
import { MAX_CHECKPOINT_BYTES } from "./agent.ts";
import { dnsLabel, objectName, resource, timestamp } from "./meta.ts";

// ReviewFailed is the refinery's "this cannot merge" (e.g. a conflict): the merge request fails and
// its source issue is redone. DESIGN §5.4 names the outcome; this makes it an explicit fact.
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
    town: dnsLabel(24),
    agent: dnsLabel(63),
    bead: objectName(),
    session: z.int().min(0),
    type: z.enum(REPORT_TYPES),
    branch: z
      .string()
      .min(1)
      .max(256)
      .regex(/^[A-Za-z0-9._/-]+$/)
      .optional(),
    prURL: z.string().max(2048).optional(),
    commit: z
      .string()
      .regex(/^[0-9a-f]{7,64}$/)
      .optional()
      .describe("Done from a refinery: the merge commit."),
    summary: z.string().max(16384).optional(),
    feedback: z.string().max(16384).optional(),
    files: z.array(z.string().min(1).max(1024)).max(100).optional(),
    severity: z.enum(SEVERITIES).optional(),
    message: z.string().max(4096).optional(),
    data: z.string().max(MAX_CHECKPOINT_BYTES).optional(),
  })
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

export const AgentReportStatusSchema = z.object({
  outcome: z.enum(REPORT_OUTCOMES).optional(),
  processedAt: timestamp().optional(),
  attempts: z.int().min(0).optional(),
  lastAttemptTime: timestamp().optional(),
  error: z.string().max(4096).optional(),
});
export type AgentReportStatus = z.infer<typeof AgentReportStatusSchema>;

export const AgentReportSchema = resource("AgentReport", AgentReportSpecSchema, AgentReportStatusSchema);
export type AgentReport = z.infer<typeof AgentReportSchema>;
