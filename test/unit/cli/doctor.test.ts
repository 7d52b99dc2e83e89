// What doctor concludes from the versions and the CRDs it reads, at every boundary. The checks
// against a real cluster (and what it finds broken there) are in test/integration/cli/doctor.test.ts;
// a cluster older than 1.30 and a CRD that is not Established cannot be made there, so their
// verdicts are shown here.
import { describe, expect, it } from "vitest";
import { allCustomResourceDefinitions } from "../../../src/api/crds.ts";
import type { Town } from "../../../src/api/town.ts";
import { crdFinding } from "../../../src/cli/doctor/crds.ts";
import { secretFindings, secretReferences } from "../../../src/cli/doctor/secrets.ts";
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

describe("doctor: the Secrets a town names", () => {
  // examples/town.yaml's two Secrets, an image pull secret, and a model key (Town.spec.agents.provider).
  const town = {
    metadata: { name: "demo", namespace: "team-a" },
    spec: {
      rigs: [{ name: "app", repo: "https://git.example/app.git", gitCredentialsSecret: "app-git-credentials" }],
      agents: {
        envFrom: [{ secretRef: { name: "model-api-keys" } }],
        imagePullSecrets: [{ name: "registry" }],
        provider: { apiKeySecret: { name: "model-api-keys", key: "ANTHROPIC_API_KEY" } },
      },
    },
  } as unknown as Town;
  const refs = secretReferences(town);

  it("finds every reference, with the field that makes it", () => {
    expect(refs.map((r) => `${r.where} → ${r.secret}${r.key ? `[${r.key}]` : ""}`)).toEqual([
      "spec.rigs[app].gitCredentialsSecret → app-git-credentials",
      "spec.agents.provider.apiKeySecret → model-api-keys[ANTHROPIC_API_KEY]",
      "spec.agents.envFrom[0].secretRef → model-api-keys",
      "spec.agents.imagePullSecrets[0] → registry",
    ]);
  });

  it("says which Secret to create, and how, for each that is missing", () => {
    expect(refs.flatMap((r) => secretFindings("demo", "team-a", r, undefined)).map((f) => [f.message, f.fix])).toEqual([
      [
        "town demo spec.rigs[app].gitCredentialsSecret: Secret app-git-credentials does not exist in team-a: sessions of rig app cannot clone or push",
        "kubectl create secret generic app-git-credentials -n team-a --from-literal=token=<a token that can push>",
      ],
      [
        "town demo spec.agents.provider.apiKeySecret: Secret model-api-keys does not exist in team-a: sessions cannot call the model",
        "kubectl create secret generic model-api-keys -n team-a --from-literal=ANTHROPIC_API_KEY=<your API key>",
      ],
      [
        "town demo spec.agents.envFrom[0].secretRef: Secret model-api-keys does not exist in team-a: no agent session can start",
        "kubectl create secret generic model-api-keys -n team-a --from-literal=ANTHROPIC_API_KEY=<your key>",
      ],
      [
        "town demo spec.agents.imagePullSecrets[0]: Secret registry does not exist in team-a: the agent image (default) cannot be pulled, so no session starts",
        "kubectl create secret docker-registry registry -n team-a --docker-server=<registry> --docker-username=<user> --docker-password=<token>",
      ],
    ]);
  });

  it("checks the keys and the type each needs, and passes what is right", () => {
    const [git, model, envFrom, pull] = refs as [
      (typeof refs)[0],
      (typeof refs)[0],
      (typeof refs)[0],
      (typeof refs)[0],
    ];
    expect(secretFindings("demo", "team-a", git, { data: { username: "eA==" } })[0]).toEqual({
      check: "secrets",
      severity: "fail",
      message:
        'town demo spec.rigs[app].gitCredentialsSecret: Secret app-git-credentials has none of the keys "token", "password", "ssh-privatekey": sessions of rig app cannot clone or push',
      fix: `kubectl patch secret app-git-credentials -n team-a --type=merge -p '{"stringData":{"token":"<a token that can push>"}}'`,
    });
    for (const key of ["token", "password", "ssh-privatekey"])
      expect(secretFindings("demo", "team-a", git, { data: { [key]: "eA==" } })).toEqual([]);
    expect(secretFindings("demo", "team-a", model, { data: { OPENAI_API_KEY: "eA==" } })[0]?.message).toBe(
      'town demo spec.agents.provider.apiKeySecret: Secret model-api-keys has no key "ANTHROPIC_API_KEY": sessions cannot call the model',
    );
    expect(secretFindings("demo", "team-a", envFrom, { data: {} })[0]).toMatchObject({
      severity: "warn",
      message:
        "town demo spec.agents.envFrom[0].secretRef: Secret model-api-keys is empty: it gives the agent no variables",
    });
    expect(secretFindings("demo", "team-a", pull, { type: "Opaque", data: { token: "eA==" } })[0]?.fix).toMatch(
      /^kubectl delete secret registry -n team-a && kubectl create secret docker-registry registry /,
    );
    expect(
      secretFindings("demo", "team-a", pull, {
        type: "kubernetes.io/dockerconfigjson",
        data: { ".dockerconfigjson": "e30=" },
      }),
    ).toEqual([]);
    expect(secretFindings("demo", "team-a", pull, "forbidden")[0]?.severity).toBe("warn");
  });
});
