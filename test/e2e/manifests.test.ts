// The installation in manifests/ against a real apiserver: every kustomization and every file passes
// a server-side dry run, the Deployment and RBAC keep the promises of docs/security.md (restricted pod,
// probes, leader election, least privilege), and the RBAC is enough: the operator, started with
// the Deployment's own args and authenticated as its own ServiceAccount, dispatches a bead.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import type {
  KubernetesObject,
  V1ClusterRole,
  V1Deployment,
  V1Pod,
  V1PolicyRule,
  V1Role,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { adminHttp, create, freePort, townManifest, waitForBead } from "../support/gastown.ts";
import {
  createNamespace,
  kubeConfig,
  parseYamlDocuments,
  retryUntil,
  runKubectl,
  waitForList,
} from "../support/kube.ts";
import { httpsGet, serviceAccountKubeconfig } from "../support/service-account.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const MANIFESTS = join(ROOT, "manifests");
const FIELD_MANAGER = "gastown-manifests-test";

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(e.name) ? [path] : [];
  });
}

// manifests/argocd holds Argo CD health scripts and their fixtures (captured objects with status),
// which are test data for health-lua (test/unit/gitops-health.test.ts), not objects to apply.
const ARGOCD = join(MANIFESTS, "argocd");
const files = yamlFiles(MANIFESTS)
  .filter((f) => !f.startsWith(`${ARGOCD}/`))
  .sort();
const kustomizations = files.filter((f) => basename(f) === "kustomization.yaml").map(dirname);
const plainFiles = files.filter((f) => basename(f) !== "kustomization.yaml");
const rel = (path: string) => relative(ROOT, path);

/** Server-side dry run of a stream of objects; resolves to kubectl's line per object. */
async function dryRun(text: string): Promise<string[]> {
  const out = await runKubectl(
    ["apply", "--server-side", "--dry-run=server", "--force-conflicts", `--field-manager=${FIELD_MANAGER}`, "-f", "-"],
    text,
  );
  return out.trim().split("\n");
}

const render = async (dir: string) => parseYamlDocuments(await runKubectl(["kustomize", dir]));
const list = (items: KubernetesObject[]) => JSON.stringify({ apiVersion: "v1", kind: "List", items });
const find = <T>(docs: KubernetesObject[], kind: string, name?: string) =>
  docs.find((d) => d.kind === kind && (name === undefined || d.metadata?.name === name)) as T | undefined;

let base: KubernetesObject[];
let namespace: string;
let deployment: V1Deployment;
/** Objects this file applied for real and must remove again (those that did not exist before). */
const created: KubernetesObject[] = [];

async function exists(o: KubernetesObject): Promise<boolean> {
  const ns = o.metadata?.namespace ? [`--namespace=${o.metadata.namespace}`] : [];
  const out = await runKubectl(["get", `${o.kind}/${o.metadata?.name}`, ...ns, "--ignore-not-found", "-o", "name"]);
  return out.trim() !== "";
}

beforeAll(async () => {
  base = await render(join(MANIFESTS, "base"));
  const ns = find<KubernetesObject>(base, "Namespace");
  if (!ns?.metadata?.name) throw new Error("manifests/base renders no Namespace");
  namespace = ns.metadata.name;
  const d = find<V1Deployment>(base, "Deployment");
  if (!d) throw new Error("manifests/base renders no Deployment");
  deployment = d;
  // For real: a dry run of the Namespace does not create it, and every namespaced dry run needs
  // it. The ServiceAccount and RBAC are real too, for the access checks and the operator below.
  const real = base.filter((o) =>
    ["Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"].includes(o.kind ?? ""),
  );
  // The namespaces the other kustomizations add (manifests/namespaced: the towns' namespace).
  for (const dir of kustomizations) {
    for (const o of await render(dir)) {
      if (o.kind === "Namespace" && !real.some((r) => r.kind === "Namespace" && r.metadata?.name === o.metadata?.name))
        real.push(o);
    }
  }
  for (const o of real) if (!(await exists(o))) created.push(o);
  await runKubectl(["apply", "--server-side", `--field-manager=${FIELD_MANAGER}`, "-f", "-"], list(real));
});

afterAll(async () => {
  // Waits for the namespace to be gone, so that a run right after this one does not meet it Terminating.
  if (created.length > 0)
    await runKubectl(["delete", "--ignore-not-found", "--timeout=120s", "-f", "-"], list(created));
});

describe("manifests/", () => {
  it("has a kustomization for the whole installation", () => {
    expect(kustomizations.map(rel)).toContain("manifests/base");
  });

  it.each(kustomizations.map((d) => [rel(d), d] as const))(
    "%s renders and passes a server-side dry run",
    async (_, dir) => {
      const docs = await render(dir);
      expect(docs.length).toBeGreaterThan(0);
      const lines = await dryRun(list(docs));
      expect(lines.filter((l) => l.endsWith("(server dry run)"))).toHaveLength(docs.length);
    },
  );

  it.each(plainFiles.map((f) => [rel(f), f] as const))(
    "%s passes a server-side dry run on its own",
    async (_, file) => {
      const text = readFileSync(file, "utf8");
      const lines = await dryRun(text);
      expect(lines.filter((l) => l.endsWith("(server dry run)"))).toHaveLength(parseYamlDocuments(text).length);
    },
  );

  it("includes every manifest file in a kustomization", () => {
    const referenced = new Set<string>();
    for (const dir of kustomizations) {
      const k = parse(readFileSync(join(dir, "kustomization.yaml"), "utf8")) as { resources?: string[] };
      for (const r of k.resources ?? []) referenced.add(join(dir, r));
    }
    expect(plainFiles.filter((f) => !referenced.has(f)).map(rel)).toEqual([]);
  });
});

describe("the operator Deployment", () => {
  const pod = () => deployment.spec?.template.spec;
  const container = () => pod()?.containers[0];

  it("runs several replicas under leader election, with the lease in its own namespace", () => {
    expect(deployment.spec?.replicas).toBeGreaterThanOrEqual(2);
    expect(pod()?.containers).toHaveLength(1);
    const args = container()?.args ?? [];
    expect(args).toContain("--leader-elect");
    expect(args).toContain("--leader-election-namespace=$(POD_NAMESPACE)");
    expect(container()?.env).toContainEqual({
      name: "POD_NAMESPACE",
      valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } },
    });
  });

  it("probes /healthz and /readyz on the port it serves metrics on", () => {
    const c = container();
    const port = Number((c?.args ?? []).find((a) => a.startsWith("--metrics-port="))?.split("=")[1] ?? 8080);
    const named = c?.ports?.find((p) => p.containerPort === port)?.name;
    expect(c?.livenessProbe?.httpGet?.path).toBe("/healthz");
    expect(c?.readinessProbe?.httpGet?.path).toBe("/readyz");
    for (const probe of [c?.livenessProbe, c?.readinessProbe]) expect([port, named]).toContain(probe?.httpGet?.port);
  });

  it("runs as non-root on a read-only root filesystem without privileges, with limits", () => {
    expect(pod()?.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    expect(container()?.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
    expect(container()?.resources?.requests).toBeDefined();
    expect(container()?.resources?.limits?.memory).toBeDefined();
  });

  it("uses the ServiceAccount that the RBAC bindings name", () => {
    const sa = pod()?.serviceAccountName;
    expect(find(base, "ServiceAccount", sa)).toBeDefined();
    for (const binding of base.filter((o) => o.kind === "ClusterRoleBinding" || o.kind === "RoleBinding")) {
      expect((binding as unknown as { subjects: unknown[] }).subjects).toEqual([
        { kind: "ServiceAccount", name: sa, namespace },
      ]);
    }
  });

  it("passes the namespace's restricted Pod Security admission, which refuses a weaker pod", async () => {
    const labels = find<KubernetesObject>(base, "Namespace")?.metadata?.labels ?? {};
    expect(labels["pod-security.kubernetes.io/enforce"]).toBe("restricted");
    const template = deployment.spec?.template;
    const podOf = (spec: unknown): V1Pod => ({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "gastown-operator-psa-check", namespace, labels: template?.metadata?.labels },
      spec: spec as V1Pod["spec"],
    });
    await runKubectl(["create", "--dry-run=server", "-f", "-"], JSON.stringify(podOf(template?.spec)));
    const weaker = structuredClone(template?.spec);
    delete weaker?.containers[0]?.securityContext?.capabilities;
    await expect(runKubectl(["create", "--dry-run=server", "-f", "-"], JSON.stringify(podOf(weaker)))).rejects.toThrow(
      /restricted/,
    );
  });
});

describe("the operator's RBAC", () => {
  const clusterRole = () => find<V1ClusterRole>(base, "ClusterRole");
  const user = () => `system:serviceaccount:${namespace}:${deployment.spec?.template.spec?.serviceAccountName}`;

  /** What the apiserver's authorizer says about the operator's ServiceAccount. */
  async function allowed(attributes: Record<string, string>): Promise<boolean> {
    const review = await adminHttp().json<{ status?: { allowed?: boolean } }>({
      method: "POST",
      path: "/apis/authorization.k8s.io/v1/subjectaccessreviews",
      body: {
        apiVersion: "authorization.k8s.io/v1",
        kind: "SubjectAccessReview",
        spec: {
          user: user(),
          groups: ["system:serviceaccounts", `system:serviceaccounts:${namespace}`, "system:authenticated"],
          resourceAttributes: attributes,
        },
      },
    });
    return review.status?.allowed === true;
  }

  it("grants no secrets, no wildcards and no way around RBAC escalation checks", () => {
    const rules: V1PolicyRule[] = [
      ...(clusterRole()?.rules ?? []),
      ...base.filter((o) => o.kind === "Role").flatMap((r) => (r as V1Role).rules ?? []),
    ];
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) {
      expect(rule.resources ?? []).not.toContain("*");
      expect(rule.resources ?? []).not.toContain("secrets");
      expect(rule.resources ?? []).not.toContain("serviceaccounts/token");
      expect(rule.apiGroups ?? []).not.toContain("*");
      for (const verb of ["*", "escalate", "bind", "impersonate"]) expect(rule.verbs).not.toContain(verb);
    }
  });

  it("lets the ServiceAccount run sessions in a town's namespace, and nothing of the sort", async () => {
    const town = "any-town-namespace";
    await retryUntil("the operator's ClusterRoleBinding to take effect", async () => {
      if (!(await allowed({ verb: "create", resource: "pods", namespace: town }))) throw new Error("not yet allowed");
    });
    for (const [verb, group, resource] of [
      ["create", "", "serviceaccounts"],
      ["create", "rbac.authorization.k8s.io", "roles"],
      ["create", "rbac.authorization.k8s.io", "rolebindings"],
      ["create", "coordination.k8s.io", "leases"],
      ["create", "", "persistentvolumeclaims"],
      ["create", "gastown.dev", "beads"],
      ["patch", "gastown.dev", "beads/status"],
    ] as const) {
      const [res, subresource = ""] = resource.split("/");
      expect(
        await allowed({ verb, group, resource: res ?? "", subresource, namespace: town }),
        `${verb} ${resource}`,
      ).toBe(true);
    }
    for (const [verb, group, resource, subresource] of [
      ["get", "", "secrets", ""],
      ["list", "", "secrets", ""],
      ["create", "", "serviceaccounts", "token"],
      ["escalate", "rbac.authorization.k8s.io", "roles", ""],
      ["bind", "rbac.authorization.k8s.io", "roles", ""],
      ["create", "rbac.authorization.k8s.io", "clusterroles", ""],
      ["update", "gastown.dev", "towns", ""],
      ["patch", "gastown.dev", "beads", ""],
      ["delete", "", "namespaces", ""],
      ["create", "", "pods", "exec"],
      // A claim holds data: the operator makes agents' home claims, the garbage collector deletes them.
      ["delete", "", "persistentvolumeclaims", ""],
    ] as const) {
      const what = `${verb} ${resource}${subresource ? `/${subresource}` : ""}`;
      expect(await allowed({ verb, group, resource, subresource, namespace: town }), what).toBe(false);
    }
  });
});

describe("the operator as its own ServiceAccount", () => {
  let dir: string;
  let child: ChildProcess | undefined;
  let output = "";

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child?.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("dispatches a bead with the Deployment's args and exactly this RBAC, and shuts down cleanly", async () => {
    const http = adminHttp();
    const sa = deployment.spec?.template.spec?.serviceAccountName ?? "";
    dir = mkdtempSync(join(tmpdir(), "gastown-manifests-"));
    const { path: kubeconfig, token } = await serviceAccountKubeconfig(namespace, sa, dir);

    // Session pods in a restricted namespace: pod-spec.ts promises the restricted profile too.
    const towns = await createNamespace("manifests", {
      labels: { "pod-security.kubernetes.io/enforce": "restricted" },
    });
    const port = await freePort();
    const args = (deployment.spec?.template.spec?.containers[0]?.args ?? []).map((a) =>
      a.replace("$(POD_NAMESPACE)", namespace).replace(/^--metrics-port=.*/, `--metrics-port=${port}`),
    );
    // --namespace keeps it away from the towns of other tests sharing this cluster.
    child = spawn(
      process.execPath,
      [join(ROOT, "src", "main.ts"), ...args, `--kubeconfig=${kubeconfig}`, `--namespace=${towns}`],
      { env: { ...process.env, POD_NAMESPACE: namespace, KUBECONFIG: "" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    const exited = new Promise<number | null>((resolve) => child?.once("exit", (code) => resolve(code)));
    child.stdout?.on("data", (b: Buffer) => {
      output += b.toString();
    });
    child.stderr?.on("data", (b: Buffer) => {
      output += b.toString();
    });

    await retryUntil(
      "the operator's /readyz",
      async () => {
        // --metrics-secure: HTTPS with a self-signed certificate; the probes need no token.
        const res = await httpsGet(port, "/readyz");
        if (res.status !== 200) throw new Error(`${res.status} ${res.body}`);
      },
      60_000,
    );
    await create(http, towns, townManifest("gt"));
    await create(http, towns, {
      apiVersion: "gastown.dev/v1alpha1",
      kind: "Bead",
      metadata: { name: "task" },
      spec: { town: "gt", rig: "app", title: "a task" },
    });
    const bead = await waitForBead(towns, "task", (b) => b?.status?.phase === "InProgress", "to be dispatched", 90_000);
    const agent = bead?.status?.assignee ?? "";
    expect(agent).not.toBe("");

    // The session pod comes after the agent's identity, and after the bead's status.
    await waitForList(
      kubeConfig(),
      { apiVersion: "v1", kind: "Pod", namespace: towns, labelSelector: `gastown.dev/agent=${agent}` },
      (pods) => pods.length > 0,
      { description: `a session pod for ${agent}`, timeoutMs: 60_000 },
    ).catch((e: Error) => {
      throw new Error(`${e.message}\noperator output:\n${output.slice(-4000)}`);
    });
    // The identity the operator made for the agent: creating this Role proves it holds every
    // permission the Role grants (RBAC escalation prevention).
    const role = await http.json<V1Role>({
      method: "GET",
      path: `/apis/rbac.authorization.k8s.io/v1/namespaces/${towns}/roles/${agent}`,
    });
    expect(role.rules?.map((r) => r.resources?.[0])).toEqual(["agentreports", "leases", "agents", "beads"]);
    const lease = await http.json<{ spec?: { holderIdentity?: string } }>({
      method: "GET",
      path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/gastown-operator`,
    });
    expect(lease.spec?.holderIdentity).toBeTruthy();

    // /metrics: a token is required, and the operator's own ServiceAccount is not a scraper.
    expect((await httpsGet(port, "/metrics")).status).toBe(401);
    expect((await httpsGet(port, "/metrics", { token })).status).toBe(403);

    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(output).not.toMatch(/forbidden/i);
  });
});
