// The Gas Town CRDs: installed, serving the version this CLI speaks, Established, and with the
// schema this CLI was built with (else the operator and the CLI are from different releases).
import { isDeepStrictEqual } from "node:util";
import { allCustomResourceDefinitions } from "../../api/crds.ts";
import { VERSION } from "../../api/meta.ts";
import type { Cli } from "../context.ts";
import { type Finding, get, statusCode } from "./findings.ts";

type Crd = Record<string, unknown>;

const FIX = "kubectl apply --server-side -f crds/ (from the release of this CLI), or make deploy";

/** Key order is not meaning: schemas are compared as values. */
function schemaOf(crd: Crd): unknown {
  const versions = (crd.spec as { versions?: { name: string; schema?: unknown }[] })?.versions ?? [];
  return versions.find((v) => v.name === VERSION)?.schema;
}

/** What is wrong with one CRD as the cluster has it (undefined: not installed), or nothing. */
export function crdFinding(want: Crd, have: Crd | undefined): Finding | undefined {
  const name = (want.metadata as { name: string }).name;
  if (!have) return { check: "CRDs", severity: "fail", message: `CRD ${name} is not installed`, fix: FIX };
  const served = ((have.spec as { versions?: { name: string; served?: boolean }[] })?.versions ?? []).some(
    (v) => v.name === VERSION && v.served,
  );
  if (!served) {
    return {
      check: "CRDs",
      severity: "fail",
      message: `CRD ${name} does not serve ${VERSION}, the version this CLI speaks`,
      fix: FIX,
    };
  }
  const established = ((have.status as { conditions?: { type: string; status: string }[] })?.conditions ?? []).some(
    (c) => c.type === "Established" && c.status === "True",
  );
  if (!established) {
    return {
      check: "CRDs",
      severity: "fail",
      message: `CRD ${name} is not Established yet`,
      fix: `kubectl wait --for=condition=Established crd/${name}`,
    };
  }
  if (!isDeepStrictEqual(schemaOf(have), schemaOf(want))) {
    return {
      check: "CRDs",
      severity: "fail",
      message: `CRD ${name} has a different schema than this CLI was built with: the operator and the CLI are from different releases`,
      fix: FIX,
    };
  }
  return undefined;
}

/** `wanted` is the CRDs this CLI was built with; tests pass others to reach the other answers. */
export async function checkCrds(cli: Cli, wanted: Crd[] = allCustomResourceDefinitions()): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const want of wanted) {
    const name = (want.metadata as { name: string }).name;
    let have: Crd | undefined;
    try {
      have = await get<Crd>(cli, `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
    } catch (e) {
      if (statusCode(e) === 403) {
        out.push({ check: "CRDs", severity: "warn", message: `cannot read CRD ${name}: ${(e as Error).message}` });
        continue;
      }
      if (statusCode(e) !== 404) throw e;
    }
    const finding = crdFinding(want, have);
    if (finding) out.push(finding);
  }
  if (out.length === 0) {
    out.push({
      check: "CRDs",
      severity: "ok",
      message: `${wanted.length} CRDs installed, Established, same schema as this CLI`,
    });
  }
  return out;
}
