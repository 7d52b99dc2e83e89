// Town: one Gas Town — its rigs (git repositories), how agent sessions are run, limits and timeouts.
import { z } from "zod";
import { SEVERITIES } from "./agent-report.ts";
import { conditionList, dnsLabel, duration, observedGeneration, resource, timestamp } from "./meta.ts";
import { DayUsageSchema, TownBudgetSchema, UsageSchema } from "./usage.ts";

export const MERGE_STRATEGIES = ["Direct", "PullRequest"] as const;
export type MergeStrategy = (typeof MERGE_STRATEGIES)[number];

const secretName = () => dnsLabel(253);

export const ForgeSchema = z
  .object({
    provider: z
      .enum(["GitHub", "GitLab"])
      .default("GitHub")
      .describe("The forge's API dialect, GitHub (default) or GitLab; the operator only reads pull request state."),
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

/** Coding-agent CLIs `gt run` knows how to drive (src/agent/presets); custom runs `command`. */
export const AGENT_CLIS = ["claude-code", "codex", "pi", "custom"] as const;
export type AgentCli = (typeof AGENT_CLIS)[number];

/** The wire protocols a provider can speak (pi and custom presets choose; the others have one). */
export const MODEL_APIS = ["anthropic-messages", "openai-completions", "openai-responses"] as const;

const KeyRefSchema = z.object({
  name: secretName().describe("Name of the object in the town's namespace."),
  key: z.string().min(1).max(253).describe("The key whose value becomes the variable."),
});

export const ProviderSchema = z
  .object({
    baseURL: z
      .string()
      .max(2048)
      .regex(/^https?:\/\/[^\s/]+/)
      .optional()
      .describe("The model API's base URL (e.g. a gateway); absent: the CLI's own default."),
    apiKeySecret: KeyRefSchema.optional().describe(
      "Secret key holding the API key. A 401/403 from the model names this Secret on the Town.",
    ),
    api: z
      .enum(MODEL_APIS)
      .optional()
      .describe("Wire protocol (pi only; Claude Code speaks anthropic-messages, Codex openai-responses)."),
  })
  .describe("Where the coding agent's model is.");

/** The preset part of the agent template; a rig may override any of it. */
export const AgentPresetShape = {
  cli: z
    .enum(AGENT_CLIS)
    .optional()
    .describe("A coding-agent preset `gt run` drives; absent or custom: `command` (empty: the demo agent)."),
  model: z.string().min(1).max(256).optional().describe("The model the CLI asks for."),
  args: z
    .array(z.string().max(4096))
    .max(256)
    .optional()
    .describe("Extra arguments: appended to the preset's command line, or to `command`."),
  provider: ProviderSchema.optional(),
  maxRetries: z
    .int()
    .min(0)
    .max(10)
    .optional()
    .describe("Cap on the CLI's own retries of a failed model call (default 4)."),
};

export const RigAgentsSchema = z
  .object(AgentPresetShape)
  .describe("Overrides of Town.spec.agents' preset for this rig's sessions.");

export const RigSchema = z
  .object({
    name: dnsLabel(24).describe(
      "The rig's name (DNS label, at most 24 characters): beads and tasks name it, and it is part of agent and branch names.",
    ),
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
      .default("main")
      .describe("The branch work merges into and convoys land on (default main)."),
    mergeStrategy: z
      .enum(MERGE_STRATEGIES)
      .default("Direct")
      .describe(
        "Direct (default): the refinery merges and pushes itself. PullRequest: the refinery reports a pull request, the forge merges it, and the operator polls it (see forge) until it is merged or closed.",
      ),
    gates: z
      .array(z.string().min(1).max(4096))
      .max(20)
      .default([])
      .describe("Shell commands the refinery runs before merging; all must exit 0."),
    gitCredentialsSecret: secretName()
      .optional()
      .describe(
        "Secret in the town's namespace mounted read-only into this rig's session pods only (GT_GIT_CREDENTIALS_DIR); gt uses it to clone, fetch and push.",
      ),
    forge: ForgeSchema.optional(),
    agents: RigAgentsSchema.optional(),
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

const ResourceListSchema = z.object({
  cpu: quantity().optional().describe("CPU as a Kubernetes quantity, e.g. 500m or 2."),
  memory: quantity().optional().describe("Memory as a Kubernetes quantity, e.g. 512Mi or 4Gi."),
});

/** The agent contract's variables (docs/agent-contract.md): the session runtime owns them. */
const RESERVED_ENV = "self.name.startsWith('GT_') || self.name == 'HOME'";

const EnvVarSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .max(256)
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
      .describe("Variable name (a C identifier); GT_* and HOME belong to the session runtime and are refused."),
    value: z.string().max(32768).optional().describe("Literal value; set this or valueFrom, not both."),
    valueFrom: z
      .object({
        secretKeyRef: KeyRefSchema.optional().describe("A key of a Secret in the town's namespace."),
        configMapKeyRef: KeyRefSchema.optional().describe("A key of a ConfigMap in the town's namespace."),
      })
      .optional()
      .describe("Where the value comes from: exactly one of secretKeyRef or configMapKeyRef."),
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
    secretRef: z
      .object({ name: secretName().describe("Name of the Secret in the town's namespace.") })
      .optional()
      .describe("Every key of this Secret becomes a variable (e.g. the coding-agent CLI's API key)."),
    configMapRef: z
      .object({ name: secretName().describe("Name of the ConfigMap in the town's namespace.") })
      .optional()
      .describe("Every key of this ConfigMap becomes a variable."),
    prefix: z.string().max(253).optional().describe("Prepended to each key's variable name; may not start with GT_."),
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
    operator: z
      .enum(["Exists", "Equal"])
      .default("Equal")
      .describe("Equal (default): the taint's value must equal value. Exists: any value; value must be empty."),
    value: labelValue().optional().describe("The taint value to match with operator Equal."),
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
// created, and a refusal is reported on the bead, the agent and the town (docs/rules.md, Sessions that cannot start).
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
  .object({
    requests: ResourceListSchema.optional().describe("What the scheduler reserves for the agent container."),
    limits: ResourceListSchema.optional().describe("The most the agent container may use."),
  })
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
const AgentHomeSchema = z
  .object({
    size: quantity().optional().describe("The claim's storage request as a Kubernetes quantity (default 1Gi)."),
    storageClassName: z
      .string()
      .max(253)
      .optional()
      .describe("StorageClass of the claim; absent: the cluster's default StorageClass."),
  })
  .describe("A PersistentVolumeClaim per agent, mounted as HOME in each of its session pods.");

const RigPodTemplateSchema = z.object({
  rig: dnsLabel(24).describe("The rig (spec.rigs[].name) these settings apply to."),
  resources: ResourcesSchema.optional().describe("Replaces the town-wide resources for this rig's sessions."),
  nodeSelector: nodeSelector().describe("Replaces the town-wide nodeSelector for this rig's sessions."),
  tolerations: z.array(TolerationSchema).max(32).optional().describe("Replaces the town-wide tolerations."),
  affinity: AffinitySchema.optional().describe("Replaces the town-wide affinity."),
  priorityClassName: className()
    .optional()
    .describe("Replaces the town-wide priorityClassName for this rig's sessions."),
  runtimeClassName: className().optional().describe("Replaces the town-wide runtimeClassName for this rig's sessions."),
  home: AgentHomeSchema.optional().describe(
    "Replaces the town-wide home for this rig's agents (made when an agent's claim is first made).",
  ),
  podLabels: podLabels().describe("Merged over the town-wide podLabels (rig wins on a key)."),
  podAnnotations: podAnnotations().describe("Merged over the town-wide podAnnotations (rig wins on a key)."),
});
export type RigPodTemplate = z.infer<typeof RigPodTemplateSchema>;

export const AgentTemplateSchema = z
  .object({
    image: z
      .string()
      .min(1)
      .max(1024)
      .default("ghcr.io/gastown-operator/agent:latest")
      .describe(
        "Container image of every session pod: gt plus the coding-agent CLI. Default ghcr.io/gastown-operator/agent:latest.",
      ),
    imagePullPolicy: z
      .enum(["Always", "IfNotPresent", "Never"])
      .default("IfNotPresent")
      .describe("The session container's imagePullPolicy: Always, IfNotPresent (default) or Never."),
    imagePullSecrets: z
      .array(z.object({ name: secretName().describe("Name of the pull Secret.") }))
      .max(16)
      .optional()
      .describe("Secrets (type kubernetes.io/dockerconfigjson) in the town's namespace used to pull image."),
    command: z
      .array(z.string().max(4096))
      .max(64)
      .default([])
      .describe("The coding-agent CLI that `gt run` starts inside the session; empty runs the demo agent."),
    ...AgentPresetShape,
    args: z.array(z.string().max(4096)).max(256).default([]).describe("Arguments passed to command (default none)."),
    env: z
      .array(EnvVarSchema)
      .max(64)
      .default([])
      .describe("Extra environment variables of the agent container; GT_* and HOME are the agent contract's."),
    envFrom: z
      .array(EnvFromSchema)
      .max(16)
      .default([])
      .describe("Secrets or ConfigMaps whose keys become environment variables, e.g. the model API key."),
    resources: TownResourcesSchema.optional().describe(
      "Default CPU and memory of the agent container; perRig[].resources overrides it for one rig.",
    ),
    workspace: z
      .object({
        size: quantity()
          .optional()
          .describe("Size as a Kubernetes quantity: the emptyDir's sizeLimit, or the claim's request (default 10Gi)."),
        storageClassName: z
          .string()
          .max(253)
          .optional()
          .describe("StorageClass of a PersistentVolumeClaim per session (an ephemeral volume), deleted with its pod."),
      })
      .optional()
      .describe("Absent: an emptyDir. With storageClassName: a PersistentVolumeClaim per session."),
    home: AgentHomeSchema.optional().describe(
      "Keep each agent's HOME (the coding-agent CLI's transcripts) across its sessions, so a bead's next session resumes the conversation: a PersistentVolumeClaim <agent>-home per agent, owned by the Agent and deleted with it. Absent: HOME is on the session's workspace volume and every session starts a new conversation. perRig[].home overrides it for one rig.",
    ),
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
  .prefault({})
  .describe("How agent sessions run: the pod template of every polecat and refinery session of the town.");
export type AgentTemplate = z.infer<typeof AgentTemplateSchema>;

export const LimitsSchema = z
  .object({
    maxPolecatsPerRig: z
      .int()
      .min(1)
      .max(200)
      .default(5)
      .describe("Busy polecats (hooked, Working, Stalled or still running a session) per rig; default 5."),
    maxPolecats: z
      .int()
      .min(1)
      .max(1000)
      .optional()
      .describe("Busy polecats in the whole town; absent means rigs x maxPolecatsPerRig."),
    maxDispatchAttempts: z
      .int()
      .min(1)
      .max(50)
      .default(5)
      .describe(
        "Sessions a bead may use, on every path (dispatch, retry, redo); at the cap it fails (MaxDispatchAttempts). Also the failed landings a convoy may have. Default 5.",
      ),
    maxReviewCycles: z
      .int()
      .min(1)
      .max(50)
      .default(5)
      .describe(
        "Rework requests plus failed reviews an issue may go through before it fails (MaxReviewCycles); default 5.",
      ),
    maxHandoffs: z
      .int()
      .min(0)
      .max(100)
      .default(10)
      .describe(
        "Voluntary handoffs (gt handoff) per bead, default 10; they do not use the dispatch budget. Past the cap a session's end counts as a failure.",
      ),
    maxReportAttempts: z
      .int()
      .min(1)
      .max(20)
      .default(3)
      .describe(
        "Failed applications of an AgentReport (its writes failed; retried after 10s, 20s, 40s…) before it is marked Poisoned; default 3.",
      ),
    maxFailedSessions: z
      .int()
      .min(1)
      .max(100)
      .default(20)
      .describe(
        "Circuit breaker: this many failed sessions within circuitBreakerWindow stop all new dispatch; default 20.",
      ),
    maxConfigurationProbes: z
      .int()
      .min(0)
      .max(1000)
      .default(24)
      .describe(
        "How often a bead held by a configuration error (a missing Secret, a bad image, a quota) is tried again by itself, default 24; a Town spec change always tries again.",
      ),
    maxReEscalations: z
      .int()
      .min(0)
      .max(10)
      .default(2)
      .describe("How often an unacknowledged escalation is raised again, one severity higher each time; default 2."),
  })
  .prefault({})
  .describe("Every cap of the reconcile rules (docs/rules.md, Constants); absent fields take their defaults.");
export type Limits = z.infer<typeof LimitsSchema>;

/** Every constant of docs/rules.md (Constants), overridable per town (integration tests shorten them). */
export const TimeoutsSchema = z
  .object({
    heartbeatPeriod: duration("30s").describe(
      "How often gt run renews the session's Lease (its heartbeat); must be shorter than heartbeatTimeout. Default 30s.",
    ),
    heartbeatTimeout: duration("90s").describe(
      "A session whose Lease was not renewed for this long is lost: its agent goes Idle and the bead is redone. Default 90s.",
    ),
    startupGrace: duration("180s").describe(
      "Extra time, from Pod start, for a session that never renewed its Lease (image pull, clone) before it counts as lost. Default 180s.",
    ),
    staleInProgress: duration("5m").describe(
      "An InProgress bead with no Working hooked agent and no fresh heartbeat for this long goes back to Open, unassigned (StaleInProgress). Default 5m.",
    ),
    orphanedInReview: duration("5m").describe(
      "An InReview issue whose merge requests are all terminal, none merged, for this long goes back to Open to be redone. Default 5m.",
    ),
    stuckReview: duration("30m").describe(
      "A direct review with a hooked refinery that is not Working goes back to Open after this. Default 30m.",
    ),
    abandonedReview: duration("2m").describe(
      "A direct review with no agent hooked goes back to Open after this. Default 2m.",
    ),
    orphanedPR: duration("30m").describe(
      "A pull request with no successful poll for this long and no agent hooked fails its merge request (Orphaned, a review cycle). Default 30m.",
    ),
    prPollInterval: duration("30s").describe(
      "How often the operator polls a pull request on the forge; doubled per consecutive polling error, up to 32 times. Default 30s.",
    ),
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
      .describe(
        "Wait between a bead's sessions, one step per attempt so far (the last step repeats), counted from when it went Open. Default 2m, 2m, 5m, 10m, 30m.",
      )
      .meta({
        "x-kubernetes-validations": [
          {
            rule: "self.all(d, duration(d) > duration('0s'))",
            message: "every back-off step must be a positive duration such as 2m",
          },
        ],
      }),
    guppWarn: duration("15m").describe(
      "GUPP: an agent inactive this long with no active tool gets a warn nudge. Must be below guppEscalate. Default 15m.",
    ),
    guppEscalate: duration("1h").describe(
      "GUPP: inactive this long: an escalate nudge, Escalated=True on the agent and a Medium escalation. Default 1h.",
    ),
    guppForceStop: duration("2h").describe(
      "GUPP: a Working agent inactive this long is force-stopped (Stalled, unhooked, a High escalation); its bead is redone by another polecat, held HungAgent at the second force-stop. Default 2h.",
    ),
    nudgeDedupe: duration("60m").describe("At most one nudge per tier per agent within this window. Default 60m."),
    agentGC: duration("24h").describe(
      "Idle, unhooked agents inactive this long are deleted, with their pods, Lease and identity. Default 24h.",
    ),
    podRetention: duration("1h").describe(
      "Finished session pods are deleted after this; the newest per agent stays for its logs. Default 1h.",
    ),
    reportRetention: duration("24h").describe(
      "Processed AgentReports are deleted after this; Poisoned ones stay. Default 24h.",
    ),
    handoffMinInterval: duration("2m").describe(
      "A session after a handoff starts no sooner than this after the handing-off session started. Default 2m.",
    ),
    circuitBreakerWindow: duration("30m").describe(
      "The window failed sessions are counted in for the circuit breaker (limits.maxFailedSessions). Default 30m.",
    ),
    reEscalateAfter: duration("4h").describe(
      "An unacknowledged escalation is raised again after this, one severity higher. Default 4h.",
    ),
    configurationProbe: duration("1m").describe(
      "First wait before a bead held by a configuration error is tried again; it doubles, up to 10 times this. Default 1m.",
    ),
    unknownSessionReport: duration("5m").describe(
      "How long a report naming a session the controller does not know is held before it is rejected. Default 5m.",
    ),
  })
  .prefault({})
  .describe(
    "Every timeout of the reconcile rules (docs/rules.md, Constants), as durations such as 90s, 5m or 1h30m; absent fields take their defaults.",
  )
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

export const TownSpecSchema = z
  .object({
    rigs: z
      .array(RigSchema)
      .min(1)
      .max(32)
      .meta({
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["name"],
      })
      .describe("The git repositories of the town (1 to 32), each with its own refinery and polecats; keyed by name."),
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
      .describe(
        "RFC 3339 time; failed sessions before this instant do not count: set it to now to close an open circuit breaker.",
      ),
    budget: TownBudgetSchema.optional(),
  })
  .describe(
    "The desired town, written by a person: rigs, how agent sessions run, limits, timeouts and the levers that move held work.",
  );
export type TownSpec = z.infer<typeof TownSpecSchema>;

const count = (what: string) => z.int().min(0).default(0).describe(what);

export const ViolationSchema = z.object({
  invariant: z.int().min(1).max(99).describe("Number of the violated invariant (docs/rules.md, Invariants)."),
  message: z.string().max(1024).describe("What was observed."),
  object: z.string().max(253).optional().describe("The object it was observed on."),
});
export type Violation = z.infer<typeof ViolationSchema>;

export const EscalationSchema = z.object({
  id: z.string().max(253).describe("Stable id (reason and object); acknowledge it in spec.acknowledgedEscalations."),
  severity: z
    .enum(SEVERITIES)
    .describe("Low, Medium, High or Critical; one higher each time it is re-escalated unacknowledged."),
  reason: z.string().max(128).describe("CamelCase cause, e.g. MaxReviewCycles or CircuitBreakerOpen."),
  message: z.string().max(1024).describe("What a person should look at."),
  agent: z.string().max(253).optional().describe("The agent it concerns, if any."),
  bead: z.string().max(253).optional().describe("The bead it concerns, if any."),
  firstTime: timestamp().describe("When the problem was first seen (RFC 3339)."),
  lastTime: timestamp().describe("The last time the problem was seen."),
  raisedTime: timestamp().describe("The last time it was raised (first, or re-escalated)."),
  count: z.int().min(1).describe("How often the problem was seen."),
  level: z.int().min(0).describe("How often it was re-escalated while unacknowledged."),
  acknowledged: z.boolean().describe("Its id is in spec.acknowledgedEscalations: it is not raised again."),
});
export type Escalation = z.infer<typeof EscalationSchema>;
export const MAX_ESCALATIONS = 50;

export const FailedSessionSchema = z.object({
  time: timestamp().describe("When the session failed (RFC 3339)."),
  agent: z.string().max(253).describe("The agent whose session failed."),
  bead: z.string().max(253).optional().describe("The bead it worked on."),
  reason: z.string().max(128).describe("How the session ended, e.g. SessionFailed or SessionEndedWithoutDone."),
});
export type FailedSession = z.infer<typeof FailedSessionSchema>;

export const TownStatusSchema = z
  .object({
    observedGeneration: observedGeneration(),
    conditions: conditionList().describe(
      "Ready (False with CircuitBreakerOpen, AgentsCannotStart, InvariantViolated or ReconcileFailed), Stalled (AgentsCannotStart while work is held for a configuration error), Degraded (invariant violations, poisoned reports) and Escalated (unacknowledged escalations).",
    ),
    rigCount: count("Rigs in spec.rigs."),
    beads: z
      .object({
        open: count("Open beads."),
        inProgress: count("InProgress beads."),
        inReview: count("InReview beads."),
        closed: count("Closed beads."),
        failed: count("Failed beads."),
      })
      .optional()
      .describe("Beads of the town per phase."),
    agents: z
      .object({ idle: count("Idle agents."), working: count("Working agents."), stalled: count("Stalled agents.") })
      .optional()
      .describe("Agents of the town per phase."),
    workingAgents: count("Working agents (the Working printer column)."),
    openBeads: count("Open beads (the Open printer column)."),
    lastReconcile: z
      .object({
        time: timestamp().describe("When the reconcile ran (RFC 3339)."),
        durationMs: z.number().min(0).describe("How long planning took, in milliseconds."),
        actions: count("Actions the reconcile applied."),
      })
      .optional()
      .describe("Written only when a reconcile changed something, so a quiet town makes no writes."),
    violations: z
      .array(ViolationSchema)
      .max(20)
      .optional()
      .describe("Invariants found broken after the last plan; never silently repaired (also Degraded and a metric)."),
    escalations: z
      .array(EscalationSchema)
      .max(MAX_ESCALATIONS)
      .optional()
      .describe("Durable escalations, deduplicated by id; acknowledged ones are dropped first when full."),
    circuitBreaker: z
      .object({
        open: z.boolean().describe("true: no new session starts anywhere in the town; running work is untouched."),
        openedTime: timestamp().optional().describe("When the breaker opened (RFC 3339)."),
        recentFailures: z
          .array(FailedSessionSchema)
          .max(100)
          .describe(
            "Failed sessions that count (within the window, after spec.circuitBreakerReset), at most limits.maxFailedSessions.",
          ),
      })
      .optional()
      .describe(
        "The circuit breaker: limits.maxFailedSessions failed sessions within timeouts.circuitBreakerWindow open it; it closes as they age out or with spec.circuitBreakerReset.",
      ),
    usage: UsageSchema.optional().describe(
      "What the sessions of the town's beads spent, summed (deleted beads take theirs along).",
    ),
    usageToday: DayUsageSchema.optional(),
    shard: z
      .string()
      .max(63)
      .optional()
      .describe(
        "The operator shard (its --leader-election-id) that reconciles this town; written only when sharded (--town-selector).",
      ),
  })
  .describe(
    "What the controller observed and decided for the town: counts, escalations, the circuit breaker, conditions.",
  );
export type TownStatus = z.infer<typeof TownStatusSchema>;

export const TownSchema = resource("Town", TownSpecSchema, TownStatusSchema);
export type Town = z.infer<typeof TownSchema>;
