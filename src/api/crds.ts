// The five CustomResourceDefinitions, assembled from the zod schemas. `make manifests` writes them
// to crds/; a unit test fails when the checked-in files drift from this output.
import type { z } from "zod";
import { AgentSpecSchema, AgentStatusSchema } from "./agent.ts";
import { AgentReportSpecSchema, AgentReportStatusSchema } from "./agent-report.ts";
import { BeadSpecSchema, BeadStatusSchema } from "./bead.ts";
import { ConvoySpecSchema, ConvoyStatusSchema } from "./convoy.ts";
import { type JSONSchema, toStructuralSchema } from "./crd-schema.ts";
import { GROUP, VERSION } from "./meta.ts";
import { TownSpecSchema, TownStatusSchema } from "./town.ts";

interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "number" | "date" | "boolean";
  jsonPath: string;
  priority?: number;
  description?: string;
}

interface KindDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  spec: z.ZodType;
  status: z.ZodType;
  description: string;
  columns: PrinterColumn[];
  rootValidations?: { rule: string; message: string; fieldPath?: string; reason?: string }[];
  /** Longest name allowed, and why: derived names (agents, pods, MRs) must still fit. */
  maxNameLength?: { max: number; why: string };
}

const age: PrinterColumn = { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" };

export const KINDS: KindDefinition[] = [
  {
    kind: "Town",
    plural: "towns",
    singular: "town",
    shortNames: ["town"],
    spec: TownSpecSchema,
    status: TownStatusSchema,
    description: "A Gas Town: rigs (git repositories), agent templates, limits and timeouts.",
    columns: [
      { name: "Ready", type: "string", jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
      { name: "Rigs", type: "integer", jsonPath: ".status.rigCount" },
      { name: "Working", type: "integer", jsonPath: ".status.workingAgents", description: "Working agents" },
      { name: "Open", type: "integer", jsonPath: ".status.openBeads", description: "Open beads" },
      age,
    ],
    maxNameLength: { max: 24, why: "it prefixes every agent, pod and lease name of the town" },
  },
  {
    kind: "Convoy",
    plural: "convoys",
    singular: "convoy",
    shortNames: ["cv"],
    spec: ConvoySpecSchema,
    status: ConvoyStatusSchema,
    description:
      "A batch of tasks with dependencies; each task becomes a Bead, and the convoy lands when all are merged.",
    columns: [
      { name: "Phase", type: "string", jsonPath: ".status.phase" },
      { name: "Progress", type: "string", jsonPath: ".status.progress.summary" },
      { name: "Mode", type: "string", jsonPath: ".spec.mergeMode" },
      {
        name: "Tokens",
        type: "integer",
        jsonPath: ".status.usage.tokens",
        description: "Tokens its beads' sessions used",
      },
      {
        name: "Cost",
        type: "number",
        jsonPath: ".status.usage.costUSD",
        description: "USD, where the CLI reports it",
        priority: 1,
      },
      { name: "Town", type: "string", jsonPath: ".spec.town", priority: 1 },
      age,
    ],
    maxNameLength: { max: 63, why: "its tasks become beads named <convoy>-<task>" },
  },
  {
    kind: "Bead",
    plural: "beads",
    singular: "bead",
    shortNames: ["bd"],
    spec: BeadSpecSchema,
    status: BeadStatusSchema,
    description: "One unit of work: an Issue for a polecat or a MergeRequest for the refinery.",
    columns: [
      { name: "Phase", type: "string", jsonPath: ".status.phase" },
      { name: "Type", type: "string", jsonPath: ".spec.type" },
      { name: "Rig", type: "string", jsonPath: ".spec.rig" },
      { name: "Assignee", type: "string", jsonPath: ".status.assignee" },
      { name: "Convoy", type: "string", jsonPath: ".spec.convoy" },
      { name: "Tokens", type: "integer", jsonPath: ".status.usage.tokens", description: "Tokens its sessions used" },
      {
        name: "Cost",
        type: "number",
        jsonPath: ".status.usage.costUSD",
        description: "USD, where the CLI reports it",
        priority: 1,
      },
      { name: "Title", type: "string", jsonPath: ".spec.title", priority: 1 },
      { name: "Reason", type: "string", jsonPath: ".status.reason", priority: 1 },
      age,
    ],
    rootValidations: [
      {
        rule: "!self.spec.dependsOn.exists(d, d == self.metadata.name)",
        message: "a bead cannot depend on itself; remove its own name from spec.dependsOn",
        fieldPath: ".spec.dependsOn",
      },
    ],
    maxNameLength: { max: 150, why: "merge request and rework beads append -mr-<n>-rework-<n> to it" },
  },
  {
    kind: "Agent",
    plural: "agents",
    singular: "agent",
    shortNames: ["ag"],
    spec: AgentSpecSchema,
    status: AgentStatusSchema,
    description: "A persistent agent identity (a polecat or a rig's refinery); its pods are sessions.",
    columns: [
      { name: "Role", type: "string", jsonPath: ".spec.role" },
      { name: "Rig", type: "string", jsonPath: ".spec.rig" },
      { name: "Phase", type: "string", jsonPath: ".status.phase" },
      { name: "Hook", type: "string", jsonPath: ".spec.hook" },
      { name: "Last Heartbeat", type: "date", jsonPath: ".status.lastHeartbeat" },
      { name: "Session", type: "integer", jsonPath: ".status.session", priority: 1 },
      age,
    ],
  },
  {
    kind: "AgentReport",
    plural: "agentreports",
    singular: "agentreport",
    shortNames: ["ar"],
    spec: AgentReportSpecSchema,
    status: AgentReportStatusSchema,
    description:
      "A durable fact from an agent (Done, RequestChanges, ReviewFailed, Escalate, Checkpoint, Handoff); created by the agent, applied by the controller.",
    columns: [
      { name: "Agent", type: "string", jsonPath: ".spec.agent" },
      { name: "Bead", type: "string", jsonPath: ".spec.bead" },
      { name: "Type", type: "string", jsonPath: ".spec.type" },
      { name: "Outcome", type: "string", jsonPath: ".status.outcome" },
      { name: "Error", type: "string", jsonPath: ".status.error", priority: 1 },
      age,
    ],
  },
];

export function customResourceDefinition(def: KindDefinition): JSONSchema {
  const root: JSONSchema = {
    type: "object",
    description: def.description,
    required: ["spec"],
    properties: {
      // The texts Kubernetes' own types carry, so `kubectl explain` reads the same for every kind.
      apiVersion: {
        type: "string",
        description:
          "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values.",
      },
      kind: {
        type: "string",
        description:
          "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. In CamelCase.",
      },
      // A name bound in the schema (not CEL) makes the apiserver say "metadata.name: Too long".
      metadata: def.maxNameLength
        ? {
            type: "object",
            properties: {
              name: {
                type: "string",
                maxLength: def.maxNameLength.max,
                description: `At most ${def.maxNameLength.max} characters: ${def.maxNameLength.why}.`,
              },
            },
          }
        : { type: "object" },
      spec: toStructuralSchema(def.spec),
      status: toStructuralSchema(def.status),
    },
  };
  if (def.rootValidations) root["x-kubernetes-validations"] = def.rootValidations;
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: {
      name: `${def.plural}.${GROUP}`,
      labels: { "app.kubernetes.io/part-of": "gastown-operator" },
    },
    spec: {
      group: GROUP,
      scope: "Namespaced",
      names: {
        kind: def.kind,
        listKind: `${def.kind}List`,
        plural: def.plural,
        singular: def.singular,
        shortNames: def.shortNames,
        categories: ["gastown"],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: def.columns,
          schema: { openAPIV3Schema: root },
        },
      ],
    },
  };
}

export function allCustomResourceDefinitions(): JSONSchema[] {
  return KINDS.map(customResourceDefinition);
}

/** The checked-in files under crds/, by file name: what `make manifests` writes and CI compares. */
export function renderCrdFiles(render: (doc: unknown) => string): Map<string, string> {
  const header = "# Generated from src/api by `make manifests`. Do not edit.\n";
  const files = new Map<string, string>();
  for (const crd of allCustomResourceDefinitions()) {
    const name = (crd.metadata as { name: string }).name;
    files.set(`${name}.yaml`, header + render(crd));
  }
  // crds/ is also a kustomize base, so manifests/ (and users) can include it as a directory.
  const kustomization = {
    apiVersion: "kustomize.config.k8s.io/v1beta1",
    kind: "Kustomization",
    resources: [...files.keys()],
  };
  files.set("kustomization.yaml", header + render(kustomization));
  return files;
}

/** The Helm chart's crds/ directory: the same files, without the kustomization (Helm would apply it). */
export function chartCrdFiles(files: Map<string, string>): Map<string, string> {
  return new Map([...files].filter(([name]) => name !== "kustomization.yaml"));
}
