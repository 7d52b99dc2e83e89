// Security is on in the local cluster: a ServiceAccount token from the TokenRequest API
// authenticates as that account, RBAC grants exactly what its Role says, and admission runs
// (a ValidatingAdmissionPolicy denies). Agents rely on the first two, the operator's manifests on
// the third.
import {
  AdmissionregistrationV1Api,
  AuthenticationV1Api,
  CoreV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiError, createNamespace, expectApiError, kubeConfig, retryUntil } from "../support/kube.ts";

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
let ns: string;

beforeAll(async () => {
  ns = await createNamespace("auth");
});

/** A KubeConfig for the same cluster that authenticates with a bearer token only. */
function tokenKubeConfig(token: string): KubeConfig {
  const admin = kc.getCurrentCluster()!;
  const out = new KubeConfig();
  out.loadFromOptions({
    clusters: [{ name: "c", server: admin.server, caData: admin.caData, skipTLSVerify: false }],
    users: [{ name: "u", token }],
    contexts: [{ name: "ctx", cluster: "c", user: "u" }],
    currentContext: "ctx",
  });
  return out;
}

describe("service-account tokens and RBAC", () => {
  it("a TokenRequest token acts as its ServiceAccount, allowed only what its Role grants", async () => {
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: "reporter" } } });
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: "read-configmaps" },
        rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list"] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: "reporter-reads-configmaps" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "read-configmaps" },
        subjects: [{ kind: "ServiceAccount", name: "reporter", namespace: ns }],
      },
    });
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "settings" }, data: { a: "1" } } });

    const tokenRequest = await core.createNamespacedServiceAccountToken({
      namespace: ns,
      name: "reporter",
      body: { spec: { audiences: [], expirationSeconds: 600 } },
    });
    const token = tokenRequest.status?.token;
    expect(token).toBeTruthy();
    const asReporter = tokenKubeConfig(token!);

    const review = await asReporter.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    expect(review.status?.userInfo?.username).toBe(`system:serviceaccount:${ns}:reporter`);
    expect(review.status?.userInfo?.groups).toContain(`system:serviceaccounts:${ns}`);

    // The RBAC authorizer sees new bindings through its informers: allow it a moment.
    const reporterCore = asReporter.makeApiClient(CoreV1Api);
    const cm = await retryUntil("the Role binding to reach the RBAC authorizer", () =>
      reporterCore.readNamespacedConfigMap({ namespace: ns, name: "settings" }),
    );
    expect(cm.data).toEqual({ a: "1" });

    const write = await expectApiError(
      reporterCore.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "sneaky" } } }),
    );
    expect(write.code).toBe(403);
    expect(write.message).toContain(`system:serviceaccount:${ns}:reporter`);
    const secrets = await expectApiError(reporterCore.listNamespacedSecret({ namespace: ns }));
    expect(secrets.code).toBe(403);
    const elsewhere = await expectApiError(reporterCore.listNamespacedConfigMap({ namespace: "default" }));
    expect(elsewhere.code).toBe(403);
  });

  it("refuses a token that is not signed by the cluster", async () => {
    const forged = tokenKubeConfig("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06YWRtaW4ifQ.c2lnbmF0dXJl");
    const err = await expectApiError(forged.makeApiClient(CoreV1Api).listNamespace());
    expect(err.code).toBe(401);
  });
});

describe("admission", () => {
  const admission = kc.makeApiClient(AdmissionregistrationV1Api);
  const policy = `deny-forbidden-configmaps-${Math.random().toString(36).slice(2, 8)}`;

  afterAll(async () => {
    for (const call of [
      () => admission.deleteValidatingAdmissionPolicyBinding({ name: policy }),
      () => admission.deleteValidatingAdmissionPolicy({ name: policy }),
    ]) {
      try {
        await call();
      } catch (err) {
        if (apiError(err)?.code !== 404) throw err;
      }
    }
  });

  it("enforces a ValidatingAdmissionPolicy", async () => {
    await admission.createValidatingAdmissionPolicy({
      body: {
        metadata: { name: policy },
        spec: {
          failurePolicy: "Fail",
          matchConstraints: {
            resourceRules: [
              { apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["configmaps"] },
            ],
          },
          validations: [
            {
              expression: "!has(object.data) || !('forbidden' in object.data)",
              message: "configmaps may not carry the key 'forbidden'",
            },
          ],
        },
      },
    });
    await admission.createValidatingAdmissionPolicyBinding({
      body: {
        metadata: { name: policy },
        spec: {
          policyName: policy,
          validationActions: ["Deny"],
          matchResources: { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } } },
        },
      },
    });

    // The admission plugin loads policies through its own informer; nothing to watch for that.
    const denied = await retryUntil("the policy to deny a ConfigMap with key 'forbidden'", async () => {
      const err = await expectApiError(
        core.createNamespacedConfigMap({
          namespace: ns,
          dryRun: "All",
          body: { metadata: { name: "bad" }, data: { forbidden: "yes" } },
        }),
      );
      if (err.code !== 422) throw new Error(`unexpected refusal ${err.code}: ${err.message}`);
      return err;
    });
    expect(denied.message).toContain(`ValidatingAdmissionPolicy '${policy}'`);
    expect(denied.message).toContain("configmaps may not carry the key 'forbidden'");

    // The policy is specific: a harmless ConfigMap is still admitted, in this namespace only.
    await core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: "fine" }, data: { ok: "1" } } });
  });
});
