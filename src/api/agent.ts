// Agent: a persistent agent identity (a polecat or a rig's refinery). Its pods are sessions.
import { z } from "zod";
import { conditionList, dnsLabel, objectName, observedGeneration, resource, timestamp } from "./meta.ts";

export const AGENT_ROLES = ["Polecat", "Refinery"] as const;
export type AgentRole = (typeof AGENT_ROLES)[number];

export const AGENT_PHASES = ["Idle", "Working", "Stalled"] as const;
export type AgentPhase = (typeof AGENT_PHASES)[number];

export const NUDGE_TIERS = ["warn", "escalate", "forceStop"] as const;
export type NudgeTier = (typeof NUDGE_TIERS)[number];

/** Checkpoints are passed to the next session through the API, so they stay small. */
export const MAX_CHECKPOINT_BYTES = 16 * 1024;
export const MAX_NUDGES = 20;

/**
 * A nudge from a person (`kubectl gt nudge AGENT MESSAGE`, or a GitOps repo): the running session
 * receives the message within one heartbeat. One slot; writing a new id sends a new nudge, and
 * the same id is delivered once.
 */
export const UserNudgeSchema = z.object({
  id: z
    .string()
    .min(1)
    .max(63)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]*$/)
    .describe("Names this nudge; change it to send another (kubectl gt nudge uses the time)."),
  message: z
    .string()
    .min(1)
    .max(1024)
    .describe("What the running session is told: added to its next model request, once."),
});
export type UserNudge = z.infer<typeof UserNudgeSchema>;

export const AgentSpecSchema = z
  .object({
    town: dnsLabel(24).describe("The Town the agent works in; immutable."),
    role: z
      .enum(AGENT_ROLES)
      .describe(
        "Polecat (implements issues) or Refinery (reviews and merges a rig's merge requests, one per rig); immutable.",
      ),
    rig: dnsLabel(24).describe("The rig the agent works on; immutable."),
    hook: objectName().optional().describe("The bead this agent must work on; absent when the agent is free."),
    nudge: UserNudgeSchema.optional().describe("A person's nudge to the running session (see UserNudge)."),
  })
  .describe("The identity, written by the controller: who the agent is and the bead it is hooked to.")
  .meta({
    "x-kubernetes-validations": [
      { rule: "self.town == oldSelf.town", message: "town is immutable", fieldPath: ".town" },
      { rule: "self.role == oldSelf.role", message: "role is immutable", fieldPath: ".role" },
      { rule: "self.rig == oldSelf.rig", message: "rig is immutable", fieldPath: ".rig" },
    ],
  });
export type AgentSpec = z.infer<typeof AgentSpecSchema>;

export const NudgeSchema = z.object({
  tier: z.enum(NUDGE_TIERS).describe("GUPP tier: warn, escalate or forceStop."),
  time: timestamp().describe("When it was sent (RFC 3339)."),
  message: z.string().max(1024).describe("What the agent was told."),
});
export type Nudge = z.infer<typeof NudgeSchema>;

export const AgentStatusSchema = z
  .object({
    observedGeneration: observedGeneration(),
    phase: z
      .enum(AGENT_PHASES)
      .optional()
      .describe("Idle (no session running), Working (a session runs on its hook) or Stalled (force-stopped by GUPP)."),
    pod: z.string().max(253).optional().describe("The current (or last) session pod."),
    session: z.int().min(0).optional().describe("Dispatch sequence number of the current or last session."),
    sessionBead: objectName().optional().describe("The bead the current session was started for."),
    sessionStartTime: timestamp().optional().describe("When the current or last session started (RFC 3339)."),
    lastHeartbeat: timestamp()
      .optional()
      .describe(
        "The session Lease's last renewal, copied at most every 2 x heartbeatTimeout (the Lease is the source of truth).",
      ),
    lastActivityTime: timestamp()
      .optional()
      .describe(
        "The last activity gt recorded on the Lease, copied with lastHeartbeat; GUPP measures inactivity from it.",
      ),
    lastActivityKind: z.string().max(63).optional().describe("What that activity was, as gt names it."),
    activeTools: z
      .int()
      .min(0)
      .optional()
      .describe("Tool calls running as of the copied heartbeat; GUPP does not warn while any run."),
    idleSince: timestamp().optional().describe("When the agent went Idle; agentGC counts from it."),
    lastSessionExit: z
      .object({
        session: z.int().min(0).describe("The session number."),
        exitCode: z.int().optional().describe("The container's exit code, when there was one."),
        reason: z.string().max(256).describe("Why it ended, e.g. SessionEndedWithoutDone or a session failure reason."),
        time: timestamp().describe("When the end was observed (RFC 3339)."),
      })
      .optional()
      .describe("How the last session ended."),
    nudges: z
      .array(NudgeSchema)
      .max(MAX_NUDGES)
      .optional()
      .describe("GUPP nudges sent to the agent, newest last, at most 20."),
    nudgeDelivery: z
      .object({
        nudge: z
          .string()
          .max(128)
          .describe("Which nudge: <tier>@<time> for GUPP's (status.nudges), user@<id> for spec.nudge."),
        result: z
          .enum(["Delivered", "Failed"])
          .describe("Delivered into the running session, or Failed (message says why)."),
        via: z
          .string()
          .max(32)
          .optional()
          .describe("How it reached the session: hook (Claude Code, at the next tool boundary), resume, stdin."),
        message: z.string().max(256).optional().describe("Why delivery failed."),
        time: timestamp().describe("When gt run delivered it (or gave up)."),
      })
      .optional()
      .describe("The last nudge the running session received or could not receive, as its gt run reported it."),
    conversation: z
      .object({
        id: z.string().min(1).max(256).describe("The CLI's own session id (as in Bead.status.conversation)."),
        session: z.int().min(0).describe("The agent's session that had it."),
        bead: z.string().max(253).describe("The bead that session worked on."),
        resumed: z
          .boolean()
          .optional()
          .describe(
            "True when the session resumed the bead's earlier conversation, false when it had to start this one; absent when it had none to resume.",
          ),
      })
      .optional()
      .describe("The coding-agent conversation of the agent's current or last session, as its gt run reported it."),
    conditions: conditionList().describe(
      "Ready (False while Stalled), Stalled (GUPPForceStop), Escalated and SessionFailed (the last session could not start, removed at the next dispatch).",
    ),
  })
  .describe("What the controller observed of the agent and its sessions: phase, session, heartbeat, activity, nudges.");
export type AgentStatus = z.infer<typeof AgentStatusSchema>;

export const AgentSchema = resource("Agent", AgentSpecSchema, AgentStatusSchema);
export type Agent = z.infer<typeof AgentSchema>;
