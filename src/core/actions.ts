// The action union: everything the core can ask the shell to do. Each action carries why it is
// done (a CamelCase reason and a human message), which becomes the Kubernetes Event the shell
// records, and `cause` names the AgentReport it came from so a failed write is charged to it.
import { z } from "zod";
import { AGENT_ROLES, NUDGE_TIERS } from "../api/agent.ts";
import { SEVERITIES } from "../api/agent-report.ts";
import { BeadSpecSchema } from "../api/bead.ts";

const REASON = /^[A-Z][A-Za-z0-9]*$/;

export const WhySchema = z.object({
  reason: z.string().regex(REASON),
  message: z.string().min(1),
  warning: z.boolean().optional(),
});
export type Why = z.infer<typeof WhySchema>;

/** A JSON merge patch of a status: a field set to null is removed. */
const StatusPatchSchema = z.record(z.string(), z.unknown());
export type StatusPatch = Record<string, unknown>;

const base = {
  why: WhySchema,
  cause: z.string().optional(),
};

/** Status writes carry the resourceVersion the plan read, so a plan made from a stale view conflicts. */
const statusWrite = {
  name: z.string(),
  resourceVersion: z.string(),
  status: StatusPatchSchema,
  /** Every change that contributed to this write, in order; each becomes an Event. */
  events: z.array(WhySchema),
  cause: z.string().optional(),
};

export const SessionContextSchema = z.object({
  beadTitle: z.string(),
  beadDescription: z.string(),
  branch: z.string(),
  baseBranch: z.string(),
  targetBranch: z.string(),
  mergeStrategy: z.enum(["Direct", "PullRequest"]),
  gates: z.array(z.string()),
  reworkOf: z.string().optional(),
  feedback: z.string().optional(),
  files: z.array(z.string()).optional(),
  checkpoint: z.string().optional(),
  /** The CLI conversation the bead's last session left, resumed where the CLI can. */
  cliSession: z.string().optional(),
});
export type SessionContext = z.infer<typeof SessionContextSchema>;

export const ActionSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("CreateBead"),
    name: z.string(),
    spec: BeadSpecSchema,
    ownerConvoy: z.object({ name: z.string(), uid: z.string() }).optional(),
    ...base,
  }),
  z.object({ type: z.literal("UpdateBeadStatus"), ...statusWrite }),
  z.object({
    type: z.literal("CreateAgent"),
    name: z.string(),
    role: z.enum(AGENT_ROLES),
    rig: z.string(),
    ...base,
  }),
  z.object({
    type: z.literal("SetHook"),
    agent: z.string(),
    resourceVersion: z.string(),
    hook: z.string().nullable(),
    ...base,
  }),
  z.object({ type: z.literal("UpdateAgentStatus"), ...statusWrite }),
  z.object({
    type: z.literal("StartSession"),
    agent: z.string(),
    role: z.enum(AGENT_ROLES),
    rig: z.string(),
    session: z.int().min(1),
    pod: z.string(),
    bead: z.string(),
    context: SessionContextSchema,
    ...base,
  }),
  z.object({ type: z.literal("StopSession"), agent: z.string(), pod: z.string(), ...base }),
  z.object({
    type: z.literal("DeleteAgent"),
    name: z.string(),
    uid: z.string(),
    /** Delete precondition: an agent re-hooked since the plan read it must not be deleted. */
    resourceVersion: z.string(),
    ...base,
  }),
  z.object({ type: z.literal("UpdateReportStatus"), ...statusWrite }),
  z.object({ type: z.literal("DeleteReport"), name: z.string(), ...base }),
  z.object({ type: z.literal("UpdateConvoyStatus"), ...statusWrite }),
  z.object({ type: z.literal("UpdateTownStatus"), ...statusWrite }),
  z.object({
    type: z.literal("PollPullRequest"),
    bead: z.string(),
    rig: z.string(),
    url: z.string(),
    ...base,
  }),
  z.object({
    type: z.literal("Nudge"),
    agent: z.string(),
    tier: z.enum(NUDGE_TIERS),
    ...base,
  }),
  z.object({
    type: z.literal("Escalate"),
    /** Absent for a town-wide problem (the circuit breaker, a failed landing). */
    agent: z.string().optional(),
    bead: z.string().optional(),
    severity: z.enum(SEVERITIES),
    ...base,
  }),
]);
export type Action = z.infer<typeof ActionSchema>;
export type ActionType = Action["type"];
export type ActionOf<T extends ActionType> = Extract<Action, { type: T }>;

/**
 * The order the shell applies a plan's actions in. Each step only depends on earlier ones, so a
 * controller that dies after any prefix leaves a state the next plan can finish:
 * objects are created before anything points at them, a bead is claimed (assignee, with a
 * resourceVersion precondition) before an agent is hooked to it, a session is started only after
 * the hook, an agent is marked Working only after its session exists, and a report is marked
 * processed only after its effects were written.
 */
export const APPLY_ORDER: readonly ActionType[] = [
  "CreateBead",
  "CreateAgent",
  "UpdateBeadStatus",
  "SetHook",
  "StopSession",
  "StartSession",
  "UpdateAgentStatus",
  "UpdateConvoyStatus",
  "UpdateReportStatus",
  "Nudge",
  "Escalate",
  "PollPullRequest",
  "DeleteReport",
  "DeleteAgent",
  "UpdateTownStatus",
];
