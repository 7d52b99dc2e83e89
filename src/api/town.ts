// Town: one Gas Town — its rigs (git repositories), how agent sessions are run, limits and timeouts.
import { z } from "zod";
import { SEVERITIES } from "./agent-report.ts";
import { conditionList, dnsLabel, duration, resource, timestamp } from "./meta.ts";

export const MERGE_STRATEGIES = ["Direct", "PullRequest"] as const;
export type MergeStrategy = (typeof MERGE_STRATEGIES)[number];

const secretName = () => dnsLabel(253);

export const ForgeSchema = z
  .object({
    provider: z.enum(["GitHub", "GitLab"]).default("GitHub"),
    apiURL: z
      .string()
      .max(2048)
      .regex(/^https?:\/\/[^\s/]+/)
      .describe(
        "Base URL of the forge API, e.g. https://api.github.com. Its host must be in the operator's allow-list.",
      ),
    tokenSecret: secretName()
      .optional()
      .describe("Secret in the town's namespace whose 'token' key authenticates API calls."),
  })
  .describe("Where pull requests of a PullRequest-strategy rig are polled.");

export const RigSchema = z
  .object({
    name: dnsLabel(24),
    repo: z
      .string()
      .min(1)
      .max(2048)
      .describe("Git URL (https://, ssh://, git@host:path or file://) or absolute path of the repository."),
    defaultBranch: z
      .string()
      .min(1)
      .max(200)
      .regex(/^[A-Za-z0-9._/-]+$/)
      .default("main"),
    mergeStrategy: z.enum(MERGE_STRATEGIES).default("Direct"),
    gates: z
      .array(z.string().min(1).max(4096))
      .max(20)
      .default([])
      .describe("Shell commands the refinery runs before merging; all must exit 0."),
    gitCredentialsSecret: secretName().optional(),
    forge: ForgeSchema.optional(),
  })
  .meta({
    "x-kubernetes-validations": [
      {
        rule: "self.mergeStrategy != 'PullRequest' || has(self.forge)",
        message: "a PullRequest rig needs forge (provider and apiURL) so its pull requests can be polled",
        fieldPath: ".forge",
        reason: "FieldValueRequired",
      },
    ],
  });
export type Rig = z.infer<typeof RigSchema>;

const quantity = () =>
  z
    .union([
      z
        .string()
        .max(32)
        .regex(/^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/),
      z.int().min(0),
    ])
    .meta({ "x-kubernetes-int-or-string": true });

const ResourceListSchema = z.object({ cpu: quantity().optional(), memory: quantity().optional() });

const KeyRefSchema = z.object({ name: secretName(), key: z.string().min(1).max(253) });

/** The agent contract's variables (docs/agent-contract.md): the session runtime owns them. */
const RESERVED_ENV = "self.name.startsWith('GT_') || self.name == 'HOME'";

const EnvVarSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .max(256)
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/),
    value: z.string().max(32768).optional(),
    valueFrom: z.object({ secretKeyRef: KeyRefSchema.optional(), configMapKeyRef: KeyRefSchema.optional() }).optional(),
  })
  .meta({
    "x-kubernetes-validations": [
      {
        rule: `!(${RESERVED_ENV})`,
        message: "GT_* variables and HOME are set by the session runtime (the agent contract): use another name",
        fieldPath: ".name",
        reason: "FieldValueForbidden",
      },
      {
        rule: "!has(self.valueFrom) || (has(self.valueFrom.secretKeyRef) != has(self.valueFrom.configMapKeyRef))",
        message: "valueFrom needs exactly one of secretKeyRef or configMapKeyRef (name and key)",
        fieldPath: ".valueFrom",
        reason: "FieldValueRequired",
      },
      {
        rule: "!has(self.value) || !has(self.valueFrom)",
        message: "set value or valueFrom, not both",
        fieldPath: ".valueFrom",
        reason: "FieldValueForbidden",
      },
    ],
  });

const EnvFromSchema = z
  .object({
    secretRef: z.object({ name: secretName() }).optional(),
    configMapRef: z.object({ name: secretName() }).optional(),
    prefix: z.string().max(253).optional(),
  })
  .meta({
    "x-kubernetes-validations": [
      {
        rule: "has(self.secretRef) != has(self.configMapRef)",
        message: "an envFrom entry needs exactly one of secretRef or configMapRef",
        reason: "FieldValueRequired",
      },
      {
        rule: "!has(self.prefix) || !self.prefix.startsWith('GT_')",
        message: "a GT_ prefix would let a Secret override the session's own variables: use another prefix",
        fieldPath: ".prefix",
        reason: "FieldValueForbidden",
      },
    ],
  });

/** Requests above limits never schedule: refused at apply time, naming the resource. */
const requestsWithinLimits = (resource: "cpu" | "memory") => ({
  rule: `!has(self.requests) || !has(self.limits) || !has(self.requests.${resource}) || !has(self.limits.${resource}) || quantity(string(self.requests.${resource})).compareTo(quantity(string(self.limits.${resource}))) <= 0`,
  message: `resources.requests.${resource} must not exceed resources.limits.${resource}`,
  fieldPath: `.requests.${resource}`,
});

// --- Agent pod template: where and how session pods run (issue 14) ------------------------------

/** Label and annotation key prefixes the operator sets on session pods; a Town may not override them. */
export const RESERVED_POD_LABEL_PREFIXES = ["gastown.dev/", "app.kubernetes.io/"] as const;

// A qualified name (optional DNS prefix) as Kubernetes accepts for label and annotation keys,
// bounded tighter than Kubernetes (253 + 63) so that the CEL rules over these maps stay within the
// apiserver's cost budget.
const qualifiedKey = () =>
  z
    .string()
    .min(1)
    .max(128)
    .regex(
      /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/,
    );
const labelValue = () =>
  z
    .string()
    .max(63)
    .regex(/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/);

const notReserved = (what: string) => ({
  rule: `self.all(k, !k.startsWith('gastown.dev/') && !k.startsWith('app.kubernetes.io/'))`,
  message: `${what} may not set gastown.dev/* or app.kubernetes.io/* keys: the operator owns them (they tie pods to agents)`,
});

const podLabels = () =>
  z
    .record(qualifiedKey(), labelValue())
    .meta({ maxProperties: 32, "x-kubernetes-validations": [notReserved("podLabels")] })
    .describe("Extra labels on every session pod (e.g. for NetworkPolicies or cost allocation).")
    .optional();
const podAnnotations = () =>
  z
    .record(qualifiedKey(), z.string().max(4096))
    .meta({ maxProperties: 32, "x-kubernetes-validations": [notReserved("podAnnotations")] })
    .describe("Extra annotations on every session pod.")
    .optional();

const TolerationSchema = z
  .object({
    key: qualifiedKey().optional().describe("Taint key; empty with operator Exists matches every taint."),
    operator: z.enum(["Exists", "Equal"]).default("Equal"),
    value: labelValue().optional(),
    effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional().describe("Empty matches all effects."),
    tolerationSeconds: z
      .int()
      .optional()
      .describe("NoExecute only: how long the pod stays bound after the taint appears."),
  })
  .meta({
    "x-kubernetes-validations": [
      {
        rule: "self.operator != 'Exists' || !has(self.value)",
        message: "a toleration with operator Exists takes no value",
        fieldPath: ".value",
      },
    ],
  });

// Affinity terms are passed to the pod unchanged; the apiserver validates them when the session pod is
// created, and a refusal is reported on the bead, the agent and the town (DESIGN §5.10).
const affinityTerm = (what: string) =>
  z
    .looseObject({})
    .meta({ "x-kubernetes-preserve-unknown-fields": true })
    .optional()
    .describe(`A core/v1 ${what}, as in a Pod's spec.affinity.`);
const AffinitySchema = z
  .object({
    nodeAffinity: affinityTerm("NodeAffinity"),
    podAffinity: affinityTerm("PodAffinity"),
    podAntiAffinity: affinityTerm("PodAntiAffinity"),
  })
  .describe("Scheduling constraints of session pods (a core/v1 Affinity).");

const ResourcesSchema = z
  .object({ requests: ResourceListSchema.optional(), limits: ResourceListSchema.optional() })
  .describe("CPU and memory requests and limits of the agent container.");

// The CEL check costs too much inside perRig[] (the apiserver's budget); there, a pod the apiserver
// refuses for it is reported on the Bead, the Agent and the Town like any refused session.
const TownResourcesSchema = ResourcesSchema.meta({
  "x-kubernetes-validations": [requestsWithinLimits("cpu"), requestsWithinLimits("memory")],
});

const nodeSelector = () =>
  z.record(qualifiedKey(), labelValue()).optional().describe("Node labels a session pod's node must have.");
const className = () => dnsLabel(253);

/** The pod fields a rig may set for its own sessions; they override the town-wide values. */
const RigPodTemplateSchema = z.object({
  rig: dnsLabel(24).describe("The rig (spec.rigs[].name) these settings apply to."),
  resources: ResourcesSchema.optional(),
  nodeSelector: nodeSelector().describe("Replaces the town-wide nodeSelector for this rig's sessions."),
  tolerations: z.array(TolerationSchema).max(32).optional().describe("Replaces the town-wide tolerations."),
  affinity: AffinitySchema.optional().describe("Replaces the town-wide affinity."),
  priorityClassName: className().optional(),
  runtimeClassName: className().optional(),
  podLabels: podLabels().describe("Merged over the town-wide podLabels (rig wins on a key)."),
  podAnnotations: podAnnotations().describe("Merged over the town-wide podAnnotations (rig wins on a key)."),
});
export type RigPodTemplate = z.infer<typeof RigPodTemplateSchema>;

export const AgentTemplateSchema = z
  .object({
    image: z.string().min(1).max(1024).default("ghcr.io/gastown-operator/agent:latest"),
    imagePullPolicy: z.enum(["Always", "IfNotPresent", "Never"]).default("IfNotPresent"),
    imagePullSecrets: z
      .array(z.object({ name: secretName() }))
      .max(16)
      .optional()
      .describe("Secrets (type kubernetes.io/dockerconfigjson) in the town's namespace used to pull image."),
    command: z
      .array(z.string().max(4096))
      .max(64)
      .default([])
      .describe("The coding-agent CLI that `gt run` starts inside the session; empty runs the demo agent."),
    args: z.array(z.string().max(4096)).max(256).default([]),
    env: z.array(EnvVarSchema).max(64).default([]),
    envFrom: z.array(EnvFromSchema).max(16).default([]),
    resources: TownResourcesSchema.optional().describe(
      "Default CPU and memory of the agent container; perRig[].resources overrides it for one rig.",
    ),
    workspace: z
      .object({
        size: quantity().optional(),
        storageClassName: z.string().max(253).optional(),
      })
      .optional()
      .describe("Absent: an emptyDir. With storageClassName: a PersistentVolumeClaim per session."),
    nodeSelector: nodeSelector(),
    tolerations: z.array(TolerationSchema).max(32).optional().describe("Taints session pods tolerate."),
    affinity: AffinitySchema.optional(),
    priorityClassName: className().optional().describe("PriorityClass of session pods."),
    runtimeClassName: className()
      .optional()
      .describe("RuntimeClass of session pods, e.g. a gVisor or Kata sandbox for untrusted agent code."),
    podLabels: podLabels(),
    podAnnotations: podAnnotations(),
    serviceAccountAnnotations: z
      .record(qualifiedKey(), z.string().max(4096))
      .meta({ maxProperties: 32 })
      .optional()
      .describe(
        "Annotations on each agent's ServiceAccount, e.g. a cloud workload identity. Set when the agent's identity is created.",
      ),
    perRig: z
      .array(RigPodTemplateSchema)
      .max(16)
      .optional()
      .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["rig"] })
      .describe("Per-rig pod settings (resources, scheduling, sandboxing, labels) over the town-wide ones."),
  })
  .prefault({});
export type AgentTemplate = z.infer<typeof AgentTemplateSchema>;

export const LimitsSchema = z
  .object({
    maxPolecatsPerRig: z.int().min(1).max(200).default(5),
    maxPolecats: z.int().min(1).max(1000).optional().describe("Town-wide cap; absent means rigs x maxPolecatsPerRig."),
    maxDispatchAttempts: z
      .int()
      .min(1)
      .max(50)
      .default(5)
      .describe("Sessions a bead may use, on every path (dispatch, retry, redo); at the cap it fails."),
    maxReviewCycles: z
      .int()
      .min(1)
      .max(50)
      .default(5)
      .describe("Rework requests plus failed reviews an issue may go through before it fails."),
    maxHandoffs: z
      .int()
      .min(0)
      .max(100)
      .default(10)
      .describe("Voluntary handoffs (gt handoff) per bead; they do not use the dispatch budget."),
    maxReportAttempts: z.int().min(1).max(20).default(3),
    maxFailedSessions: z
      .int()
      .min(1)
      .max(100)
      .default(20)
      .describe("Circuit breaker: this many failed sessions within circuitBreakerWindow stop all new dispatch."),
    maxConfigurationProbes: z
      .int()
      .min(0)
      .max(1000)
      .default(24)
      .describe(
        "How often a bead held by a configuration error (a missing Secret, a bad image, a quota) is tried again by itself; a Town spec change always tries again.",
      ),
    maxReEscalations: z
      .int()
      .min(0)
      .max(10)
      .default(2)
      .describe("How often an unacknowledged escalation is raised again, one severity higher each time."),
  })
  .prefault({});
export type Limits = z.infer<typeof LimitsSchema>;

/** Every constant of DESIGN §5.9, overridable per town (integration tests shorten them). */
export const TimeoutsSchema = z
  .object({
    heartbeatPeriod: duration("30s"),
    heartbeatTimeout: duration("90s"),
    startupGrace: duration("180s"),
    staleInProgress: duration("5m"),
    orphanedInReview: duration("5m"),
    stuckReview: duration("30m"),
    abandonedReview: duration("2m"),
    orphanedPR: duration("30m"),
    prPollInterval: duration("30s"),
    dispatchBackoff: z
      .array(
        z
          .string()
          .max(32)
          .regex(/^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/),
      )
      .min(1)
      .max(10)
      .default(["2m", "2m", "5m", "10m", "30m"])
      .meta({
        "x-kubernetes-validations": [
          {
            rule: "self.all(d, duration(d) > duration('0s'))",
            message: "every back-off step must be a positive duration such as 2m",
          },
        ],
      }),
    guppWarn: duration("15m"),
    guppEscalate: duration("1h"),
    guppForceStop: duration("2h"),
    nudgeDedupe: duration("60m"),
    agentGC: duration("24h"),
    podRetention: duration("1h"),
    reportRetention: duration("24h"),
    handoffMinInterval: duration("2m").describe(
      "A session after a handoff starts no sooner than this after the handing-off session started.",
    ),
    circuitBreakerWindow: duration("30m").describe("The window failed sessions are counted in."),
    reEscalateAfter: duration("4h").describe("An unacknowledged escalation is raised again after this."),
    configurationProbe: duration("1m").describe(
      "First wait before a bead held by a configuration error is tried again; it doubles, up to 10 times this.",
    ),
    unknownSessionReport: duration("5m").describe(
      "How long a report naming a session the controller does not know is held before it is rejected.",
    ),
  })
  .prefault({})
  .meta({
    "x-kubernetes-validations": [
      {
        // has() guards: the apiserver also checks this rule against the schema's `default: {}`.
        rule: "!has(self.guppWarn) || !has(self.guppEscalate) || !has(self.guppForceStop) || (duration(self.guppWarn) < duration(self.guppEscalate) && duration(self.guppEscalate) < duration(self.guppForceStop))",
        message: "GUPP tiers must grow: guppWarn < guppEscalate < guppForceStop",
        fieldPath: ".guppEscalate",
      },
      {
        rule: "!has(self.heartbeatPeriod) || !has(self.heartbeatTimeout) || duration(self.heartbeatPeriod) < duration(self.heartbeatTimeout)",
        message: "heartbeatTimeout must be longer than heartbeatPeriod, or every agent looks dead",
        fieldPath: ".heartbeatTimeout",
      },
    ],
  });
export type Timeouts = z.infer<typeof TimeoutsSchema>;

export const TownSpecSchema = z.object({
  rigs: z
    .array(RigSchema)
    .min(1)
    .max(32)
    .meta({
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["name"],
    }),
  agents: AgentTemplateSchema,
  limits: LimitsSchema,
  timeouts: TimeoutsSchema,
  suspend: z.boolean().default(false).describe("Stop dispatching new work; running sessions and state are kept."),
  acknowledgedEscalations: z
    .array(z.string().min(1).max(253))
    .max(100)
    .default([])
    .meta({ "x-kubernetes-list-type": "set" })
    .describe("Ids of escalations (status.escalations[].id) a person has seen; they are not raised again."),
  circuitBreakerReset: timestamp()
    .optional()
    .describe("Failed sessions before this instant do not count: set it to now to close an open circuit breaker."),
});
export type TownSpec = z.infer<typeof TownSpecSchema>;

const count = () => z.int().min(0).default(0);

export const ViolationSchema = z.object({
  invariant: z.int().min(1).max(99),
  message: z.string().max(1024),
  object: z.string().max(253).optional(),
});
export type Violation = z.infer<typeof ViolationSchema>;

export const EscalationSchema = z.object({
  id: z.string().max(253).describe("Stable id (reason and object); acknowledge it in spec.acknowledgedEscalations."),
  severity: z.enum(SEVERITIES),
  reason: z.string().max(128),
  message: z.string().max(1024),
  agent: z.string().max(253).optional(),
  bead: z.string().max(253).optional(),
  firstTime: timestamp(),
  lastTime: timestamp().describe("The last time the problem was seen."),
  raisedTime: timestamp().describe("The last time it was raised (first, or re-escalated)."),
  count: z.int().min(1),
  level: z.int().min(0).describe("How often it was re-escalated while unacknowledged."),
  acknowledged: z.boolean(),
});
export type Escalation = z.infer<typeof EscalationSchema>;
export const MAX_ESCALATIONS = 50;

export const FailedSessionSchema = z.object({
  time: timestamp(),
  agent: z.string().max(253),
  bead: z.string().max(253).optional(),
  reason: z.string().max(128),
});
export type FailedSession = z.infer<typeof FailedSessionSchema>;

export const TownStatusSchema = z.object({
  observedGeneration: z.int().min(0).optional(),
  conditions: conditionList(),
  rigCount: count(),
  beads: z
    .object({ open: count(), inProgress: count(), inReview: count(), closed: count(), failed: count() })
    .optional(),
  agents: z.object({ idle: count(), working: count(), stalled: count() }).optional(),
  workingAgents: count(),
  openBeads: count(),
  lastReconcile: z
    .object({ time: timestamp(), durationMs: z.number().min(0), actions: count() })
    .optional()
    .describe("Written only when a reconcile changed something, so a quiet town makes no writes."),
  violations: z.array(ViolationSchema).max(20).optional(),
  escalations: z
    .array(EscalationSchema)
    .max(MAX_ESCALATIONS)
    .optional()
    .describe("Durable escalations, deduplicated by id; acknowledged ones are dropped first when full."),
  circuitBreaker: z
    .object({
      open: z.boolean(),
      openedTime: timestamp().optional(),
      recentFailures: z.array(FailedSessionSchema).max(100).describe("Failed sessions within the window."),
    })
    .optional(),
});
export type TownStatus = z.infer<typeof TownStatusSchema>;

export const TownSchema = resource("Town", TownSpecSchema, TownStatusSchema);
export type Town = z.infer<typeof TownSchema>;
