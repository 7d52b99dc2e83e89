// The objects the launcher creates once the apiserver answers: fake Nodes for kwok and the CRDs.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { type ApiClient, until } from "./api.ts";

export const KWOK_NODE_LABEL = "type=kwok";
const FIELD_MANAGER = "gastown-local-cluster";

interface Wait {
  timeoutMs: number;
  abort?: () => Error | undefined;
}

export async function createNodes(api: ApiClient, count: number): Promise<string[]> {
  const names = Array.from({ length: count }, (_, i) => `kwok-node-${i}`);
  await Promise.all(
    names.map(async (name) => {
      const res = await api.request("POST", "/api/v1/nodes", {
        apiVersion: "v1",
        kind: "Node",
        metadata: {
          name,
          labels: {
            type: "kwok",
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
          },
          annotations: { "node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake" },
        },
      });
      if (res.status !== 201 && res.status !== 409) {
        throw new Error(`creating node ${name}: HTTP ${res.status}: ${res.body?.message ?? res.text}`);
      }
      // The TaintNodesByCondition admission plugin taints every new Node not-ready:NoSchedule and
      // only the node-lifecycle controller would lift it. We run without that controller (it would
      // evict pods whenever kwok's lease renewals lag on a busy machine), so lift it here.
      const node = (await api.must("GET", `/api/v1/nodes/${name}`)).body;
      const taints = (node.spec?.taints ?? []) as { key: string }[];
      const kept = taints.filter((t) => t.key !== "node.kubernetes.io/not-ready");
      if (kept.length !== taints.length) {
        await api.must(
          "PATCH",
          `/api/v1/nodes/${name}`,
          // No resourceVersion: kwok is updating the status meanwhile, and nothing else sets taints.
          { spec: { taints: kept } },
          "application/merge-patch+json",
        );
      }
    }),
  );
  return names;
}

export function waitNodesReady(api: ApiClient, names: string[], wait: Wait): Promise<true> {
  return until(
    `nodes ${names.join(", ")} to be Ready (kwok)`,
    async () => {
      const list = (await api.must("GET", `/api/v1/nodes?labelSelector=${encodeURIComponent(KWOK_NODE_LABEL)}`)).body;
      const ready = new Set(
        // biome-ignore lint/suspicious/noExplicitAny: raw JSON
        (list.items as any[])
          // biome-ignore lint/suspicious/noExplicitAny: raw JSON
          .filter((n) => n.status?.conditions?.some((c: any) => c.type === "Ready" && c.status === "True"))
          .map((n) => n.metadata.name as string),
      );
      return names.every((n) => ready.has(n)) ? true : undefined;
    },
    { ...wait, intervalMs: 100 },
  );
}

/** Every CustomResourceDefinition in the YAML files of `dir`. */
export function readCrds(dir: string): { metadata: { name: string } }[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml") || f.endsWith(".yml"))
    .sort()
    .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), "utf8")).map((d) => d.toJS()))
    .filter((doc) => doc?.kind === "CustomResourceDefinition");
}

/** Server-side applies the CRDs (so a second install over a running cluster is an update). */
export async function installCrds(api: ApiClient, dir: string, wait: Wait): Promise<string[]> {
  const crds = readCrds(dir);
  if (crds.length === 0) throw new Error(`no CustomResourceDefinitions in ${dir}`);
  await Promise.all(
    crds.map((crd) =>
      api.must(
        "PATCH",
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}?fieldManager=${FIELD_MANAGER}&force=true`,
        crd,
        "application/apply-patch+yaml",
      ),
    ),
  );
  const names = crds.map((c) => c.metadata.name);
  await until(
    `CRDs ${names.join(", ")} to be Established`,
    async () => {
      for (const name of names) {
        const crd = (await api.must("GET", `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`)).body;
        const conditions = (crd.status?.conditions ?? []) as { type: string; status: string }[];
        if (!conditions.some((c) => c.type === "Established" && c.status === "True")) return undefined;
      }
      return true;
    },
    { ...wait, intervalMs: 50 },
  );
  return names;
}

export function waitDefaultServiceAccount(api: ApiClient, wait: Wait): Promise<true> {
  return until(
    "the ServiceAccount default/default (kube-controller-manager's serviceaccount controller)",
    async () => {
      const res = await api.request("GET", "/api/v1/namespaces/default/serviceaccounts/default");
      return res.status === 200 ? true : undefined;
    },
    { ...wait, intervalMs: 50 },
  );
}
