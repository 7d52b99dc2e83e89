// Turns a zod schema into a Kubernetes *structural* OpenAPI v3 schema. zod's own JSON Schema
// output is close; this pass removes what the apiserver rejects in a structural schema (see
// "Specifying a structural schema" in the CRD docs) and rewrites int-or-string unions.
import { z } from "zod";

export type JSONSchema = { [key: string]: unknown };

const DROP_KEYS = new Set(["$schema", "id", "$id"]);

function isObject(v: unknown): v is JSONSchema {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function intOrString(node: JSONSchema): JSONSchema {
  const branches = (node.anyOf ?? node.oneOf ?? []) as JSONSchema[];
  const stringBranch = branches.find((b) => b.type === "string");
  const out: JSONSchema = {
    "x-kubernetes-int-or-string": true,
    anyOf: [{ type: "integer" }, { type: "string" }],
  };
  if (stringBranch?.pattern) out.pattern = stringBranch.pattern;
  if (node.description) out.description = node.description;
  return out;
}

function structural(node: JSONSchema): JSONSchema {
  if (node["x-kubernetes-int-or-string"]) return intOrString(node);
  if (node.anyOf || node.oneOf || node.allOf) {
    throw new Error(
      `unions cannot be expressed in a structural CRD schema: ${JSON.stringify(node).slice(0, 200)}; use optional fields and a CEL rule`,
    );
  }
  const out: JSONSchema = {};
  for (const [key, value] of Object.entries(node)) {
    if (DROP_KEYS.has(key)) continue;
    if (key === "additionalProperties" && value === false) continue;
    // zod adds a lookahead-free but very long regex next to format: date-time; the format alone is
    // what the apiserver checks, and it keeps error messages short.
    if (key === "pattern" && node.format === "date-time") continue;
    if (key === "properties" && isObject(value)) {
      out.properties = Object.fromEntries(
        Object.entries(value).map(([name, child]) => [name, structural(child as JSONSchema)]),
      );
    } else if ((key === "items" || key === "additionalProperties") && isObject(value)) {
      out[key] = structural(value);
    } else {
      out[key] = value;
    }
  }
  // JavaScript's safe-integer bounds are not a domain limit; the apiserver needs no such noise.
  if (out.type === "integer") {
    if (out.minimum === Number.MIN_SAFE_INTEGER) delete out.minimum;
    if (out.maximum === Number.MAX_SAFE_INTEGER) delete out.maximum;
  }
  if (Array.isArray(out.required) && out.required.length === 0) delete out.required;
  // A loose object kept whole (x-kubernetes-preserve-unknown-fields) has no schema of its own:
  // zod's empty `properties` and open `additionalProperties` are noise a structural schema forbids.
  if (out["x-kubernetes-preserve-unknown-fields"]) {
    if (isObject(out.properties) && Object.keys(out.properties).length === 0) delete out.properties;
    if (isObject(out.additionalProperties) && Object.keys(out.additionalProperties).length === 0)
      delete out.additionalProperties;
  }
  return out;
}

/** The structural OpenAPI v3 schema of a zod schema, as written into a CRD. */
export function toStructuralSchema(schema: z.ZodType): JSONSchema {
  const json = z.toJSONSchema(schema, { io: "input", target: "openapi-3.0", unrepresentable: "throw" }) as JSONSchema;
  return structural(json);
}
