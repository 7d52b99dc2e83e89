// Agent: a persistent agent identity (a polecat or a rig's refinery). Its pods are sessions.
import { z } from "zod";
import { conditionList, dnsLabel, objectName, resource, timestamp } from "./meta.ts";

export const AGENT_ROLES = ["Polecat", "Refinery"] as const;
export type AgentRole = (typeof AGENT_ROLES)[number];

export const AGENT_PHASES = ["Idle", "Working", "Stalled"] as const;
export type AgentPhase = (typeof AGENT_PHASES)[number];

export const NUDGE_TIERS = ["warn", "escalate", "forceStop"] as const;
export type NudgeTier = (typeof NUDGE_TIERS)[number];

/** Checkpoints are passed to the next session through the API, so they stay small. */
export const MAX_CHECKPOINT_BYTES = 16 * 1024;
export const MAX_NUDGES = 20;

export const AgentSpecSchema = z
  .object({
    town: dnsLabel(24),
    role: z.enum(AGENT_ROLES),
    rig: dnsLabel(24),
    hook: objectName().optional().describe("The bead this agent must work on; absent when the agent is free."),
  })
  .meta({
    "x-kubernetes-validations": [
      { rule: "self.town == oldSelf.town", message: "town is immutable", fieldPath: ".town" },
      { rule: "self.role == oldSelf.role", message: "role is immutable", fieldPath: ".role" },
      { rule: "self.rig == oldSelf.rig", message: "rig is immutable", fieldPath: ".rig" },
    ],
  });
export type AgentSpec = z.infer<typeof AgentSpecSchema>;

export const NudgeSchema = z.object({
  tier: z.enum(NUDGE_TIERS),
  time: timestamp(),
  message: z.string().max(1024),
});
export type Nudge = z.infer<typeof NudgeSchema>;

export const AgentStatusSchema = z.object({
  observedGeneration: z.int().min(0).optional(),
  phase: z.enum(AGENT_PHASES).optional(),
  pod: z.string().max(253).optional().describe("The current (or last) session pod."),
  session: z.int().min(0).optional().describe("Dispatch sequence number of the current or last session."),
  sessionBead: objectName().optional().describe("The bead the current session was started for."),
  sessionStartTime: timestamp().optional(),
  lastHeartbeat: timestamp().optional(),
  lastActivityTime: timestamp().optional(),
  lastActivityKind: z.string().max(63).optional(),
  activeTools: z.int().min(0).optional(),
  idleSince: timestamp().optional(),
  lastSessionExit: z
    .object({
      session: z.int().min(0),
      exitCode: z.int().optional(),
      reason: z.string().max(256),
      time: timestamp(),
    })
    .optional(),
  nudges: z.array(NudgeSchema).max(MAX_NUDGES).optional(),
  conditions: conditionList(),
});
export type AgentStatus = z.infer<typeof AgentStatusSchema>;

export const AgentSchema = resource("Agent", AgentSpecSchema, AgentStatusSchema);
export type Agent = z.infer<typeof AgentSchema>;
