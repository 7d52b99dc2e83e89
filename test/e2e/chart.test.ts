// The Helm chart on the real local control plane, with the helm built from hack/tools:
// - helm lint is clean and helm template passes a server-side dry run, in both scopes;
// - the chart's RBAC and admission policies are those of manifests/base (one truth, two formats);
// - installed in Cluster scope and in Namespace scope, the operator — run here as a process with
//   the Deployment's own args and a token of the chart's ServiceAccount, since kwok pods never
//   execute — lands the example convoy with the pod runtime (the test crew plays the agents),
//   which proves the chart's RBAC and the operator fences are enough;
// - the fences refuse what the broad verbs would otherwise allow (a pod with a foreign
//   ServiceAccount, a RoleBinding to a Role the operator did not generate, a kube-system Lease),
//   and in Namespace scope the operator cannot touch any other namespace;
// - helm uninstall leaves none of the release's objects behind (CRDs stay, as Helm does for crds/).
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KubernetesObject, V1Deployment } from "@kubernetes/client-node";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { Convoy } from "../../src/api/convoy.ts";
import { createKubeHttp, type KubeHttp } from "../../src/controller/kube-http.ts";
import { Crew } from "../support/crew.ts";
import { adminHttp, create, freePort, refused, townManifest } from "../support/gastown.ts";
import {
  createNamespace,
  kubeConfig,
  kubeconfigPath,
  parseYamlDocuments,
  retryUntil,
  runKubectl,
  waitFor,
} from "../support/kube.ts";
import { httpsGet, serviceAccountKubeconfig } from "../support/service-account.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const CHART = join(ROOT, "charts", "gastown-operator");
const HELM = join(ROOT, "hack", "bin", "helm");
const API = "gastown.dev/v1alpha1";
const admin = adminHttp();

function helm(args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      HELM,
      [`--kubeconfig=${kubeconfigPath()}`, ...args],
      {
        timeout: 180_000,
        maxBuffer: 32 << 20,
        env: { ...process.env, HELM_CACHE_HOME: helmHome, HELM_CONFIG_HOME: helmHome, HELM_DATA_HOME: helmHome },
      },
      (err, stdout, stderr) =>
        err ? reject(new Error(`helm ${args.join(" ")}: ${stderr || err.message}`)) : resolve(stdout),
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}
const helmHome = mkdtempSync(join(tmpdir(), "gastown-helm-"));
afterAll(() => rmSync(helmHome, { recursive: true, force: true }));

const template = async (release: string, namespace: string, set: string[] = []) =>
  parseYamlDocuments(
    await helm(["template", release, CHART, `--namespace=${namespace}`, ...set.flatMap((s) => ["--set", s])]),
  );
const find = (docs: KubernetesObject[], kind: string, component?: string) =>
  docs.filter(
    (d) =>
      d.kind === kind && (component === undefined || d.metadata?.labels?.["app.kubernetes.io/component"] === component),
  );
const base = async () => parseYamlDocuments(await runKubectl(["kustomize", join(ROOT, "manifests", "base")]));

describe("helm lint and template", () => {
  it("lints clean in both scopes", async () => {
    for (const scope of ["Cluster", "Namespace"]) {
      const out = await helm(["lint", "--strict", CHART, "--set", `scope=${scope}`]);
      expect(out).toContain("0 chart(s) failed");
      expect(out).not.toMatch(/\[(WARNING|ERROR)\]/);
    }
  });

  it("refuses values the schema does not know, naming them", async () => {
    await expect(template("x", "default", ["scoep=Cluster"])).rejects.toThrow(/scoep/);
    await expect(template("x", "default", ["scope=Everywhere"])).rejects.toThrow(/scope/);
  });

  it.each([
    ["Cluster", ["metrics.serviceMonitor.enabled=false"]],
    ["Namespace", ["networkPolicy.enabled=true"]],
  ])("renders %s scope that passes a server-side dry run", async (scope, set) => {
    const ns = await createNamespace(`chart-dry-${scope.toLowerCase()}`);
    const text = await helm([
      "template",
      "gastown-dry",
      CHART,
      `--namespace=${ns}`,
      "--set",
      `scope=${scope}`,
      ...set.flatMap((s) => ["--set", s]),
    ]);
    const docs = parseYamlDocuments(text);
    const out = await runKubectl(
      // A dry run: who owns a field the shared cluster's other tests applied is not the question.
      ["apply", "--server-side", "--dry-run=server", "--force-conflicts", "--field-manager=chart-test", "-f", "-"],
      text,
    );
    expect(
      out
        .trim()
        .split("\n")
        .filter((l) => l.endsWith("(server dry run)")),
    ).toHaveLength(docs.length);
    for (const d of docs) {
      expect(d.metadata?.labels, `${d.kind}/${d.metadata?.name}`).toMatchObject({
        "app.kubernetes.io/name": "gastown-operator",
        "app.kubernetes.io/instance": "gastown-dry",
        "app.kubernetes.io/managed-by": "Helm",
        "app.kubernetes.io/part-of": "gastown-operator",
      });
    }
  });

  it("grants exactly the RBAC and admission rules of manifests/base", async () => {
    const chart = await template("gastown-operator", "gastown-system");
    const kustomize = await base();
    const rules = (docs: KubernetesObject[], kind: string, name: string) =>
      (docs.find((d) => d.kind === kind && d.metadata?.name === name) as unknown as { rules: unknown[] }).rules;
    for (const [kind, name] of [
      ["ClusterRole", "gastown-operator"],
      ["Role", "gastown-operator-leader-election"],
      ["ClusterRole", "gastown-operator-metrics-auth"],
      ["ClusterRole", "gastown-operator-metrics-reader"],
      ["ClusterRole", "gastown-edit"],
      ["ClusterRole", "gastown-view"],
    ] as const) {
      expect(rules(chart, kind, name), `${kind} ${name}`).toEqual(rules(kustomize, kind, name));
    }
    const spec = (docs: KubernetesObject[], name: string) =>
      (
        docs.find((d) => d.kind === "ValidatingAdmissionPolicy" && d.metadata?.name === name) as unknown as {
          spec: unknown;
        }
      ).spec;
    for (const name of ["gastown-agentreport-owner", "gastown-operator-fences"])
      expect(spec(chart, name), name).toEqual(spec(kustomize, name));
    const args = (docs: KubernetesObject[]) =>
      (find(docs, "Deployment")[0] as V1Deployment).spec?.template.spec?.containers[0]?.args;
    expect(args(chart)).toEqual(expect.arrayContaining(args(kustomize) ?? []));
  });
});

// --- installed -----------------------------------------------------------------------------------

interface Installed {
  release: string;
  namespace: string;
  towns: string;
  deployment: V1Deployment;
  /** The chart's ServiceAccount, as a client. */
  operator: KubeHttp;
  kubeconfig: string;
  /** The ValidatingAdmissionPolicies the release installed. */
  policies: string[];
}

let dir: string | undefined;
let child: ChildProcess | undefined;
let crew: Crew | undefined;
let output = "";
afterEach(async () => {
  await crew?.stop();
  crew = undefined;
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child?.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }
  child = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

async function install(release: string, scope: "Cluster" | "Namespace", towns?: string): Promise<Installed> {
  const namespace = await createNamespace(`chart-${scope.toLowerCase()}`, {
    labels: { "pod-security.kubernetes.io/enforce": "restricted" },
  });
  const watch = towns ?? namespace;
  const set = [`scope=${scope}`, ...(scope === "Namespace" ? [`watchNamespace=${watch}`] : [])];
  // The AgentReport policy is one per cluster; `make run` and other tests may have applied it.
  const existing = await admin
    .json({
      method: "GET",
      path: "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/gastown-agentreport-owner",
    })
    .then(
      () => true,
      () => false,
    );
  if (existing) set.push("agentReportPolicy.enabled=false");
  await helm(["install", release, CHART, `--namespace=${namespace}`, ...set.flatMap((s) => ["--set", s])]);
  const manifest = parseYamlDocuments(await helm(["get", "manifest", release, `--namespace=${namespace}`]));
  const deployment = find(manifest, "Deployment")[0] as V1Deployment;
  const sa = deployment.spec?.template.spec?.serviceAccountName ?? "";
  dir = mkdtempSync(join(tmpdir(), "gastown-chart-"));
  const { kc: own, path: kubeconfig } = await serviceAccountKubeconfig(namespace, sa, dir);
  return {
    release,
    namespace,
    towns: watch,
    deployment,
    operator: createKubeHttp(own),
    kubeconfig,
    policies: find(manifest, "ValidatingAdmissionPolicy").map((p) => p.metadata?.name ?? ""),
  };
}

/** The operator with the Deployment's args, as the chart's ServiceAccount, until /readyz says ready. */
async function runOperator(inst: Installed, extra: string[] = []): Promise<number> {
  const port = await freePort();
  const args = (inst.deployment.spec?.template.spec?.containers[0]?.args ?? []).map((a) =>
    a.replace("$(POD_NAMESPACE)", inst.namespace).replace(/^--metrics-port=.*/, `--metrics-port=${port}`),
  );
  output = "";
  child = spawn(
    process.execPath,
    [join(ROOT, "src", "main.ts"), ...args, `--kubeconfig=${inst.kubeconfig}`, ...extra],
    {
      env: { ...process.env, POD_NAMESPACE: inst.namespace, KUBECONFIG: "" },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const collect = (b: Buffer) => {
    output += b.toString();
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  await retryUntil(
    "the operator's /readyz",
    async () => {
      const r = await httpsGet(port, "/readyz");
      if (r.status !== 200) throw new Error(`readyz ${r.status}\n${output.slice(-2000)}`);
    },
    60_000,
  );
  return port;
}

async function landExampleConvoy(inst: Installed): Promise<void> {
  await create(admin, inst.towns, townManifest("demo"));
  crew = new Crew(kubeConfig(), inst.towns).start();
  await runKubectl(["apply", `--namespace=${inst.towns}`, "-f", join(ROOT, "examples", "convoy.yaml")]);
  const name = (parse(readFileSync(join(ROOT, "examples", "convoy.yaml"), "utf8")) as { metadata: { name: string } })
    .metadata.name;
  await waitFor<KubernetesObject & { status?: Convoy["status"] }>(
    kubeConfig(),
    { apiVersion: API, kind: "Convoy", namespace: inst.towns, name },
    (c) => c?.status?.phase === "Landed",
    { description: `convoy ${name} to land`, timeoutMs: 240_000 },
  ).catch((e: Error) => {
    throw new Error(`${e.message}\noperator output:\n${output.slice(-4000)}`);
  });
  expect(crew.errors).toEqual([]);
  // RBAC or admission refused nothing. A cluster-scoped operator also sees other tests' towns, whose
  // namespaces may be terminating: the apiserver's 403 for new content there is not a refusal of ours.
  const refusals = output.split("\n").filter((l) => /forbidden|denied request/i.test(l) && !/being terminated/.test(l));
  expect(refusals).toEqual([]);
}

/** Every object of the release, by its instance label, in the namespaces it touched and cluster-wide. */
async function leftovers(inst: Installed): Promise<string[]> {
  const selector = `app.kubernetes.io/instance=${inst.release}`;
  const namespaced =
    "deployments,services,serviceaccounts,roles,rolebindings,poddisruptionbudgets,networkpolicies,configmaps";
  const clusterWide = "clusterroles,clusterrolebindings,validatingadmissionpolicies,validatingadmissionpolicybindings";
  const out = [
    ...(await runKubectl(["get", namespaced, `--namespace=${inst.namespace}`, "-l", selector, "-o", "name"])).split(
      "\n",
    ),
    ...(await runKubectl(["get", namespaced, `--namespace=${inst.towns}`, "-l", selector, "-o", "name"])).split("\n"),
    ...(await runKubectl(["get", clusterWide, "-l", selector, "-o", "name"])).split("\n"),
  ];
  return out.filter((l) => l.trim() !== "");
}

async function uninstall(inst: Installed): Promise<void> {
  child?.kill("SIGTERM");
  await helm(["uninstall", inst.release, `--namespace=${inst.namespace}`, "--wait", "--timeout=60s"]);
  expect(await leftovers(inst)).toEqual([]);
}

describe("the chart installed in Cluster scope", () => {
  it("runs the example convoy to Landed with the chart's RBAC under the fences, and the fences hold", async () => {
    const inst = await install("gastown-cluster", "Cluster");
    try {
      expect((await leftovers(inst)).length).toBeGreaterThan(5);
      expect(inst.policies.some((p) => p.endsWith("-fences"))).toBe(true);
      // The apiserver type-checks the policies' CEL against the kinds they match; a warning there
      // would mean an expression that errors (and, failurePolicy Fail, refuses) at admission.
      for (const policy of inst.policies) {
        const checked = await retryUntil(`type checking of ${policy}`, async () => {
          const vap = await admin.json<{
            metadata: { generation: number };
            status?: { observedGeneration?: number; typeChecking?: { expressionWarnings?: unknown[] } };
          }>({ method: "GET", path: `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies/${policy}` });
          if (vap.status?.observedGeneration !== vap.metadata.generation) throw new Error("not type-checked yet");
          return vap.status.typeChecking;
        });
        expect(checked?.expressionWarnings ?? [], policy).toEqual([]);
      }
      const towns = await createNamespace("chart-cluster-towns", {
        labels: { "pod-security.kubernetes.io/enforce": "restricted" },
      });
      await runOperator(inst);
      await landExampleConvoy({ ...inst, towns });

      // The fences, as the operator's own ServiceAccount.
      const sa = await refused(
        inst.operator.json({
          method: "POST",
          path: `/api/v1/namespaces/${towns}/pods`,
          body: {
            apiVersion: "v1",
            kind: "Pod",
            metadata: {
              name: "not-a-session",
              labels: { "app.kubernetes.io/managed-by": "gastown-operator", "gastown.dev/agent": "demo-app-toast" },
            },
            // Restricted-compliant, so that Pod Security admits it and only the fence decides.
            spec: {
              serviceAccountName: "default",
              securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: "RuntimeDefault" } },
              containers: [
                {
                  name: "c",
                  image: "busybox",
                  securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
                },
              ],
            },
          },
        }),
      );
      expect(sa.statusCode).toBe(403);
      expect(sa.message).toContain("may only run session pods");

      await admin.json({
        method: "POST",
        path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${towns}/roles`,
        body: { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata: { name: "planted" }, rules: [] },
      });
      const binding = await refused(
        inst.operator.json({
          method: "POST",
          path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${towns}/rolebindings`,
          body: {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "RoleBinding",
            metadata: {
              name: "demo-app-toast",
              labels: { "app.kubernetes.io/managed-by": "gastown-operator", "gastown.dev/agent": "demo-app-toast" },
            },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "planted" },
            subjects: [{ kind: "ServiceAccount", name: "demo-app-toast", namespace: towns }],
          },
        }),
      );
      expect(binding.statusCode).toBe(403);
      expect(binding.message).toContain("may only bind an agent Role it generated");

      const leaseName = `gastown-chart-test-${Math.random().toString(36).slice(2, 8)}`;
      await admin.json({
        method: "POST",
        path: "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases",
        body: {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: leaseName },
          spec: { holderIdentity: "kube" },
        },
      });
      try {
        const lease = await refused(
          inst.operator.json({
            method: "PATCH",
            path: `/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/${leaseName}`,
            contentType: "application/merge-patch+json",
            body: { spec: { holderIdentity: "gastown" } },
          }),
        );
        expect(lease.statusCode).toBe(403);
        expect(lease.message).toContain("may only write its leader Lease");
        // RBAC alone would have allowed it: the refusal is the fence's.
        expect(lease.message).toContain("ValidatingAdmissionPolicy");
      } finally {
        await admin.json({
          method: "DELETE",
          path: `/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/${leaseName}`,
        });
      }
    } finally {
      await uninstall(inst);
    }
  });
});

describe("the chart installed in Namespace scope", () => {
  it("runs the example convoy to Landed in its namespace and cannot touch any other", async () => {
    const towns = await createNamespace("chart-ns-towns", {
      labels: { "pod-security.kubernetes.io/enforce": "restricted" },
    });
    const other = await createNamespace("chart-ns-other");
    const inst = await install("gastown-ns", "Namespace", towns);
    try {
      expect(inst.deployment.spec?.template.spec?.containers[0]?.args).toContain(`--namespace=${towns}`);
      await runOperator(inst);
      await landExampleConvoy(inst);
      for (const [method, path] of [
        ["GET", `/apis/gastown.dev/v1alpha1/namespaces/${other}/towns`],
        ["GET", `/api/v1/namespaces/${other}/pods`],
        ["GET", "/apis/gastown.dev/v1alpha1/towns"],
        ["POST", `/api/v1/namespaces/${other}/serviceaccounts`],
        ["POST", `/apis/coordination.k8s.io/v1/namespaces/${other}/leases`],
      ] as const) {
        const body =
          method === "POST"
            ? path.endsWith("leases")
              ? { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: { name: "x" } }
              : { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "x" } }
            : undefined;
        const err = await refused(inst.operator.json({ method, path, ...(body ? { body } : {}) }));
        expect(err.statusCode, `${method} ${path}`).toBe(403);
      }
    } finally {
      await uninstall(inst);
    }
  });
});
