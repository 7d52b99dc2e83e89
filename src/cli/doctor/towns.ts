// The forge hosts the towns' PullRequest rigs name, which the operator polls only when its
// --forge-allowed-hosts lists them (the Secrets they name: secrets.ts).
import type { Bead } from "../../api/bead.ts";
import type { Town } from "../../api/town.ts";
import { BEADS, TOWNS } from "../../controller/resources.ts";
import type { Cli } from "../context.ts";
import { listAll } from "../objects.ts";
import type { Finding } from "./findings.ts";
import type { DeploymentObject } from "./operator.ts";

const DEFAULT_FORGE_HOSTS = ["api.github.com", "gitlab.com"];

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
