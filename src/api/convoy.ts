// Convoy: a batch of tasks with dependencies. The controller turns each task into a Bead.
import { z } from "zod";
import { conditionList, dnsLabel, objectName, priority, resource, timestamp } from "./meta.ts";

export const MERGE_MODES = ["ReviewThenLand", "ReviewAndMerge"] as const;
export type MergeMode = (typeof MERGE_MODES)[number];

export const CONVOY_PHASES = ["Staged", "Active", "Complete", "Landing", "Landed", "Failed"] as const;
export type ConvoyPhase = (typeof CONVOY_PHASES)[number];

export const TaskSchema = z
  .object({
    name: dnsLabel(40).describe("Unique in the convoy; the task's bead is named <convoy>-<task>."),
    title: z.string().min(1).max(200),
    description: z.string().max(16384).default(""),
    rig: dnsLabel(24),
    priority: priority(),
    dependsOn: z
      .array(dnsLabel(40))
      .max(20)
      .default([])
      .meta({ "x-kubernetes-list-type": "set" })
      .describe("Names of tasks in this convoy that must be finished first."),
  })
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
    town: dnsLabel(24).describe("The Town (same namespace) that runs this convoy."),
    title: z.string().min(1).max(200),
    mergeMode: z
      .enum(MERGE_MODES)
      .default("ReviewThenLand")
      .describe(
        "ReviewThenLand: work merges into the feature branch convoy/<name>, which lands once at the end. ReviewAndMerge: each bead merges into the default branch.",
      ),
    staged: z.boolean().default(false).describe("true: planned only, nothing is dispatched until it is set to false."),
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
    tasks: z
      .array(TaskSchema)
      .min(1)
      .max(100)
      .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"] }),
  })
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

export const ConvoyStatusSchema = z.object({
  observedGeneration: z.int().min(0).optional(),
  phase: z.enum(CONVOY_PHASES).optional(),
  progress: z
    .object({
      closed: z.int().min(0),
      failed: z.int().min(0),
      total: z.int().min(0),
      summary: z.string().max(64).describe("closed/total, for the printer column."),
    })
    .optional(),
  featureBranch: z.string().max(256).optional(),
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
      landedAt: timestamp().optional(),
    })
    .optional(),
  retry: z.int().min(0).optional().describe("The last spec.retry the controller acted on."),
  conditions: conditionList(),
});
export type ConvoyStatus = z.infer<typeof ConvoyStatusSchema>;

export const ConvoySchema = resource("Convoy", ConvoySpecSchema, ConvoyStatusSchema);
export type Convoy = z.infer<typeof ConvoySchema>;
