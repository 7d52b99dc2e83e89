// Chaos on the shell: mid-convoy, kube-apiserver is killed and later etcd is stopped, each left
// down until the operator has noticed (it steps down: its lease could not be renewed), then started
// again with the same flags, ports and data. The operator process is never restarted: its
// informers, leader election and work queue must recover by themselves, the convoy must land,
// nothing may be created twice (pods, beads, merge requests, the landing) and no invariant may be
// violated, neither in the final state nor on the way (the Town's status.violations and the
// operator's gastown_invariant_violations_total).
//
// The test brings its own control plane, so that stopping it cannot disturb the other files.
import type { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Component, type LocalCluster, startLocalCluster } from "../../../hack/local-cluster.ts";
import type { AgentReport } from "../../../src/api/agent-report.ts";
import type { Convoy } from "../../../src/api/convoy.ts";
import type { KubeHttp } from "../../../src/controller/kube-http.ts";
import { Crew } from "../../support/crew.ts";
import {
  adminHttp,
  convoyManifest,
  counterTotal,
  create,
  kubeConfigFromFile,
  type LogEntry,
  nonZeroSeries,
  type OperatorProcess,
  spawnOperator,
  townManifest,
} from "../../support/gastown.ts";
import { History } from "../../support/history.ts";
import { waitFor } from "../../support/kube.ts";
import { Outages } from "../../support/outages.ts";
import { expectLandedOnce, expectNoDuplicateSessions, expectNoViolations } from "../../support/safety.ts";

const NS = "chaos";
const TASKS = [
  { name: "a" },
  { name: "b", dependsOn: ["a"] },
  { name: "c", dependsOn: ["a"] },
  { name: "d", dependsOn: ["b", "c"] },
  { name: "e" },
  { name: "f", dependsOn: ["d", "e"] },
];

const loggedAt = (e: LogEntry) => Date.parse(String(e.time));
// Heartbeats cannot reach the apiserver while it is down: a timeout longer than an outage keeps
// this test about the shell, not about lost sessions (lost-sessions.test.ts has those).
const HEARTBEAT_TIMEOUT_S = 90;
const STARTUP_GRACE_S = 60;
/** How long a claim whose hook was never written waits before it is reopened. */
const START_WINDOW_MS = (HEARTBEAT_TIMEOUT_S + STARTUP_GRACE_S) * 1000;
/** Each outage may cut a claim from its hook: one start window each, beyond the convoy's own time. */
const LANDING_MS = 2 * START_WINDOW_MS + 160_000;

describe("the control plane stopped and restarted under a convoy", () => {
  let cluster: LocalCluster;
  let kc: KubeConfig;
  let http: KubeHttp;
  let history: History;
  let crew: Crew;
  let operator: OperatorProcess;
  let metricsPort: number;
  const outages = new Outages();
  const clusterLog: string[] = [];
  const timeline: string[] = [];
  const t0 = Date.now();
  const mark = (what: string) => timeline.push(`${((Date.now() - t0) / 1000).toFixed(1)}s ${what}`);

  beforeAll(async () => {
    cluster = await startLocalCluster({ nodes: 1, log: (line) => clusterLog.push(line) });
    kc = kubeConfigFromFile(cluster.kubeconfigPath);
    http = adminHttp(cluster.kubeconfigPath);
    await http.json({ method: "POST", path: "/api/v1/namespaces", body: { metadata: { name: NS } } });
    history = new History(http, NS);
    crew = new Crew(kc, NS, { through: outages.through }).start();
    await create(
      http,
      NS,
      townManifest("gt", {
        timeouts: { heartbeatTimeout: `${HEARTBEAT_TIMEOUT_S}s`, startupGrace: `${STARTUP_GRACE_S}s` },
      }),
    );
    operator = spawnOperator(NS, "survivor", ["--leader-elect", `--leader-election-namespace=${NS}`], {
      kubeconfig: cluster.kubeconfigPath,
    });
    metricsPort = (await operator.ready).port;
  }, 240_000);

  afterAll(async () => {
    await operator?.kill("SIGKILL");
    await crew?.stop();
    history?.stop();
    await cluster?.stop();
  });

  /**
   * Stops the component and keeps it down until the operator has noticed (its leader lease could
   * not be renewed within the renew deadline, so it stopped leading), then starts it again and
   * waits until the operator leads again — in the same process.
   */
  async function outage(component: Component, opts: { crash?: boolean } = {}): Promise<void> {
    outages.begin();
    const stoppedAt = Date.now();
    await cluster.stopComponent(component, opts);
    mark(`${component} stopped`);
    await operator.logged(
      (e) => e.msg === "stopped leading" && loggedAt(e) >= stoppedAt,
      `the operator to step down while ${component} is down`,
    );
    mark("the operator stepped down");
    const restartedAt = Date.now();
    await cluster.startComponent(component);
    outages.finish();
    mark(`${component} serves again`);
    await operator.logged(
      (e) => e.msg === "leading: reconciling towns" && loggedAt(e) >= restartedAt,
      `the operator to lead again after ${component} restarted`,
    );
    mark("the operator leads again");
  }

  it(
    "recovers without a restart of the operator; the convoy lands once, with no duplicates or violations",
    async ({ onTestFailed }) => {
      onTestFailed(() => {
        process.stderr.write(`timeline:\n${timeline.join("\n")}\n`);
        process.stderr.write(`control plane (logs in ${cluster.dataDir}/logs):\n${clusterLog.join("\n")}\n`);
        const said = operator.log().filter((e) => e.level === "warn" || e.level === "error");
        process.stderr.write(`operator warnings and errors:\n${said.map((e) => JSON.stringify(e)).join("\n")}\n`);
      });
      await create(http, NS, convoyManifest("chaos", "gt", TASKS));
      const landed = waitFor(
        kc,
        { apiVersion: "gastown.dev/v1alpha1", kind: "Convoy", namespace: NS, name: "chaos" },
        (c) => (c as unknown as Convoy | undefined)?.status?.phase === "Landed",
        { description: "convoy chaos to land", timeoutMs: LANDING_MS },
      );
      landed.catch(() => {}); // awaited below; a rejection while the apiserver is down is not news

      mark("convoy created");
      await history.beadTransitions(12);
      await outage("kube-apiserver", { crash: true });
      const afterApiserver = history.beads.length;
      // Progress after the restart: the informers deliver again and the operator acts on it. The
      // kill can fall between a bead's claim and its agent's hook (seen in CI and under load): that
      // bead is reopened only once the session start window has passed (docs/rules.md, Beads), so
      // the wait covers the window; anything else comes well before.
      await history.beadTransitions(afterApiserver + 10, START_WINDOW_MS + 60_000);
      await outage("etcd");

      const convoy = (await landed) as unknown as Convoy;
      mark("the convoy landed");
      process.stderr.write(`timeline:\n${timeline.join("\n")}\n`);
      expect(convoy.status?.progress?.closed).toBe(TASKS.length);

      // One operator process throughout: it started once and never exited.
      expect(operator.child.exitCode).toBeNull();
      expect(operator.child.signalCode).toBeNull();
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(metrics).toContain("# TYPE gastown_invariant_violations_total counter");
      expect(counterTotal(metrics, "gastown_invariant_violations_total")).toBe(0);
      // The Events of what happened around the outages were written once the apiserver was back.
      expect(nonZeroSeries(metrics, "event_recorder_dropped_total")).toEqual([]);

      await expectLandedOnce(
        http,
        NS,
        "chaos",
        TASKS.map((t) => t.name),
      );
      expectNoDuplicateSessions(history);
      await expectNoViolations(http, NS, "gt");
      // An outage is nobody's fault: no report was charged a failed attempt for it (three poison it).
      const reports = await http.json<{ items: AgentReport[] }>({
        method: "GET",
        path: `/apis/gastown.dev/v1alpha1/namespaces/${NS}/agentreports`,
      });
      const charged = reports.items.filter((r) => (r.status?.attempts ?? 0) > 0);
      expect(charged.map((r) => `${r.metadata.name}: ${r.status?.error}`)).toEqual([]);
      expect(crew.errors).toEqual([]);
    },
    LANDING_MS + 80_000,
  );
});
