// The ValidatingAdmissionPolicy that keeps an agent from reporting as another: present, bound, and
// bound with Deny.
import type { Cli } from "../context.ts";
import { type Finding, get, statusCode } from "./findings.ts";

export const ADMISSION_POLICY = "gastown-agentreport-owner";

export async function checkAdmission(cli: Cli): Promise<Finding[]> {
  const base = "/apis/admissionregistration.k8s.io/v1";
  const fix = "kubectl apply -f manifests/base/admission-policy.yaml (or make deploy)";
  try {
    await get(cli, `${base}/validatingadmissionpolicies/${ADMISSION_POLICY}`);
  } catch (e) {
    if (statusCode(e) === 404) {
      return [
        {
          check: "admission",
          severity: "fail",
          message: `ValidatingAdmissionPolicy ${ADMISSION_POLICY} is missing: any agent could report as any other`,
          fix,
        },
      ];
    }
    if (statusCode(e) === 403)
      return [{ check: "admission", severity: "warn", message: "cannot read ValidatingAdmissionPolicies (no access)" }];
    throw e;
  }
  const bindings =
    (
      await get<{
        items?: { metadata: { name: string }; spec?: { policyName?: string; validationActions?: string[] } }[];
      }>(cli, `${base}/validatingadmissionpolicybindings`)
    ).items ?? [];
  const bound = bindings.filter((b) => b.spec?.policyName === ADMISSION_POLICY);
  if (bound.length === 0) {
    return [
      {
        check: "admission",
        severity: "fail",
        message: `ValidatingAdmissionPolicy ${ADMISSION_POLICY} is not bound: it enforces nothing`,
        fix,
      },
    ];
  }
  if (!bound.some((b) => b.spec?.validationActions?.includes("Deny"))) {
    return [
      {
        check: "admission",
        severity: "fail",
        message: `the bindings of ${ADMISSION_POLICY} (${bound.map((b) => b.metadata.name).join(", ")}) do not Deny: a forged report is only warned about or audited`,
        fix,
      },
    ];
  }
  return [
    {
      check: "admission",
      severity: "ok",
      message: `policy ${ADMISSION_POLICY} bound with Deny (${bound.map((b) => b.metadata.name).join(", ")})`,
    },
  ];
}
