// The five CRDs from crds/ are served as docs/resources.md describes: Established, with their short names,
// the gastown category and the printer columns of the checked-in files.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  ApiextensionsV1Api,
  CustomObjectsApi,
  type V1CustomResourceColumnDefinition,
  type V1CustomResourceDefinition,
} from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { kubeConfig, waitFor } from "../support/kube.ts";

const crdDir = join(import.meta.dirname, "..", "..", "crds");
const checkedIn = readdirSync(crdDir)
  .filter((f) => f.endsWith(".yaml"))
  .map((f) => parse(readFileSync(join(crdDir, f), "utf8")) as V1CustomResourceDefinition)
  .filter((doc) => doc.kind === "CustomResourceDefinition");

const EXPECTED = {
  towns: { kind: "Town", shortNames: ["town"] },
  convoys: { kind: "Convoy", shortNames: ["cv"] },
  beads: { kind: "Bead", shortNames: ["bd"] },
  agents: { kind: "Agent", shortNames: ["ag"] },
  agentreports: { kind: "AgentReport", shortNames: ["ar"] },
} as const;

const kc = kubeConfig();

const hasCondition = (crd: V1CustomResourceDefinition | undefined, type: string) =>
  crd?.status?.conditions?.some((c) => c.type === type && c.status === "True") ?? false;

describe("CRDs", () => {
  it("are the five kinds of docs/resources.md", () => {
    expect(checkedIn.map((c) => c.spec.names.plural).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(checkedIn.map((c) => [c.metadata!.name!, c] as const))(
    "%s is Established as checked in",
    async (name, file) => {
      const served = await waitFor<V1CustomResourceDefinition>(
        kc,
        { apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", name },
        (crd) => hasCondition(crd, "Established") && hasCondition(crd, "NamesAccepted"),
        { description: `CRD ${name} to be Established with its names accepted` },
      );
      const crd = served!;
      const expected = EXPECTED[crd.spec.names.plural as keyof typeof EXPECTED];
      expect(crd.spec.names.kind).toBe(expected.kind);
      expect(crd.spec.names.shortNames).toEqual(expected.shortNames);
      expect(crd.spec.names.categories).toContain("gastown");
      expect(crd.spec.scope).toBe("Namespaced");
      const version = crd.spec.versions.find((v) => v.name === "v1alpha1");
      expect(version?.served).toBe(true);
      expect(version?.subresources?.status).toEqual({});
      const columns = (v: V1CustomResourceColumnDefinition[] | undefined) =>
        (v ?? []).map((c) => ({ name: c.name, type: c.type, jsonPath: c.jsonPath }));
      expect(columns(version?.additionalPrinterColumns)).toEqual(
        columns(file.spec.versions[0]?.additionalPrinterColumns),
      );
      expect(columns(version?.additionalPrinterColumns).length).toBeGreaterThan(1);
    },
  );

  it("are discoverable with short names and the gastown category", async () => {
    const list = await kc
      .makeApiClient(CustomObjectsApi)
      .getAPIResources({ group: "gastown.dev", version: "v1alpha1" });
    const resources = list.resources.filter((r) => !r.name.includes("/"));
    expect(resources.map((r) => r.name).sort()).toEqual(Object.keys(EXPECTED).sort());
    for (const r of resources) {
      expect(r.shortNames, r.name).toEqual([...EXPECTED[r.name as keyof typeof EXPECTED].shortNames]);
      expect(r.categories, r.name).toContain("gastown");
    }
    // Each CRD also serves its status subresource.
    expect(list.resources.filter((r) => r.name.endsWith("/status")).length).toBe(5);
  });

  it("are installed from crds/ with the labels of the generated files", async () => {
    const api = kc.makeApiClient(ApiextensionsV1Api);
    for (const file of checkedIn) {
      const crd = await api.readCustomResourceDefinition({ name: file.metadata!.name! });
      expect(crd.metadata?.labels).toMatchObject(file.metadata?.labels ?? {});
    }
  });
});
