// The kubectl and cluster versions this plugin needs. What the versions mean is decided by pure
// functions (unit-tested at every boundary); the checks only fetch them.
import { execFile } from "node:child_process";
import type { Cli } from "../context.ts";
import { type Finding, get } from "./findings.ts";

export const MIN_KUBECTL_MINOR = 26; // kubectl_complete-<plugin> (plugin completion) arrived in 1.26
export const MIN_SERVER_MINOR = 30; // admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy is GA in 1.30

export interface Version {
  major?: string;
  minor?: string;
  gitVersion?: string;
}

export function minorOf(version: Version): number | undefined {
  const m = /^v?(\d+)\.(\d+)/.exec(version.gitVersion ?? "");
  const minor = m ? Number(m[2]) : Number.parseInt(version.minor ?? "", 10);
  return Number.isFinite(minor) ? minor : undefined;
}

export function kubectlClientVersion(kubectl = "kubectl"): Promise<Version | string> {
  return new Promise((resolve) => {
    execFile(kubectl, ["version", "--client", "-o", "json"], { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) return resolve((stderr || err.message).trim());
      try {
        resolve((JSON.parse(stdout) as { clientVersion?: Version }).clientVersion ?? {});
      } catch {
        resolve(`unexpected output of kubectl version: ${stdout.slice(0, 200)}`);
      }
    });
  });
}

/** kubectl's own version: a string is why it could not be run. */
export function kubectlFinding(client: Version | string): Finding {
  if (typeof client === "string") {
    return {
      check: "kubectl",
      severity: "warn",
      message: `cannot run kubectl: ${client}`,
      fix: "install kubectl (this plugin runs as `kubectl gt`)",
    };
  }
  const minor = minorOf(client);
  return minor !== undefined && minor >= MIN_KUBECTL_MINOR
    ? { check: "kubectl", severity: "ok", message: `kubectl ${client.gitVersion} (>= 1.${MIN_KUBECTL_MINOR})` }
    : {
        check: "kubectl",
        severity: "fail",
        message: `kubectl ${client.gitVersion ?? "(unknown version)"} is older than 1.${MIN_KUBECTL_MINOR}: plugin completion (kubectl gt <TAB>) needs 1.${MIN_KUBECTL_MINOR}`,
        fix: `upgrade kubectl to 1.${MIN_KUBECTL_MINOR} or newer`,
      };
}

/** The cluster's version, and how far kubectl is from it (kubectl supports one minor either way). */
export function clusterFindings(server: Version, at: string, clientMinor: number | undefined): Finding[] {
  const minor = minorOf(server);
  if (minor === undefined || minor < MIN_SERVER_MINOR) {
    return [
      {
        check: "cluster",
        severity: "fail",
        message: `Kubernetes ${server.gitVersion ?? "(unknown version)"} is older than 1.${MIN_SERVER_MINOR}: the AgentReport admission policy needs ValidatingAdmissionPolicy v1`,
        fix: `use a cluster of 1.${MIN_SERVER_MINOR} or newer`,
      },
    ];
  }
  const out: Finding[] = [{ check: "cluster", severity: "ok", message: `Kubernetes ${server.gitVersion} at ${at}` }];
  if (clientMinor !== undefined && Math.abs(clientMinor - minor) > 1) {
    out.push({
      check: "kubectl",
      severity: "warn",
      message: `kubectl 1.${clientMinor} and the cluster 1.${minor} are more than one minor version apart (kubectl's supported skew)`,
      fix: `use kubectl 1.${minor - 1} to 1.${minor + 1}`,
    });
  }
  return out;
}

export async function checkVersions(cli: Cli): Promise<Finding[]> {
  const client = await kubectlClientVersion(process.env.KUBECTL ?? "kubectl");
  const out = [kubectlFinding(client)];
  try {
    const server = await get<Version>(cli, "/version");
    const at = cli.kubeConfig.getCurrentCluster()?.server ?? "";
    out.push(...clusterFindings(server, at, typeof client === "string" ? undefined : minorOf(client)));
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
