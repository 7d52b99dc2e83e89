// The world is the actuator's contract, checked: every scenario of scenarios.ts runs through the
// in-memory world and through the real actuator on the local control plane, and after every
// step both must hold the same objects, session pods, leases and Events (see contract.ts).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubeApiError } from "../../../src/kube/errors.ts";
import type { KubeHttp } from "../../../src/kube/http.ts";
import { TestForge } from "../../support/forge.ts";
import { adminHttp, townManifest } from "../../support/gastown.ts";
import { createNamespace, kubeConfig, retryUntil } from "../../support/kube.ts";
import { ALL_ACTION_TYPES, Contract, type DenialMessage } from "./contract.ts";
import { SCENARIOS, T0 } from "./scenarios.ts";

const POLICY = "gastown-contract-deny";
const LABEL = "gastown.dev/contract";
const ADMISSION = "/apis/admissionregistration.k8s.io/v1";

/**
 * A real refusal for the "write that fails" rows: the API server denies creating merge requests of
 * beads named denied-… in the suite's namespaces, as a webhook or a quota would.
 */
async function installDenial(http: KubeHttp): Promise<DenialMessage> {
  const metadata = { name: POLICY, labels: { "gastown.dev/test": "true" } };
  await http.json({
    method: "POST",
    path: `${ADMISSION}/validatingadmissionpolicies`,
    body: {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicy",
      metadata,
      spec: {
        failurePolicy: "Fail",
        matchConstraints: {
          resourceRules: [
            { apiGroups: ["gastown.dev"], apiVersions: ["v1alpha1"], operations: ["CREATE"], resources: ["beads"] },
          ],
        },
        validations: [
          {
            expression: "!object.metadata.name.startsWith('denied-')",
            message: "the contract suite refuses this bead",
          },
        ],
      },
    },
  });
  await http.json({
    method: "POST",
    path: `${ADMISSION}/validatingadmissionpolicybindings`,
    body: {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicyBinding",
      metadata,
      spec: {
        policyName: POLICY,
        validationActions: ["Deny"],
        matchResources: { namespaceSelector: { matchLabels: { [LABEL]: "true" } } },
      },
    },
  });
  const probe = await createNamespace("contract-probe", { labels: { [LABEL]: "true" } });
  let n = 0;
  const name = await retryUntil("the contract's admission policy to deny beads named denied-…", async () => {
    const candidate = `denied-probe-${n++}`;
    try {
      await http.json({
        method: "POST",
        path: `/apis/gastown.dev/v1alpha1/namespaces/${probe}/beads`,
        body: {
          apiVersion: "gastown.dev/v1alpha1",
          kind: "Bead",
          metadata: { name: candidate },
          spec: { town: "gt", title: "probe" },
        },
      });
    } catch (e) {
      if (e instanceof KubeApiError && e.statusCode === 422) return { candidate, message: e.message };
      if (e instanceof KubeApiError && e.statusCode === 403) return { candidate, message: e.message };
      throw e;
    }
    throw new Error(`${candidate} was admitted`);
  });
  return (bead) => name.message.replaceAll(name.candidate, bead);
}

async function removeDenial(http: KubeHttp): Promise<void> {
  for (const kind of ["validatingadmissionpolicybindings", "validatingadmissionpolicies"]) {
    await http.json({ method: "DELETE", path: `${ADMISSION}/${kind}/${POLICY}` }).catch(() => {});
  }
}

describe("the world is the actuator's contract", () => {
  let http: KubeHttp;
  let forge: TestForge;
  let denial: DenialMessage;

  beforeAll(async () => {
    http = adminHttp();
    forge = await new TestForge().start();
    await removeDenial(http);
    denial = await installDenial(http);
  });

  afterAll(async () => {
    await removeDenial(http);
    await forge?.stop();
  });

  it("every action type has a scenario that applies it on both sides", () => {
    const covered = new Set(SCENARIOS.flatMap((s) => s.covers));
    expect(ALL_ACTION_TYPES.filter((t) => !covered.has(t))).toEqual([]);
  });

  it.each(SCENARIOS)("$name", async (scenario) => {
    const ns = await createNamespace(`contract-${scenario.name}`, { labels: { [LABEL]: "true" } });
    forge.pulls.clear();
    const c = await Contract.open({
      ns,
      http,
      kc: kubeConfig(),
      town: townManifest("gt", {
        rigs: [
          { name: "app", repo: "https://git.example.com/app.git", gates: ["true"] },
          {
            name: "pr",
            repo: "https://git.example.com/pr.git",
            mergeStrategy: "PullRequest",
            forge: { provider: "GitHub", apiURL: forge.apiURL },
          },
        ],
        // Scripts take their time between steps; sessions should not look lost meanwhile.
        timeouts: { heartbeatTimeout: "5m", startupGrace: "5m" },
        ...(scenario.town ?? {}),
      }),
      forge,
      denial,
      start: T0,
    });
    try {
      await scenario.run(c);
      expect(
        scenario.covers.filter((t) => !c.applied.has(t)),
        "action types this scenario claims to apply",
      ).toEqual([]);
    } finally {
      await c.close();
    }
  });
});
