// Building blocks shared by every Gas Town kind. Each schema here does three jobs at once: it is
// the TypeScript type, the runtime validator for objects read from the API, and (through
// crd-schema.ts) the OpenAPI schema the apiserver enforces. Bounds exist so that CEL rules have a
// finite estimated cost and so that one object can never grow past etcd's size limit.
import { z } from "zod";

export const GROUP = "gastown.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}` as const;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A DNS-1123 label: what Kubernetes accepts as a name segment, a label value and a git-safe ref part. */
export const dnsLabel = (max = 63) => z.string().min(1).max(max).regex(DNS_LABEL);

/** The name of another object in the same namespace (DNS-1123 subdomain without dots, to stay branch-safe). */
export const objectName = () => dnsLabel(200);

export const CONDITION_STATUS = ["True", "False", "Unknown"] as const;

const REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

export const timestamp = () =>
  z.iso.datetime({ offset: true }).describe("An RFC 3339 timestamp, e.g. 2026-01-02T15:04:05Z.");

/** metav1.Condition, with the same bounds as upstream so the list stays small and queryable. */
export const ConditionSchema = z.object({
  type: z
    .string()
    .min(1)
    .max(316)
    .regex(
      /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/,
    )
    .describe("The condition's type in CamelCase, e.g. Ready or Stalled; at most one entry per type."),
  status: z
    .enum(CONDITION_STATUS)
    .describe(
      "True, False or Unknown. Abnormal conditions (Stalled, Blocked, Degraded, Escalated) exist only while True.",
    ),
  observedGeneration: z
    .int()
    .min(0)
    .optional()
    .describe("The object's metadata.generation the controller had seen when it set this condition."),
  lastTransitionTime: timestamp().describe("When status last changed (RFC 3339); a new reason alone does not move it."),
  reason: z
    .string()
    .min(1)
    .max(1024)
    .regex(REASON)
    .describe(
      "CamelCase machine-readable cause, e.g. CircuitBreakerOpen; the Kubernetes Event of the change carries it too.",
    ),
  message: z.string().max(32768).describe("Human-readable details: what is wrong and, where there is one, the fix."),
});
export type Condition = z.infer<typeof ConditionSchema>;

export const conditionList = () =>
  z
    .array(ConditionSchema)
    .max(16)
    .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"] })
    .optional()
    .describe("Conditions (metav1.Condition), one per type, written by the controller and recorded as Events.");

/** status.observedGeneration, the kstatus convention every kind follows. */
export const observedGeneration = () =>
  z
    .int()
    .min(0)
    .optional()
    .describe("The metadata.generation of the spec this status was computed from; lower than it means not yet seen.");

/**
 * A Go-style duration ("90s", "5m", "1h30m"). Kept as a string in the API, like metav1.Duration,
 * so manifests stay readable; CEL checks that it parses and is positive.
 */
export const duration = (fallback: string) =>
  z
    .string()
    .max(32)
    .regex(/^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/)
    .default(fallback)
    .meta({
      "x-kubernetes-validations": [
        {
          rule: "duration(self) > duration('0s')",
          message: "must be a positive duration such as 90s, 5m or 1h30m",
        },
      ],
    });

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses a Go-style duration into milliseconds. Throws with the offending text on bad input. */
export function parseDuration(text: string): number {
  const part = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = part.exec(text); m !== null; m = part.exec(text)) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    consumed = part.lastIndex;
  }
  if (consumed === 0 || consumed !== text.length) {
    throw new Error(`invalid duration ${JSON.stringify(text)}: use a number with a unit, e.g. 90s, 5m or 1h30m`);
  }
  return total;
}

/** The part of ObjectMeta the operator reads. Unknown keys pass through untouched. */
export const ObjectMetaSchema = z.looseObject({
  name: z.string(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.int().optional(),
  creationTimestamp: z.union([z.string(), z.date()]).optional(),
  deletionTimestamp: z.union([z.string(), z.date()]).optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  ownerReferences: z.array(z.looseObject({ uid: z.string(), name: z.string(), kind: z.string() })).optional(),
});
export type ObjectMeta = z.infer<typeof ObjectMetaSchema>;

/** Wraps a spec and status schema into the full object schema used to validate API reads. */
export function resource<K extends string, S extends z.ZodType, T extends z.ZodType>(kind: K, spec: S, status: T) {
  return z.object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal(kind),
    metadata: ObjectMetaSchema,
    spec,
    status: status.optional(),
  });
}

/** The priority scale of beads and tasks: 0 is the most urgent. */
export const priority = () =>
  z
    .int()
    .min(0)
    .max(4)
    .default(2)
    .describe("0 (most urgent) to 4 (least urgent), default 2; dispatch takes candidates by priority, then age.");
