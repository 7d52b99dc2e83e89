// Convoy: a batch of tasks with dependencies. The controller turns each task into a Bead.
import { z } from "zod";
import { conditionList, dnsLabel, objectName, observedGeneration, priority, resource, timestamp } from "./meta.ts";
import { BudgetSchema, UsageSchema } from "./usage.ts";

export const MERGE_MODES = ["ReviewThenLand", "ReviewAndMerge"] as const;
export type MergeMode = (typeof MERGE_MODES)[number];

export const CONVOY_PHASES = ["Staged", "Active", "Complete", "Landing", "Landed", "Failed"] as const;
export type ConvoyPhase = (typeof CONVOY_PHASES)[number];

export const TaskSchema = z
  .object({
    name: dnsLabel(40).describe("Unique in the convoy; the task's bead is named <convoy>-<task>."),
    title: z.string().min(1).max(200).describe("One line saying what to do; becomes the bead's title."),
    description: z
      .string()
      .max(16384)
      .default("")
      .describe("The full task for the agent; becomes the bead's description (default empty)."),
    rig: dnsLabel(24).describe("The rig (Town spec.rigs[].name) that does it; a ReviewThenLand convoy uses one rig."),
    priority: priority(),
    dependsOn: z
      .array(dnsLabel(40))
      .max(20)
      .default([])
      .meta({ "x-kubernetes-list-type": "set" })
      .describe("Names of tasks in this convoy that must be finished first."),
  })
  .describe("One task; the controller makes it the bead <convoy>-<task>, owned by the convoy.")
  .meta({
    "x-kubernetes-validations": [
      {
        rule: "!self.dependsOn.exists(d, d == self.name)",
        message: "a task cannot depend on itself; remove its own name from dependsOn",
        fieldPath: ".dependsOn",
      },
    ],
  });
export type Task = z.infer<typeof TaskSchema>;

export const ConvoySpecSchema = z
  .object({
    town: dnsLabel(24).describe("The Town (same namespace) that runs this convoy; immutable."),
    title: z.string().min(1).max(200).describe("What the convoy delivers, in one line."),
    mergeMode: z
      .enum(MERGE_MODES)
      .default("ReviewThenLand")
      .describe(
        "ReviewThenLand (default): work merges into the feature branch convoy/<name>, which lands once at the end. ReviewAndMerge: each bead merges into the default branch. Immutable.",
      ),
    staged: z
      .boolean()
      .default(false)
      .describe("true: planned only (phase Staged), nothing is dispatched until it is set to false. Default false."),
    cancel: z
      .boolean()
      .optional()
      .describe("true cancels every task, merge request and landing of the convoy; it becomes Failed (Cancelled)."),
    retry: z
      .int()
      .min(0)
      .max(1000)
      .optional()
      .describe("Raise it to retry the convoy: its failed tasks are retried and its landing attempts reset."),
    budget: BudgetSchema.optional().describe(
      "Spend cap of all the convoy's beads (status.usage). At the cap its open beads are held (BudgetExceeded) and running ones finish; raise it to continue.",
    ),
    tasks: z
      .array(TaskSchema)
      .min(1)
      .max(100)
      .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"] })
      .describe(
        "The work (1 to 100 tasks), keyed by name. Adding a task adds work (a Landed convoy reopens); removing an unfinished one cancels it (TaskRemoved).",
      ),
  })
  .describe("The batch, written by a person: its town, tasks and their dependencies, and how the work merges.")
  .meta({
    "x-kubernetes-validations": [
      {
        rule: "self.town == oldSelf.town",
        message: "town is immutable; create a new convoy instead",
        fieldPath: ".town",
      },
      {
        rule: "!has(oldSelf.retry) || (has(self.retry) && self.retry >= oldSelf.retry)",
        message: "retry can only grow: set it one higher to retry the convoy",
        fieldPath: ".retry",
      },
      {
        rule: "self.mergeMode == oldSelf.mergeMode",
        message: "mergeMode is immutable; create a new convoy instead",
        fieldPath: ".mergeMode",
      },
      {
        rule: "self.tasks.all(t, t.dependsOn.all(d, self.tasks.exists(u, u.name == d)))",
        message: "every dependsOn entry must name a task of this convoy",
        fieldPath: ".tasks",
      },
    ],
  });
export type ConvoySpec = z.infer<typeof ConvoySpecSchema>;

export const ConvoyStatusSchema = z
  .object({
    observedGeneration: observedGeneration(),
    phase: z
      .enum(CONVOY_PHASES)
      .optional()
      .describe(
        "Staged (spec.staged), Active (work pending; failed or held tasks named in Stalled), Landing (the landing merge request is live), Landed, or Failed (Cancelled, AllTasksCancelled, LandingFailed).",
      ),
    progress: z
      .object({
        closed: z.int().min(0).describe("Tasks Closed."),
        failed: z.int().min(0).describe("Tasks Failed, cancelled ones included."),
        total: z.int().min(0).describe("Tasks in the convoy."),
        summary: z.string().max(64).describe("closed/total, for the printer column."),
      })
      .optional()
      .describe("How far the tasks are."),
    featureBranch: z
      .string()
      .max(256)
      .optional()
      .describe("ReviewThenLand: convoy/<name>, where the tasks merge before the convoy lands."),
    landing: z
      .object({
        attempts: z.int().min(0).describe("Landing merge requests made so far."),
        attemptsBefore: z
          .int()
          .min(0)
          .optional()
          .describe(
            "Landing attempts made before the convoy was reopened or retried; they do not count against the cap.",
          ),
        bead: objectName().optional().describe("The current landing merge request."),
        landedAt: timestamp().optional().describe("When the convoy landed (RFC 3339)."),
      })
      .optional()
      .describe(
        "ReviewThenLand: the landing merge requests <convoy>-landing-<n> that merge the feature branch into the rig's default branch; limits.maxDispatchAttempts failed ones fail the convoy.",
      ),
    retry: z.int().min(0).optional().describe("The last spec.retry the controller acted on."),
    usage: UsageSchema.optional().describe(
      "What the convoy's beads spent (tasks, merge requests, reworks, landing), summed.",
    ),
    conditions: conditionList().describe(
      "Ready, and Stalled while something needs a person: InvalidTasks, TasksFailed, TasksHeld, LandingFailed, Cancelled.",
    ),
  })
  .describe("What the controller observed and decided for the convoy: phase, progress, landing, conditions.");
export type ConvoyStatus = z.infer<typeof ConvoyStatusSchema>;

export const ConvoySchema = resource("Convoy", ConvoySpecSchema, ConvoyStatusSchema);
export type Convoy = z.infer<typeof ConvoySchema>;
