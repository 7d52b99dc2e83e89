// What the towns reference: Secrets (rig git credentials, forge tokens, agent env) and forge hosts,
// which the operator polls only when its --forge-allowed-hosts lists them.
import type { Bead } from "../../api/bead.ts";
import type { Town } from "../../api/town.ts";
import { BEADS, TOWNS } from "../../controller/resources.ts";
import type { Cli } from "../context.ts";
import { listAll } from "../objects.ts";
import { type Finding, get, statusCode } from "./findings.ts";
import type { DeploymentObject } from "./operator.ts";

const DEFAULT_FORGE_HOSTS = ["api.github.com", "gitlab.com"];

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
        if (statusCode(e) === 404) {
          out.push({
            check: "secrets",
            severity: "fail",
            message: `${what}: Secret ${ref.secret} does not exist in ${cli.namespace}`,
            fix: `kubectl create secret generic ${ref.secret} -n ${cli.namespace} ${ref.key ? `--from-literal=${ref.key}=...` : "--from-file=..."}`,
          });
        } else if (statusCode(e) === 403) {
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
