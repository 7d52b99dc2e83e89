// GitOps health of real objects: the operator (pod runtime) and the test crew drive Towns,
// Convoys, Beads and Agents through their phases on the local control plane, and at each phase
// the live object is judged by the Argo CD health script of its kind (run by health-lua, in Argo
// CD's argocd-cm sandbox) and by kstatus (what Flux's `wait` and cli-utils compute):
//   Landed → Healthy, Failed/held → Degraded, Active → Progressing, Staged → Suspended.
// With GASTOWN_CAPTURE_HEALTH_FIXTURES=1 the objects are also written as Argo CD test fixtures
// (testdata/*.yaml and health_test.yaml beside each health.lua), which `health-lua test` checks in
// the unit tests; re-capture after a change to status semantics.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KubernetesObject } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import type { Operator } from "../../src/controller/operator.ts";
import { Crew, finishWork, type SessionScript } from "../support/crew.ts";
import { adminHttp, convoyManifest, create, startTestOperator, townManifest } from "../support/gastown.ts";
import { createNamespace, kubeConfig, plain, waitFor } from "../support/kube.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const SCRIPTS = join(ROOT, "manifests", "argocd", "resource_customizations", "gastown.dev");
const BIN = join(ROOT, "hack", "bin");
const CAPTURE = process.env.GASTOWN_CAPTURE_HEALTH_FIXTURES === "1";
const API = "gastown.dev/v1alpha1";
const http = adminHttp();
const kc = kubeConfig();
const tmp = mkdtempSync(join(tmpdir(), "gastown-health-"));

type Kind = "Town" | "Convoy" | "Bead" | "Agent";
type Obj = KubernetesObject & { spec?: Record<string, unknown>; status?: Record<string, unknown> };

function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(join(BIN, command), args, (err, stdout, stderr) =>
      err ? reject(new Error(`${command} ${args.join(" ")}: ${stderr || err.message}\n${stdout}`)) : resolve(stdout),
    ),
  );
}

async function judge(kind: Kind, obj: Obj): Promise<{ argo: { status: string; message: string }; kstatus: string }> {
  const file = join(tmp, `${kind}-${obj.metadata?.name}.json`);
  writeFileSync(file, JSON.stringify(obj));
  const argo = JSON.parse(await run("health-lua", ["eval", join(SCRIPTS, kind, "health.lua"), file]));
  const ks = JSON.parse((await run("kstatus", [file])).trim()) as { status: string };
  return { argo, kstatus: ks.status };
}

// Fixtures: one file per case, named <expected argo status>_<what>.yaml, as Argo CD's are.
const fixtures = new Map<Kind, { inputPath: string; healthStatus: { status: string; message: string } }[]>();
function fixture(kind: Kind, what: string, obj: Obj, health: { status: string; message: string }): void {
  if (!CAPTURE) return;
  const o = structuredClone(obj) as Obj;
  delete o.metadata?.managedFields;
  // Stable across captures: the test namespace is random.
  if (o.metadata) o.metadata.namespace = "demo";
  const name = `${health.status.toLowerCase()}_${what}.yaml`;
  writeFileSync(join(SCRIPTS, kind, "testdata", name), stringify(o, { lineWidth: 0 }));
  const list = fixtures.get(kind) ?? [];
  list.push({ inputPath: `testdata/${name}`, healthStatus: health });
  fixtures.set(kind, list);
}

let ns: string;
let operator: Operator;
let crew: Crew;
let release: () => void = () => {};
const released = new Promise<void>((resolve) => {
  release = resolve;
});

/** Sessions of beads of convoy "hold" work until the test ends; those of "hung" stop all activity. */
const script: SessionScript = async (s) => {
  if (s.bead.startsWith("hold-")) return released;
  if (s.bead.startsWith("hung-")) {
    // A hung agent: its runtime still renews the Lease, but the agent has done nothing for an hour.
    s.stopHeartbeat();
    const beat = () =>
      s.client.heartbeat(s.pod, { time: Date.now() - 3_600_000, kind: "thinking", activeTools: 0 }).catch(() => {});
    await beat();
    const timer = setInterval(beat, 500);
    await released;
    clearInterval(timer);
    return;
  }
  return finishWork(s);
};

const get = (kind: Kind, name: string, check: (o: Obj | undefined) => boolean, description: string) =>
  waitFor<Obj>(kc, { apiVersion: API, kind, namespace: ns, name }, check, { description, timeoutMs: 90_000 }).then(
    (o) => plain(o) as Obj,
  );

const phase = (p: string) => (o: Obj | undefined) =>
  o?.status?.phase === p && o.status.observedGeneration === o.metadata?.generation;
/** Agents' status is the operator's own record of sessions; it carries no observedGeneration. */
const agentPhase = (p: string) => (o: Obj | undefined) => o?.status?.phase === p;

beforeAll(async () => {
  ns = await createNamespace("gitops-health", { labels: { "pod-security.kubernetes.io/enforce": "restricted" } });
  operator = await startTestOperator(ns);
  crew = new Crew(kc, ns, script).start();
  await create(http, ns, townManifest("gt", { limits: { maxPolecatsPerRig: 4 } }));
  await create(http, ns, { ...townManifest("paused", { suspend: true }) });
  // GUPP within seconds (activity counts from the session's start at the earliest).
  await create(
    http,
    ns,
    townManifest("sleepy", { timeouts: { guppWarn: "1s", guppEscalate: "2s", guppForceStop: "3s" } }),
  );
  // Its sessions cannot start: the Secret its agents need does not exist (the local cluster's kwok
  // stages put such a pod into CreateContainerConfigError, as the kubelet would).
  const keyless = townManifest("keyless");
  Object.assign(keyless.spec.agents, {
    env: [{ name: "MODEL_KEY", valueFrom: { secretKeyRef: { name: "missing-model-key", key: "k" } } }],
  });
  await create(http, ns, keyless);
});

afterAll(async () => {
  release();
  await crew?.stop();
  await operator?.stop();
  rmSync(tmp, { recursive: true, force: true });
  if (CAPTURE) {
    for (const [kind, tests] of fixtures) {
      tests.sort((a, b) => a.inputPath.localeCompare(b.inputPath));
      writeFileSync(
        join(SCRIPTS, kind, "health_test.yaml"),
        `# Captured from the local control plane by test/integration/gitops-health.test.ts\n# (GASTOWN_CAPTURE_HEALTH_FIXTURES=1); checked by \`health-lua test\` in the unit tests.\n${stringify({ tests }, { lineWidth: 0 })}`,
      );
    }
  }
});

async function expectHealth(kind: Kind, what: string, obj: Obj, argo: string, kstatus: string): Promise<void> {
  const verdict = await judge(kind, obj);
  expect(verdict.argo.status, `${kind} ${what}: ${verdict.argo.message}`).toBe(argo);
  expect(verdict.kstatus, `${kind} ${what} kstatus`).toBe(kstatus);
  fixture(kind, what, obj, verdict.argo);
}

describe("health of live objects, by Argo CD's script and by kstatus", () => {
  it("Landed convoy, Closed beads, Ready town, Idle agent: Healthy / Current", async () => {
    await create(http, ns, convoyManifest("done", "gt", [{ name: "a" }, { name: "b", dependsOn: ["a"] }]));
    const convoy = await get("Convoy", "done", phase("Landed"), "convoy done to land");
    await expectHealth("Convoy", "landed", convoy, "Healthy", "Current");
    await expectHealth(
      "Bead",
      "closed",
      await get("Bead", "done-a", phase("Closed"), "done-a Closed"),
      "Healthy",
      "Current",
    );
    const town = await get("Town", "gt", (t) => t?.status?.observedGeneration === t?.metadata?.generation, "town gt");
    await expectHealth("Town", "ready", town, "Healthy", "Current");
    const agent = await get("Agent", "gt-app-refinery", agentPhase("Idle"), "the refinery to be Idle");
    await expectHealth("Agent", "idle", agent, "Healthy", "Current");
  });

  it("Staged convoy and its beads: Suspended; kstatus sees them in progress forever", async () => {
    await create(http, ns, convoyManifest("later", "gt", [{ name: "a" }], { staged: true }));
    await expectHealth(
      "Convoy",
      "staged",
      await get("Convoy", "later", phase("Staged"), "convoy later Staged"),
      "Suspended",
      "InProgress",
    );
    const bead = await get(
      "Bead",
      "later-a",
      (b) => phase("Open")(b) && JSON.stringify(b?.status).includes("Staged"),
      "later-a waiting, staged",
    );
    await expectHealth("Bead", "staged", bead, "Suspended", "InProgress");
  });

  it("suspended town: Suspended", async () => {
    const town = await get(
      "Town",
      "paused",
      (t) => t?.status?.observedGeneration === t?.metadata?.generation,
      "town paused reconciled",
    );
    await expectHealth("Town", "suspended", town, "Suspended", "Current");
  });

  it("Active convoy, InProgress and blocked beads: Progressing; a Working agent: Healthy", async () => {
    await create(http, ns, convoyManifest("hold", "gt", [{ name: "a" }, { name: "b", dependsOn: ["a"] }]));
    await expectHealth(
      "Convoy",
      "active",
      await get("Convoy", "hold", phase("Active"), "convoy hold Active"),
      "Progressing",
      "InProgress",
    );
    const bead = await get("Bead", "hold-a", phase("InProgress"), "hold-a InProgress");
    await expectHealth("Bead", "inProgress", bead, "Progressing", "InProgress");
    await expectHealth(
      "Bead",
      "blocked",
      await get("Bead", "hold-b", phase("Open"), "hold-b Open"),
      "Progressing",
      "InProgress",
    );
    const assignee = String(bead.status?.assignee);
    const agent = await get("Agent", assignee, agentPhase("Working"), `${assignee} Working`);
    await expectHealth("Agent", "working", agent, "Healthy", "Current");
  });

  it("cancelled task: Failed bead and a convoy held on it: Degraded / Failed", async () => {
    await create(http, ns, convoyManifest("doomed", "gt", [{ name: "a" }], { staged: true }));
    await get("Bead", "doomed-a", phase("Open"), "doomed-a created");
    await http.json({
      method: "PATCH",
      path: `/apis/gastown.dev/v1alpha1/namespaces/${ns}/beads/doomed-a`,
      contentType: "application/merge-patch+json",
      body: { spec: { cancel: true } },
    });
    const bead = await get("Bead", "doomed-a", phase("Failed"), "doomed-a Failed");
    await expectHealth("Bead", "cancelled", bead, "Degraded", "Failed");
    await http.json({
      method: "PATCH",
      path: `/apis/gastown.dev/v1alpha1/namespaces/${ns}/convoys/doomed`,
      contentType: "application/merge-patch+json",
      body: { spec: { staged: false } },
    });
    const stalled = (c: Obj | undefined) =>
      c?.status?.observedGeneration === c?.metadata?.generation &&
      ((c?.status?.conditions ?? []) as { type: string; status: string }[]).some(
        (x) => x.type === "Stalled" && x.status === "True",
      );
    await expectHealth(
      "Convoy",
      "taskFailed",
      await get("Convoy", "doomed", stalled, "convoy doomed held on its failed task"),
      "Degraded",
      "Failed",
    );
  });

  it("sessions that cannot start (a missing Secret): the held bead and its Town Degraded / Failed", async () => {
    await create(http, ns, convoyManifest("nokey", "keyless", [{ name: "a" }]));
    const held = (b: Obj | undefined) =>
      (b?.status?.hold as { reason?: string } | undefined)?.reason === "SessionCannotStart";
    await expectHealth("Bead", "held", await get("Bead", "nokey-a", held, "nokey-a held"), "Degraded", "Failed");
    const cannotStart = (t: Obj | undefined) =>
      ((t?.status?.conditions ?? []) as { type: string; reason: string }[]).some(
        (c) => c.type === "Stalled" && c.reason === "AgentsCannotStart",
      );
    await expectHealth(
      "Town",
      "agentsCannotStart",
      await get("Town", "keyless", cannotStart, "town keyless Ready=False AgentsCannotStart"),
      "Degraded",
      "Failed",
    );
  });

  it("agent stopped for inactivity (GUPP): Degraded", async () => {
    await create(http, ns, convoyManifest("hung", "sleepy", [{ name: "a" }]));
    const bead = await get("Bead", "hung-a", phase("InProgress"), "hung-a dispatched");
    const agent = await get(
      "Agent",
      String(bead.status?.assignee),
      agentPhase("Stalled"),
      "the hung agent to be Stalled",
    );
    await expectHealth("Agent", "stalled", agent, "Degraded", "Failed");
  });
});
