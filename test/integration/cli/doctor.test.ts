// `kubectl gt doctor` finds each broken thing it claims to find: every check is shown passing on a
// healthy setup, then failing, with its fix, once that one thing is broken on the real cluster.
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { applyCrds } from "../../../hack/local-cluster.ts";
import { allCustomResourceDefinitions } from "../../../src/api/crds.ts";
import { API_VERSION } from "../../../src/api/meta.ts";
import { connect } from "../../../src/cli/context.ts";
import { checkCrds } from "../../../src/cli/doctor/crds.ts";
import type { Finding } from "../../../src/cli/doctor/findings.ts";
import { type DemoTown, kubectlGt, startDemoTown } from "../../support/cli.ts";
import { kubeconfigPath, runKubectl } from "../../support/kube.ts";

let t: DemoTown;
const ROOT = join(import.meta.dirname, "..", "..", "..");
const POLICY = join(ROOT, "manifests", "base", "admission-policy.yaml");

async function doctor(env?: NodeJS.ProcessEnv): Promise<{ code: number; findings: Finding[]; text: string }> {
  const json = await kubectlGt(["-n", t.namespace, "doctor", "-o", "json"], env ? { env } : {});
  const findings = (JSON.parse(json.stdout) as { findings: Finding[] }).findings;
  return { code: json.code, findings, text: json.stdout };
}

const failures = (f: Finding[], check: string) => f.filter((x) => x.check === check && x.severity === "fail");

beforeAll(async () => {
  t = await startDemoTown("cli-doctor");
}, 240_000);

afterAll(async () => {
  await t?.stopOperator();
});

describe("kubectl gt doctor", () => {
  it("passes a healthy setup, and prints one line per check", async () => {
    const { code, findings } = await doctor();
    expect(findings.filter((f) => f.severity === "fail")).toEqual([]);
    expect(code).toBe(0);
    expect(new Set(findings.map((f) => f.check))).toEqual(
      new Set(["kubectl", "cluster", "CRDs", "operator", "admission", "secrets", "forges"]),
    );
    const text = await kubectlGt(["-n", t.namespace, "doctor"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^✔ CRDs +5 CRDs installed, Established, same schema as this CLI$/m);
    expect(text.stdout).toMatch(/^✔ admission +policy gastown-agentreport-owner bound with Deny/m);
  });

  it("finds Secrets a town names that are missing or lack the key, and forge hosts the operator does not allow", async () => {
    await runKubectl(["create", "secret", "generic", "tokens", "-n", t.namespace, "--from-literal=other=x"]);
    const town = {
      apiVersion: API_VERSION,
      kind: "Town",
      metadata: { name: "pr-town", namespace: t.namespace },
      spec: {
        rigs: [
          {
            name: "web",
            repo: "https://git.internal.example/web.git",
            mergeStrategy: "PullRequest",
            forge: { provider: "GitHub", apiURL: "https://git.internal.example/api/v3", tokenSecret: "forge-token" },
          },
        ],
        agents: {
          envFrom: [{ secretRef: { name: "model-keys" } }],
          env: [{ name: "API_KEY", valueFrom: { secretKeyRef: { name: "tokens", key: "api" } } }],
        },
      },
    };
    // The operator as a cluster runs it: a Deployment with its allow-list (no pod ever runs here).
    const deployment = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: {
        name: "gastown-operator",
        namespace: t.namespace,
        labels: { "app.kubernetes.io/name": "gastown-operator" },
      },
      spec: {
        selector: { matchLabels: { app: "op" } },
        template: {
          metadata: { labels: { app: "op" } },
          spec: {
            containers: [
              {
                name: "operator",
                image: "gastown-operator:dev",
                args: ["--leader-elect", "--forge-allowed-hosts=api.github.com"],
              },
            ],
          },
        },
      },
    };
    await runKubectl(
      ["apply", "-f", "-"],
      JSON.stringify({ apiVersion: "v1", kind: "List", items: [town, deployment] }),
    );
    try {
      const { code, findings } = await doctor();
      expect(code).toBe(1);
      expect(
        failures(findings, "secrets")
          .map((f) => f.message)
          .sort(),
      ).toEqual([
        `town pr-town spec.agents.envFrom[0].secretRef: Secret model-keys does not exist in ${t.namespace}: no agent session can start`,
        'town pr-town spec.agents.env[API_KEY].valueFrom.secretKeyRef: Secret tokens has no key "api": no agent session can start',
        `town pr-town spec.rigs[web].forge.tokenSecret: Secret forge-token does not exist in ${t.namespace}: the pull requests of rig web are not polled`,
      ]);
      expect(
        failures(findings, "secrets")
          .map((f) => f.fix)
          .sort(),
      ).toEqual([
        `kubectl create secret generic forge-token -n ${t.namespace} --from-literal=token=<a forge API token>`,
        `kubectl create secret generic model-keys -n ${t.namespace} --from-literal=ANTHROPIC_API_KEY=<your key>`,
        `kubectl patch secret tokens -n ${t.namespace} --type=merge -p '{"stringData":{"api":"<value>"}}'`,
      ]);
      expect(failures(findings, "forges")).toEqual([
        {
          check: "forges",
          severity: "fail",
          message:
            "town pr-town rig web: forge host git.internal.example is not in the operator's --forge-allowed-hosts (api.github.com): its pull requests are never polled",
          fix: "add git.internal.example to --forge-allowed-hosts in the operator's Deployment args",
        },
      ]);
      expect(failures(findings, "operator").map((f) => f.message)).toContain(
        `Deployment ${t.namespace}/gastown-operator has no available replica`,
      );
    } finally {
      await runKubectl([
        "delete",
        "-n",
        t.namespace,
        "town/pr-town",
        "deployment/gastown-operator",
        "secret/tokens",
        "--wait=false",
      ]);
    }
  });

  it("finds the Secrets examples/town.yaml names; its fixes, run as printed, make the check pass", async () => {
    const example = parse(readFileSync(join(ROOT, "examples", "town.yaml"), "utf8")) as {
      metadata: { name: string };
    };
    example.metadata.name = "example";
    await runKubectl(["apply", "-n", t.namespace, "-f", "-"], JSON.stringify(example));
    try {
      const before = failures((await doctor()).findings, "secrets");
      expect(before.map((f) => f.message)).toEqual([
        `town example spec.rigs[app].gitCredentialsSecret: Secret app-git-credentials does not exist in ${t.namespace}: sessions of rig app cannot clone or push`,
        `town example spec.agents.envFrom[0].secretRef: Secret model-api-keys does not exist in ${t.namespace}: no agent session can start`,
      ]);
      // What a person does: paste each fix with its placeholders filled in.
      for (const f of before) {
        const argv = (f.fix ?? "").replace(/<[^>]+>/g, "filled-in").split(" ");
        expect(argv[0]).toBe("kubectl");
        await runKubectl(argv.slice(1));
      }
      const after = (await doctor()).findings.filter((f) => f.check === "secrets");
      expect(after).toEqual([
        { check: "secrets", severity: "ok", message: "all 2 Secret references of the towns resolve" },
      ]);
    } finally {
      await runKubectl([
        "delete",
        "-n",
        t.namespace,
        "town/example",
        "secret/app-git-credentials",
        "secret/model-api-keys",
        "--ignore-not-found",
        "--wait=false",
      ]);
    }
  });

  it("finds a CRD whose schema is not the one this CLI was built with", async () => {
    await runKubectl([
      "patch",
      "crd",
      "beads.gastown.dev",
      "--type=json",
      '-p=[{"op":"replace","path":"/spec/versions/0/schema/openAPIV3Schema/description","value":"an older Bead"}]',
    ]);
    try {
      const { code, findings } = await doctor();
      expect(code).toBe(1);
      expect(failures(findings, "CRDs")).toEqual([
        {
          check: "CRDs",
          severity: "fail",
          message:
            "CRD beads.gastown.dev has a different schema than this CLI was built with: the operator and the CLI are from different releases",
          fix: "kubectl apply --server-side -f crds/ (from the release of this CLI), or make deploy",
        },
      ]);
    } finally {
      await applyCrds(kubeconfigPath());
    }
  });

  it("finds a CRD that is not installed, and one that does not serve the version this CLI speaks", async () => {
    // The real Gas Town CRDs cannot be taken away from a shared cluster, so the check is run for
    // CRDs of test groups: one nobody installed, one installed serving only v1.
    const bead = allCustomResourceDefinitions().find(
      (c) => (c.metadata as { name: string }).name === "beads.gastown.dev",
    )!;
    const named = (name: string) => ({ ...structuredClone(bead), metadata: { name } });
    const widgets = {
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "CustomResourceDefinition",
      metadata: { name: "widgets.doctor.gastown.test" },
      spec: {
        group: "doctor.gastown.test",
        scope: "Namespaced",
        names: { plural: "widgets", singular: "widget", kind: "Widget" },
        versions: [{ name: "v1", served: true, storage: true, schema: { openAPIV3Schema: { type: "object" } } }],
      },
    };
    await runKubectl(["apply", "-f", "-"], JSON.stringify(widgets));
    try {
      const io = { out: () => {}, err: () => {}, isTTY: false, columns: 100 };
      const cli = await connect({ kubeconfig: kubeconfigPath(), namespace: t.namespace }, io);
      const findings = await checkCrds(cli, [
        named("beads.missing.gastown.test"),
        named("widgets.doctor.gastown.test"),
      ]);
      expect(findings).toEqual([
        {
          check: "CRDs",
          severity: "fail",
          message: "CRD beads.missing.gastown.test is not installed",
          fix: "kubectl apply --server-side -f crds/ (from the release of this CLI), or make deploy",
        },
        {
          check: "CRDs",
          severity: "fail",
          message: "CRD widgets.doctor.gastown.test does not serve v1alpha1, the version this CLI speaks",
          fix: "kubectl apply --server-side -f crds/ (from the release of this CLI), or make deploy",
        },
      ]);
    } finally {
      await runKubectl(["delete", "crd", "widgets.doctor.gastown.test", "--wait=false"]);
    }
  });

  it("finds an admission policy that is not bound, or bound without Deny", async () => {
    try {
      await runKubectl(["delete", "validatingadmissionpolicybinding", "gastown-agentreport-owner"]);
      expect(failures((await doctor()).findings, "admission").map((f) => f.message)).toEqual([
        "ValidatingAdmissionPolicy gastown-agentreport-owner is not bound: it enforces nothing",
      ]);
      await runKubectl(["apply", "-f", POLICY]);
      await runKubectl([
        "patch",
        "validatingadmissionpolicybinding",
        "gastown-agentreport-owner",
        "--type=merge",
        '-p={"spec":{"validationActions":["Audit"]}}',
      ]);
      const audit = failures((await doctor()).findings, "admission");
      expect(audit.map((f) => f.message)).toEqual([
        "the bindings of gastown-agentreport-owner (gastown-agentreport-owner) do not Deny: a forged report is only warned about or audited",
      ]);
      expect(audit[0]?.fix).toBe("kubectl apply -f manifests/base/admission-policy.yaml (or make deploy)");
    } finally {
      await runKubectl(["apply", "--server-side", "--force-conflicts", "--field-manager=gastown-test", "-f", POLICY]);
    }
  });

  it("finds a kubectl too old for plugin completion", async () => {
    const dir = mkdtempSync(join(tmpdir(), "old-kubectl-"));
    const fake = join(dir, "kubectl");
    writeFileSync(fake, `#!/bin/sh\necho '{"clientVersion":{"major":"1","minor":"24","gitVersion":"v1.24.17"}}'\n`);
    chmodSync(fake, 0o755);
    const { findings } = await doctor({ KUBECTL: fake });
    expect(failures(findings, "kubectl")).toEqual([
      {
        check: "kubectl",
        severity: "fail",
        message: "kubectl v1.24.17 is older than 1.26: plugin completion (kubectl gt <TAB>) needs 1.26",
        fix: "upgrade kubectl to 1.26 or newer",
      },
    ]);
  });

  it("finds a town no operator reconciles, and a leader Lease nobody renews", async () => {
    await t.stopOperator();
    await kubectlGt(["-n", t.namespace, "suspend", "demo"]);
    const stale = new Date(Date.now() - 10 * 60_000).toISOString().replace(/Z$/, "000Z"); // a MicroTime
    await runKubectl(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: "gastown-operator", namespace: t.namespace },
        spec: {
          holderIdentity: "gastown-operator-7d9f-abcde",
          leaseDurationSeconds: 15,
          renewTime: stale,
          acquireTime: stale,
        },
      }),
    );
    const { code, findings } = await doctor();
    expect(code).toBe(1);
    const operator = failures(findings, "operator").map((f) => f.message);
    expect(operator).toHaveLength(2);
    expect(operator[0]).toMatch(
      new RegExp(
        `^leader Lease ${t.namespace}/gastown-operator is held by gastown-operator-7d9f-abcde but was last renewed 6\\d\\ds ago \\(lease 15s\\): the leader is gone and no replica took over$`,
      ),
    );
    expect(operator[1]).toBe(
      `town demo: generation 2 of its spec is not observed (status.observedGeneration 1): no operator is reconciling namespace ${t.namespace}`,
    );
  });
});
