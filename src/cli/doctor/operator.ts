// The operator: its Deployment's replicas, its leader Lease, and — whoever runs it — whether the
// towns' latest specs are observed.
import type { Town } from "../../api/town.ts";
import type { Cli } from "../context.ts";
import { type Finding, get, statusCode } from "./findings.ts";

export const LEADER_LEASE = "gastown-operator";

interface LeaseObject {
  metadata: { name: string; namespace: string };
  spec?: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number };
}

export interface DeploymentObject {
  metadata: { name: string; namespace: string };
  spec?: { replicas?: number; template?: { spec?: { containers?: { name: string; args?: string[] }[] } } };
  status?: { availableReplicas?: number; readyReplicas?: number };
}

export async function operatorDeployments(cli: Cli): Promise<DeploymentObject[] | undefined> {
  try {
    const list = await get<{ items?: DeploymentObject[] }>(cli, "/apis/apps/v1/deployments", {
      labelSelector: "app.kubernetes.io/name=gastown-operator",
    });
    return list.items ?? [];
  } catch (e) {
    if (statusCode(e) === 403 || statusCode(e) === 404) return undefined;
    throw e;
  }
}

/** The operator is running and one replica leads; without leader election, the towns tell. */
export async function checkOperator(
  cli: Cli,
  towns: Town[],
  deployments: DeploymentObject[] | undefined,
): Promise<Finding[]> {
  const out: Finding[] = [];
  const now = cli.now();
  for (const d of deployments ?? []) {
    const available = d.status?.availableReplicas ?? 0;
    out.push(
      available > 0
        ? {
            check: "operator",
            severity: "ok",
            message: `Deployment ${d.metadata.namespace}/${d.metadata.name}: ${available}/${d.spec?.replicas ?? 1} available`,
          }
        : {
            check: "operator",
            severity: "fail",
            message: `Deployment ${d.metadata.namespace}/${d.metadata.name} has no available replica`,
            fix: `kubectl describe deployment -n ${d.metadata.namespace} ${d.metadata.name}; kubectl logs -n ${d.metadata.namespace} deploy/${d.metadata.name}`,
          },
    );
  }
  // The leader Lease lives in the operator's namespace: a Deployment's, or (a local operator run
  // with --leader-elect --namespace) the towns' own.
  const leases: LeaseObject[] = [];
  for (const ns of new Set([...(deployments ?? []).map((d) => d.metadata.namespace), cli.namespace])) {
    try {
      leases.push(await get<LeaseObject>(cli, `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${LEADER_LEASE}`));
    } catch (e) {
      if (statusCode(e) === 403)
        out.push({
          check: "operator",
          severity: "warn",
          message: `cannot read Lease ${ns}/${LEADER_LEASE} (no access)`,
        });
      else if (statusCode(e) !== 404) throw e;
    }
  }
  for (const l of leases) {
    const renewed = Date.parse(l.spec?.renewTime ?? "");
    const holder = l.spec?.holderIdentity ?? "";
    const durationMs = (l.spec?.leaseDurationSeconds ?? 15) * 1000;
    const where = `${l.metadata.namespace}/${l.metadata.name}`;
    if (!holder) {
      out.push({
        check: "operator",
        severity: "fail",
        message: `leader Lease ${where} is free: no replica is leading`,
        fix: "start the operator (make deploy, or make run)",
      });
    } else if (!Number.isFinite(renewed) || now - renewed > durationMs + 5000) {
      const ago = Number.isFinite(renewed) ? `${Math.round((now - renewed) / 1000)}s ago` : "never";
      out.push({
        check: "operator",
        severity: "fail",
        message: `leader Lease ${where} is held by ${holder} but was last renewed ${ago} (lease ${durationMs / 1000}s): the leader is gone and no replica took over`,
        fix: "check the operator pods (kubectl get pods -n <operator namespace>) and their logs",
      });
    } else {
      out.push({
        check: "operator",
        severity: "ok",
        message: `${holder} leads (Lease ${where}, renewed ${Math.round((now - renewed) / 1000)}s ago)`,
      });
    }
  }
  // Whoever runs the operator, a town whose latest spec is not observed is not being reconciled.
  for (const t of towns) {
    const generation = t.metadata.generation ?? 0;
    const observed = t.status?.observedGeneration;
    if (observed === undefined || observed < generation) {
      out.push({
        check: "operator",
        severity: "fail",
        message: `town ${t.metadata.name}: generation ${generation} of its spec is not observed (status.observedGeneration ${observed ?? "unset"}): no operator is reconciling namespace ${cli.namespace}`,
        fix: "start the operator for this namespace (make run, or make deploy) and check its logs",
      });
    }
  }
  if (out.length === 0) {
    out.push(
      towns.length > 0
        ? {
            check: "operator",
            severity: "ok",
            message: `an operator (without leader election) has reconciled every town in ${cli.namespace}`,
          }
        : {
            check: "operator",
            severity: "warn",
            message: `no operator found: no leader Lease, no Deployment, and no town in ${cli.namespace} to tell by`,
          },
    );
  }
  return out;
}
