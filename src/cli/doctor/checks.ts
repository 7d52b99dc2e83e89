// What `kubectl gt doctor` checks, one function per claim, each returning findings that say what is
// wrong and how to fix it. Checks only read; a check that cannot look (no access) says so as a
// warning instead of passing silently.
import { execFile } from "node:child_process";
import { isDeepStrictEqual } from "node:util";
import type { Bead } from "../../api/bead.ts";
import { allCustomResourceDefinitions } from "../../api/crds.ts";
import { VERSION } from "../../api/meta.ts";
import type { Town } from "../../api/town.ts";
import { KubeApiError } from "../../controller/kube-http.ts";
import { BEADS, TOWNS } from "../../controller/resources.ts";
import type { Cli } from "../context.ts";
import { listAll } from "../objects.ts";

export type Severity = "ok" | "warn" | "fail";

export interface Finding {
  check: string;
  severity: Severity;
  message: string;
  fix?: string;
}

export const MIN_KUBECTL_MINOR = 26; // kubectl_complete-<plugin> (plugin completion) arrived in 1.26
export const MIN_SERVER_MINOR = 30; // admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy is GA in 1.30
export const ADMISSION_POLICY = "gastown-agentreport-owner";
export const LEADER_LEASE = "gastown-operator";
const DEFAULT_FORGE_HOSTS = ["api.github.com", "gitlab.com"];

const get = <T>(cli: Cli, path: string, query?: Record<string, string>) =>
  cli.http.json<T>({ method: "GET", path, ...(query ? { query } : {}), timeoutMs: 15_000 });

const status = (e: unknown) => (e instanceof KubeApiError ? e.statusCode : undefined);

function minorOf(version: { major?: string; minor?: string; gitVersion?: string }): number | undefined {
  const m = /^v?(\d+)\.(\d+)/.exec(version.gitVersion ?? "");
  const minor = m ? Number(m[2]) : Number.parseInt(version.minor ?? "", 10);
  return Number.isFinite(minor) ? minor : undefined;
}

export function kubectlClientVersion(kubectl = "kubectl"): Promise<{ gitVersion?: string; minor?: string } | string> {
  return new Promise((resolve) => {
    execFile(kubectl, ["version", "--client", "-o", "json"], { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) return resolve((stderr || err.message).trim());
      try {
        resolve(
          (JSON.parse(stdout) as { clientVersion?: { gitVersion?: string; minor?: string } }).clientVersion ?? {},
        );
      } catch {
        resolve(`unexpected output of kubectl version: ${stdout.slice(0, 200)}`);
      }
    });
  });
}

export async function checkVersions(cli: Cli): Promise<Finding[]> {
  const out: Finding[] = [];
  const client = await kubectlClientVersion(process.env.KUBECTL ?? "kubectl");
  let clientMinor: number | undefined;
  if (typeof client === "string") {
    out.push({
      check: "kubectl",
      severity: "warn",
      message: `cannot run kubectl: ${client}`,
      fix: "install kubectl (this plugin runs as `kubectl gt`)",
    });
  } else {
    clientMinor = minorOf(client);
    out.push(
      clientMinor !== undefined && clientMinor >= MIN_KUBECTL_MINOR
        ? { check: "kubectl", severity: "ok", message: `kubectl ${client.gitVersion} (>= 1.${MIN_KUBECTL_MINOR})` }
        : {
            check: "kubectl",
            severity: "fail",
            message: `kubectl ${client.gitVersion ?? "(unknown version)"} is older than 1.${MIN_KUBECTL_MINOR}: plugin completion (kubectl gt <TAB>) needs 1.${MIN_KUBECTL_MINOR}`,
            fix: `upgrade kubectl to 1.${MIN_KUBECTL_MINOR} or newer`,
          },
    );
  }
  try {
    const server = await get<{ gitVersion?: string; minor?: string }>(cli, "/version");
    const minor = minorOf(server);
    if (minor === undefined || minor < MIN_SERVER_MINOR) {
      out.push({
        check: "cluster",
        severity: "fail",
        message: `Kubernetes ${server.gitVersion} is older than 1.${MIN_SERVER_MINOR}: the AgentReport admission policy needs ValidatingAdmissionPolicy v1`,
        fix: `use a cluster of 1.${MIN_SERVER_MINOR} or newer`,
      });
    } else {
      out.push({
        check: "cluster",
        severity: "ok",
        message: `Kubernetes ${server.gitVersion} at ${cli.kubeConfig.getCurrentCluster()?.server}`,
      });
      if (clientMinor !== undefined && Math.abs(clientMinor - minor) > 1) {
        out.push({
          check: "kubectl",
          severity: "warn",
          message: `kubectl 1.${clientMinor} and the cluster 1.${minor} are more than one minor version apart (kubectl's supported skew)`,
          fix: `use kubectl 1.${minor - 1} to 1.${minor + 1}`,
        });
      }
    }
  } catch (e) {
    out.push({
      check: "cluster",
      severity: "fail",
      message: `cannot reach the cluster: ${(e as Error).message}`,
      fix: "check --context/--kubeconfig and that the cluster is up",
    });
  }
  return out;
}

/** Key order is not meaning: compare schemas as values. */
function schemaOf(crd: Record<string, unknown>): unknown {
  const versions = (crd.spec as { versions?: { name: string; schema?: unknown; served?: boolean }[] })?.versions ?? [];
  return versions.find((v) => v.name === VERSION)?.schema;
}

export async function checkCrds(cli: Cli): Promise<Finding[]> {
  const out: Finding[] = [];
  const fix = "kubectl apply --server-side -f crds/ (from the release of this CLI), or make deploy";
  for (const want of allCustomResourceDefinitions()) {
    const name = (want.metadata as { name: string }).name;
    let have: Record<string, unknown>;
    try {
      have = await get(cli, `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
    } catch (e) {
      if (status(e) === 404)
        out.push({ check: "CRDs", severity: "fail", message: `CRD ${name} is not installed`, fix });
      else if (status(e) === 403)
        out.push({ check: "CRDs", severity: "warn", message: `cannot read CRD ${name}: ${(e as Error).message}` });
      else throw e;
      continue;
    }
    const established = ((have.status as { conditions?: { type: string; status: string }[] })?.conditions ?? []).some(
      (c) => c.type === "Established" && c.status === "True",
    );
    const served = ((have.spec as { versions?: { name: string; served?: boolean }[] }).versions ?? []).some(
      (v) => v.name === VERSION && v.served,
    );
    if (!served) {
      out.push({
        check: "CRDs",
        severity: "fail",
        message: `CRD ${name} does not serve ${VERSION}, the version this CLI speaks`,
        fix,
      });
    } else if (!established) {
      out.push({
        check: "CRDs",
        severity: "fail",
        message: `CRD ${name} is not Established yet`,
        fix: `kubectl wait --for=condition=Established crd/${name}`,
      });
    } else if (!isDeepStrictEqual(schemaOf(have), schemaOf(want))) {
      out.push({
        check: "CRDs",
        severity: "fail",
        message: `CRD ${name} has a different schema than this CLI was built with: the operator and the CLI are from different releases`,
        fix,
      });
    }
  }
  if (!out.some((f) => f.severity !== "ok")) {
    out.push({
      check: "CRDs",
      severity: "ok",
      message: `${allCustomResourceDefinitions().length} CRDs installed, Established, same schema as this CLI`,
    });
  }
  return out;
}

interface LeaseObject {
  metadata: { name: string; namespace: string };
  spec?: { holderIdentity?: string; renewTime?: string; leaseDurationSeconds?: number };
}

interface DeploymentObject {
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
    if (status(e) === 403 || status(e) === 404) return undefined;
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
      if (status(e) === 403)
        out.push({
          check: "operator",
          severity: "warn",
          message: `cannot read Lease ${ns}/${LEADER_LEASE} (no access)`,
        });
      else if (status(e) !== 404) throw e;
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

export async function checkAdmission(cli: Cli): Promise<Finding[]> {
  const base = "/apis/admissionregistration.k8s.io/v1";
  const fix = "kubectl apply -f manifests/base/admission-policy.yaml (or make deploy)";
  try {
    await get(cli, `${base}/validatingadmissionpolicies/${ADMISSION_POLICY}`);
  } catch (e) {
    if (status(e) === 404) {
      return [
        {
          check: "admission",
          severity: "fail",
          message: `ValidatingAdmissionPolicy ${ADMISSION_POLICY} is missing: any agent could report as any other`,
          fix,
        },
      ];
    }
    if (status(e) === 403)
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

/** Every Secret (and key) a town names: rig git credentials, forge tokens, agent env. */
export function secretReferences(t: Town): { secret: string; key?: string; where: string }[] {
  const refs: { secret: string; key?: string; where: string }[] = [];
  for (const r of t.spec.rigs) {
    if (r.gitCredentialsSecret)
      refs.push({ secret: r.gitCredentialsSecret, where: `spec.rigs[${r.name}].gitCredentialsSecret` });
    if (r.forge?.tokenSecret)
      refs.push({ secret: r.forge.tokenSecret, key: "token", where: `spec.rigs[${r.name}].forge.tokenSecret` });
  }
  (t.spec.agents?.envFrom ?? []).forEach((e, i) => {
    if (e.secretRef) refs.push({ secret: e.secretRef.name, where: `spec.agents.envFrom[${i}].secretRef` });
  });
  for (const e of t.spec.agents?.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    if (ref) refs.push({ secret: ref.name, key: ref.key, where: `spec.agents.env[${e.name}].valueFrom.secretKeyRef` });
  }
  return refs;
}

export async function checkSecrets(cli: Cli, towns: Town[]): Promise<Finding[]> {
  const out: Finding[] = [];
  let count = 0;
  for (const t of towns) {
    for (const ref of secretReferences(t)) {
      count++;
      const what = `town ${t.metadata.name} ${ref.where}`;
      try {
        const s = await get<{ data?: Record<string, string> }>(
          cli,
          `/api/v1/namespaces/${cli.namespace}/secrets/${ref.secret}`,
        );
        if (ref.key && !(ref.key in (s.data ?? {}))) {
          out.push({
            check: "secrets",
            severity: "fail",
            message: `${what}: Secret ${ref.secret} has no key "${ref.key}"`,
            fix: `kubectl create secret generic ${ref.secret} -n ${cli.namespace} --from-literal=${ref.key}=... (or add the key)`,
          });
        }
      } catch (e) {
        if (status(e) === 404) {
          out.push({
            check: "secrets",
            severity: "fail",
            message: `${what}: Secret ${ref.secret} does not exist in ${cli.namespace}`,
            fix: `kubectl create secret generic ${ref.secret} -n ${cli.namespace} ${ref.key ? `--from-literal=${ref.key}=...` : "--from-file=..."}`,
          });
        } else if (status(e) === 403) {
          out.push({
            check: "secrets",
            severity: "warn",
            message: `${what}: cannot read Secret ${ref.secret} to check it (no access)`,
          });
        } else throw e;
      }
    }
  }
  if (out.length === 0) {
    out.push({
      check: "secrets",
      severity: "ok",
      message: count === 0 ? "no town references a Secret" : `all ${count} Secret references of the towns resolve`,
    });
  }
  return out;
}

function forgeHostsOf(deployment: DeploymentObject): string[] {
  const container =
    deployment.spec?.template?.spec?.containers?.find((c) => c.name === "operator") ??
    deployment.spec?.template?.spec?.containers?.[0];
  const args = container?.args ?? [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith("--forge-allowed-hosts="))
      return a
        .slice("--forge-allowed-hosts=".length)
        .split(",")
        .map((h) => h.trim())
        .filter(Boolean);
    if (a === "--forge-allowed-hosts")
      return (args[i + 1] ?? "")
        .split(",")
        .map((h) => h.trim())
        .filter(Boolean);
  }
  return DEFAULT_FORGE_HOSTS;
}

export async function checkForges(
  cli: Cli,
  towns: Town[],
  deployments: DeploymentObject[] | undefined,
): Promise<Finding[]> {
  const out: Finding[] = [];
  const forges = towns.flatMap((t) =>
    t.spec.rigs
      .filter((r) => r.mergeStrategy === "PullRequest" && r.forge)
      .map((r) => ({ town: t.metadata.name, rig: r.name, url: r.forge!.apiURL })),
  );
  if (forges.length === 0)
    return [{ check: "forges", severity: "ok", message: "no PullRequest rig: no forge to poll" }];
  const allowed = (deployments ?? []).length > 0 ? [...new Set((deployments ?? []).flatMap(forgeHostsOf))] : undefined;
  for (const f of forges) {
    let host: string;
    let hostname: string;
    try {
      ({ host, hostname } = new URL(f.url));
    } catch {
      out.push({
        check: "forges",
        severity: "fail",
        message: `town ${f.town} rig ${f.rig}: forge.apiURL ${f.url} is not a URL`,
      });
      continue;
    }
    if (allowed && !allowed.includes(host) && !allowed.includes(hostname)) {
      out.push({
        check: "forges",
        severity: "fail",
        message: `town ${f.town} rig ${f.rig}: forge host ${host} is not in the operator's --forge-allowed-hosts (${allowed.join(", ")}): its pull requests are never polled`,
        fix: `add ${host} to --forge-allowed-hosts in the operator's Deployment args`,
      });
    }
  }
  // What the operator itself said: a poll refused for the allow-list lands on the bead.
  const beads = await listAll<Bead>(cli, BEADS);
  for (const b of beads) {
    const err = b.status?.pullRequest?.lastError ?? "";
    if (/allow-list/.test(err) && b.status?.phase !== "Closed" && b.status?.phase !== "Failed") {
      out.push({
        check: "forges",
        severity: "fail",
        message: `bead ${b.metadata.name}: ${err}`,
        fix: "add the host to the operator's --forge-allowed-hosts",
      });
    }
  }
  if (out.length === 0) {
    out.push({
      check: "forges",
      severity: allowed ? "ok" : "warn",
      message: allowed
        ? `every forge host of the PullRequest rigs is allowed (${allowed.join(", ")})`
        : "the operator's --forge-allowed-hosts are not visible (no gastown-operator Deployment found); no poll has been refused so far",
    });
  }
  return out;
}

export async function townsIn(cli: Cli): Promise<Town[]> {
  try {
    return await listAll<Town>(cli, TOWNS);
  } catch {
    return []; // the CRD check already says why
  }
}
