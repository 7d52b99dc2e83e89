// What sessions spent, as the coding-agent CLIs counted it (docs/resources.md, "Usage and budgets"),
// and the caps that stop new dispatch when it is spent.
import { z } from "zod";
import { objectName, timestamp } from "./meta.ts";

const tokens = (what: string) => z.int().min(0).describe(what);

export const UsageSchema = z
  .object({
    tokens: tokens("inputTokens + outputTokens + cacheReadTokens + cacheWriteTokens: what budgets count."),
    inputTokens: tokens("Prompt tokens not read from the provider's cache."),
    outputTokens: tokens("Tokens the model generated."),
    cacheReadTokens: tokens("Prompt tokens read from the provider's prompt cache."),
    cacheWriteTokens: tokens("Prompt tokens written to the provider's prompt cache."),
    costUSD: z
      .number()
      .min(0)
      .optional()
      .describe("Cost in US dollars as the CLI reported it (Claude Code does; absent when no session reported one)."),
  })
  .describe("Tokens and cost, summed from what each session's CLI reported on its Lease.");
export type Usage = z.infer<typeof UsageSchema>;

export const SessionUsageSchema = UsageSchema.extend({
  agent: objectName().describe("The agent whose session this was."),
  session: z.int().min(0).describe("The agent's session number (Agent.status.session)."),
  time: timestamp().describe("When the operator first saw the session's usage: the day it counts against."),
  lastUpdateTime: timestamp()
    .optional()
    .describe("When these counts were written (a live session without a budget: at most every heartbeatTimeout)."),
}).describe("One session's usage, as its Lease last said.");
export type SessionUsage = z.infer<typeof SessionUsageSchema>;

/** Sessions kept per bead; older ones stay in the totals but no longer count against a day. */
export const MAX_SESSION_USAGE = 20;

export const BeadUsageSchema = UsageSchema.extend({
  sessions: z
    .array(SessionUsageSchema)
    .max(MAX_SESSION_USAGE)
    .describe(`The bead's last ${MAX_SESSION_USAGE} sessions; the totals include older ones.`),
}).describe("What the bead's sessions spent (polecat or refinery), summed.");

export const BudgetSchema = z
  .object({
    tokens: z
      .int()
      .min(0)
      .optional()
      .describe("Cap on usage.tokens (input + output + cache read + cache write). Absent: no cap."),
    costUSD: z
      .number()
      .min(0)
      .optional()
      .describe("Cap on usage.costUSD, for CLIs that report a cost. Absent: no cap."),
  })
  .describe("A spend cap: once usage reaches it, no new session starts; raise it to continue.");
export type Budget = z.infer<typeof BudgetSchema>;

export const TownBudgetSchema = z
  .object({
    daily: BudgetSchema.optional().describe(
      "Cap on what the town's sessions spend per UTC day (status.usageToday); it resets at midnight UTC.",
    ),
  })
  .describe("The town's spend caps. Over a cap, no new session starts; running sessions finish.");
export type TownBudget = z.infer<typeof TownBudgetSchema>;

export const DayUsageSchema = UsageSchema.extend({
  day: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/)
    .describe("The UTC day (YYYY-MM-DD)."),
}).describe("What sessions first seen this UTC day spent: what spec.budget.daily caps.");
