// What doctor concludes from the versions and the CRDs it reads, at every boundary. The checks
// against a real cluster (and what it finds broken there) are in test/integration/cli/doctor.test.ts;
// a cluster older than 1.30 and a CRD that is not Established cannot be made there, so their
// verdicts are shown here.
import { describe, expect, it } from "vitest";
import { allCustomResourceDefinitions } from "../../../src/api/crds.ts";
import { crdFinding } from "../../../src/cli/doctor/crds.ts";
import { clusterFindings, kubectlFinding, minorOf } from "../../../src/cli/doctor/versions.ts";

const AT = "https://127.0.0.1:6443";

describe("doctor: versions", () => {
  it("reads the minor version from gitVersion, else from minor (which may carry a +)", () => {
    expect(minorOf({ gitVersion: "v1.31.2" })).toBe(31);
    expect(minorOf({ minor: "30+" })).toBe(30);
    expect(minorOf({})).toBeUndefined();
  });

  it("needs a cluster of 1.30 or newer", () => {
    expect(clusterFindings({ gitVersion: "v1.29.9" }, AT, 29)).toEqual([
      {
        check: "cluster",
        severity: "fail",
        message:
          "Kubernetes v1.29.9 is older than 1.30: the AgentReport admission policy needs ValidatingAdmissionPolicy v1",
        fix: "use a cluster of 1.30 or newer",
      },
    ]);
    expect(clusterFindings({ gitVersion: "v1.30.0" }, AT, 30)).toEqual([
      { check: "cluster", severity: "ok", message: `Kubernetes v1.30.0 at ${AT}` },
    ]);
    expect(clusterFindings({}, AT, 30)[0]?.severity).toBe("fail");
  });

  it("warns when kubectl is more than one minor version from the cluster", () => {
    expect(clusterFindings({ gitVersion: "v1.33.1" }, AT, 32)).toHaveLength(1);
    expect(clusterFindings({ gitVersion: "v1.33.1" }, AT, 31)[1]).toEqual({
      check: "kubectl",
      severity: "warn",
      message: "kubectl 1.31 and the cluster 1.33 are more than one minor version apart (kubectl's supported skew)",
      fix: "use kubectl 1.32 to 1.34",
    });
  });

  it("needs kubectl 1.26 for plugin completion, and says when kubectl cannot run", () => {
    expect(kubectlFinding({ gitVersion: "v1.26.0" }).severity).toBe("ok");
    expect(kubectlFinding({ gitVersion: "v1.25.16" }).severity).toBe("fail");
    expect(kubectlFinding("spawn kubectl ENOENT")).toEqual({
      check: "kubectl",
      severity: "warn",
      message: "cannot run kubectl: spawn kubectl ENOENT",
      fix: "install kubectl (this plugin runs as `kubectl gt`)",
    });
  });
});

describe("doctor: CRDs", () => {
  const want = allCustomResourceDefinitions().find(
    (c) => (c.metadata as { name: string }).name === "beads.gastown.dev",
  )!;
  const installed = (patch: (crd: Record<string, unknown>) => void) => {
    const crd = structuredClone(want) as Record<string, unknown>;
    crd.status = { conditions: [{ type: "Established", status: "True" }] };
    patch(crd);
    return crd;
  };

  it("passes the CRD this CLI was built with, Established", () => {
    expect(
      crdFinding(
        want,
        installed(() => {}),
      ),
    ).toBeUndefined();
  });

  it("fails one that is missing, not serving v1alpha1, not Established, or with another schema", () => {
    expect(crdFinding(want, undefined)?.message).toBe("CRD beads.gastown.dev is not installed");
    const notServed = installed((c) => {
      for (const v of (c.spec as { versions: { served: boolean }[] }).versions) v.served = false;
    });
    expect(crdFinding(want, notServed)?.message).toBe(
      "CRD beads.gastown.dev does not serve v1alpha1, the version this CLI speaks",
    );
    const pending = installed((c) => {
      c.status = { conditions: [{ type: "Established", status: "False" }] };
    });
    expect(crdFinding(want, pending)).toEqual({
      check: "CRDs",
      severity: "fail",
      message: "CRD beads.gastown.dev is not Established yet",
      fix: "kubectl wait --for=condition=Established crd/beads.gastown.dev",
    });
    const older = installed((c) => {
      const v = (c.spec as { versions: { schema: { openAPIV3Schema: { description?: string } } }[] }).versions[0]!;
      v.schema.openAPIV3Schema.description = "an older Bead";
    });
    expect(crdFinding(want, older)?.message).toMatch(/has a different schema than this CLI was built with/);
  });
});
