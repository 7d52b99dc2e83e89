// `kubectl gt doctor`: runs every check and prints one line per finding, problems first with the fix.
// Exit 0 when nothing failed (warnings allowed), 1 otherwise.
import type { Cli } from "../context.ts";
import { CliError, EXIT } from "../errors.ts";
import { plain, terminalPaint } from "../format.ts";
import { printDocument } from "../output.ts";
import { checkAdmission } from "./admission.ts";
import { checkCrds } from "./crds.ts";
import type { Finding } from "./findings.ts";
import { checkOperator, operatorDeployments } from "./operator.ts";
import { checkSecrets } from "./secrets.ts";
import { checkForges, townsIn } from "./towns.ts";
import { checkVersions } from "./versions.ts";

export async function runChecks(cli: Cli): Promise<Finding[]> {
  const versions = await checkVersions(cli);
  if (versions.some((f) => f.check === "cluster" && f.severity === "fail" && f.message.startsWith("cannot reach")))
    return versions;
  const [crds, towns, deployments] = await Promise.all([checkCrds(cli), townsIn(cli), operatorDeployments(cli)]);
  const [operator, admission, secrets, forges] = await Promise.all([
    checkOperator(cli, towns, deployments),
    checkAdmission(cli),
    checkSecrets(cli, towns),
    checkForges(cli, towns, deployments),
  ]);
  return [...versions, ...crds, ...operator, ...admission, ...secrets, ...forges];
}

const MARK = { ok: "✔", warn: "!", fail: "✘" } as const;

export async function doctor(cli: Cli, o: { output?: "json" | "yaml" }): Promise<void> {
  const findings = await runChecks(cli);
  const failed = findings.filter((f) => f.severity === "fail").length;
  if (o.output) {
    printDocument(
      cli.io,
      { apiVersion: "cli.gastown.dev/v1alpha1", kind: "DoctorReport", namespace: cli.namespace, findings },
      o.output,
    );
  } else {
    const paint = cli.io.isTTY ? terminalPaint : plain;
    const width = Math.max(...findings.map((f) => f.check.length));
    for (const f of findings) {
      const mark =
        f.severity === "ok"
          ? paint("green", MARK.ok)
          : f.severity === "warn"
            ? paint("yellow", MARK.warn)
            : paint("red", MARK.fail);
      cli.io.out(`${mark} ${f.check.padEnd(width)}  ${f.message}\n`);
      if (f.fix && f.severity !== "ok") cli.io.out(`  ${" ".repeat(width)}  fix: ${f.fix}\n`);
    }
  }
  if (failed > 0) {
    throw new CliError(`${failed} problem${failed > 1 ? "s" : ""} found`, { exitCode: EXIT.failed });
  }
}
