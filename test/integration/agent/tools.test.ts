// The `gt` tools against the real apiserver, run as processes with the agent's own token: the
// reports they file, the admission policy refusing an impostor, `gt prime`, and the Lease renewal.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { AgentClient } from "../../../src/agent/client.ts";
import { SessionActivity, startHeartbeat } from "../../../src/agent/heartbeat.ts";
import type { AgentReport } from "../../../src/api/agent-report.ts";
import { API_VERSION } from "../../../src/api/meta.ts";
import { sessionEnvVars } from "../../../src/api/session.ts";
import { LEASE_ANNOTATIONS } from "../../../src/controller/resources.ts";
import type { KubeHttp } from "../../../src/kube/http.ts";
import { adminHttp, create } from "../../support/gastown.ts";
import { createNamespace, kubeConfig, retryUntil, runKubectl, waitFor } from "../../support/kube.ts";
import { actAsAgent, createAgent, runGt, tempDir } from "./support.ts";

const POLICY = join(import.meta.dirname, "..", "..", "..", "manifests", "base", "admission-policy.yaml");
const AGENT = "gt-app-toast";

describe("gt tools with the agent's own credentials", () => {
  let http: KubeHttp;
  let ns: string;
  let me: Awaited<ReturnType<typeof actAsAgent>>;
  let env: Record<string, string>;

  beforeAll(async () => {
    http = adminHttp();
    ns = await createNamespace("gt-tools");
    await create(http, ns, {
      apiVersion: API_VERSION,
      kind: "Bead",
      metadata: { name: "login" },
      spec: { town: "gt", rig: "app", title: "Add a login form", description: "Email and password, with validation." },
    } as { kind: string; metadata: { name: string } });
    me = await actAsAgent(http, ns, AGENT, ["login"]);
    env = {
      ...sessionEnvVars({
        namespace: ns,
        town: "gt",
        rig: "app",
        agent: AGENT,
        role: "Polecat",
        session: 3,
        bead: "login",
        branch: "gt/app/login",
        baseBranch: "main",
        targetBranch: "main",
        repo: "/nonexistent",
        defaultBranch: "main",
        mergeStrategy: "Direct",
        workspace: tempDir("gt-tools-ws-"),
      }),
      KUBECONFIG: me.kubeconfig,
    };
  });

  const getReport = (name: string) =>
    http.json<AgentReport>({ method: "GET", path: `/apis/gastown.dev/v1alpha1/namespaces/${ns}/agentreports/${name}` });

  it("gt done creates the AgentReport as the agent, with the session's fields", async () => {
    const r = await runGt(["done", "--summary", "added the form"], env);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const name = r.stdout.match(/agentreport\/(\S+)\)/)?.[1];
    expect(name).toMatch(new RegExp(`^${AGENT}-\\d+-done$`));
    const report = await getReport(name!);
    expect(report.spec).toEqual({
      town: "gt",
      agent: AGENT,
      session: 3,
      bead: "login",
      type: "Done",
      branch: "gt/app/login",
      summary: "added the form",
    });
  });

  it("gt escalate for another agent is denied by the admission policy, and says why", async () => {
    await runKubectl(["apply", "-f", "-"], readFileSync(POLICY, "utf8"));
    await createAgent(http, ns, "gt-app-maple");
    const impostor = { ...env, GT_AGENT: "gt-app-maple" };
    // The policy reaches the apiserver's admission cache a moment after it is applied.
    const denied = await retryUntil("the admission policy to deny an impostor's report", async () => {
      const r = await runGt(["escalate", "--severity", "High", "--message", "let me report for maple"], impostor);
      if (r.status === 0) throw new Error(`accepted: ${r.stdout}`);
      return r;
    });
    expect(denied.status).toBe(1);
    expect(denied.stdout).toBe("");
    const lines = denied.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^gt escalate: the apiserver refused \(403\): /);
    expect(lines[0]).toContain(
      `an agent may only report as itself: system:serviceaccount:${ns}:${AGENT} cannot create a report for agent gt-app-maple`,
    );
    const mine = await runGt(["escalate", "--severity", "low", "--message", "fine as myself"], env);
    expect(mine.status).toBe(0);
  });

  it("gt prime prints the bead (with its checkpoint) from the API and the agent's nudges", async () => {
    await http.json({
      method: "PATCH",
      path: `/apis/gastown.dev/v1alpha1/namespaces/${ns}/agents/${AGENT}/status`,
      contentType: "application/merge-patch+json",
      body: {
        status: {
          nudges: [{ tier: "warn", time: "2026-01-01T10:00:00Z", message: "no activity for 15m: are you stuck?" }],
        },
      },
    });
    await http.json({
      method: "PATCH",
      path: `/apis/gastown.dev/v1alpha1/namespaces/${ns}/beads/login/status`,
      contentType: "application/merge-patch+json",
      body: {
        status: {
          checkpoint: { data: "form markup done", agent: AGENT, session: 2, time: "2026-01-01T09:00:00Z" },
        },
      },
    });
    const r = await runGt(["prime"], env);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    for (const text of [
      "bead login (Open): Add a login form",
      "Email and password, with validation.",
      "branch gt/app/login (base main, target main)",
      "checkpoint: form markup done",
      "[warn] 2026-01-01T10:00:00Z no activity for 15m: are you stuck?",
    ])
      expect(r.stdout).toContain(text);
  });

  it("gt prime on a bead the agent may not read prints the apiserver's refusal", async () => {
    const r = await runGt(["prime"], { ...env, GT_BEAD: "someone-elses" });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^gt prime: the apiserver refused \(403\): .*cannot get resource "beads"/);
  });

  it("renews the Lease with the agent's token, holder and activity watermark included", async () => {
    const client = new AgentClient(me.kubeConfig, { namespace: ns, town: "gt", agent: AGENT, session: 3 });
    const activity = new SessionActivity(join(tempDir("gt-activity-"), "a"), Date.parse("2026-02-03T04:05:06Z"));
    const hb = startHeartbeat({
      client,
      holder: `${AGENT}-3`,
      periodMs: 200,
      activity: () => activity.current(),
      log: () => {},
    });
    try {
      const lease = await waitFor<{
        spec?: { holderIdentity?: string; renewTime?: string };
        metadata: { annotations?: Record<string, string> };
      }>(
        kubeConfig(),
        { apiVersion: "coordination.k8s.io/v1", kind: "Lease", namespace: ns, name: AGENT },
        (l) => l?.spec?.holderIdentity === `${AGENT}-3`,
        { description: "the agent's Lease to be renewed by its heartbeat" },
      );
      expect(lease?.spec?.renewTime).toBeTruthy();
      expect(lease?.metadata.annotations).toMatchObject({
        [LEASE_ANNOTATIONS.session]: "3",
        [LEASE_ANNOTATIONS.activityTime]: "2026-02-03T04:05:06.000Z",
        [LEASE_ANNOTATIONS.activityKind]: "start",
        [LEASE_ANNOTATIONS.activeTools]: "0",
      });
      const first = Date.parse(lease!.spec!.renewTime!);
      activity.touch("output", Date.parse("2026-02-03T05:00:00Z"));
      await waitFor<{ spec?: { renewTime?: string }; metadata: { annotations?: Record<string, string> } }>(
        kubeConfig(),
        { apiVersion: "coordination.k8s.io/v1", kind: "Lease", namespace: ns, name: AGENT },
        (l) =>
          Date.parse(l?.spec?.renewTime ?? "") > first &&
          l?.metadata.annotations?.[LEASE_ANNOTATIONS.activityKind] === "output",
        { description: "a later renewal carrying the new activity" },
      );
    } finally {
      hb.stop();
    }
  });

  it("a new session's renewal clears what the last session said about itself, not the user nudge it took", async () => {
    const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${AGENT}`;
    const admin = adminHttp();
    const old = new AgentClient(me.kubeConfig, { namespace: ns, town: "gt", agent: AGENT, session: 7 });
    await old.heartbeat(`${AGENT}-7`, undefined, Date.now(), {
      [LEASE_ANNOTATIONS.usage]: JSON.stringify({ inputTokens: 500 }),
      [LEASE_ANNOTATIONS.cliSession]: "conversation-7",
      [LEASE_ANNOTATIONS.userNudgeDelivered]: "n1",
    });
    const next = new AgentClient(me.kubeConfig, { namespace: ns, town: "gt", agent: AGENT, session: 8 });
    await next.heartbeat(`${AGENT}-8`);
    const lease = await admin.json<{ metadata: { annotations?: Record<string, string> } }>({
      method: "GET",
      path: leasePath,
    });
    expect(lease.metadata.annotations?.[LEASE_ANNOTATIONS.session]).toBe("8");
    expect(lease.metadata.annotations?.[LEASE_ANNOTATIONS.usage]).toBeUndefined();
    expect(lease.metadata.annotations?.[LEASE_ANNOTATIONS.cliSession]).toBeUndefined();
    expect(lease.metadata.annotations?.[LEASE_ANNOTATIONS.userNudgeDelivered]).toBe("n1");
  });
});
