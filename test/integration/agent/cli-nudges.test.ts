// Activity and nudges with a real CLI: GUPP counts "no open tool and no recent event", not "no
// output" (Claude Code prints nothing while a tool runs), and a nudge — GUPP's or a person's —
// reaches the running session: the next model request the server receives carries its text.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NUDGE_PREFIX } from "../../../src/agent/prompt.ts";
import type { Agent } from "../../../src/api/agent.ts";
import type { AgentCli } from "../../../src/api/town.ts";
import type { KubeHttp } from "../../../src/controller/kube-http.ts";
import { AGENTS, apiPath, LEASE_ANNOTATIONS, LEASES } from "../../../src/controller/resources.ts";
import { adminHttp, create, waitForBead } from "../../support/gastown.ts";
import { createNamespace, kubeConfig } from "../../support/kube.ts";
import { type ModelServer, startModelServer } from "../../support/model-server.ts";
import { pollUntil } from "../../support/processes.ts";
import {
  type CliOperator,
  cliTown,
  createKeySecret,
  polecatScript,
  sessionLogTails,
  startCliOperator,
  townScripts,
} from "../../support/real-agents.ts";
import { createOrigin } from "../../unit/agent/fixtures.ts";

const bead = (name: string) => ({
  apiVersion: "gastown.dev/v1alpha1",
  kind: "Bead",
  metadata: { name },
  spec: { town: "gt", rig: "app", title: `Work on ${name}`, description: "A scripted task." },
});

async function hookedAgent(http: KubeHttp, ns: string, beadName: string): Promise<Agent | undefined> {
  const list = await http.json<{ items: Agent[] }>({ method: "GET", path: apiPath(AGENTS, ns) });
  return list.items.find((a) => a.spec.hook === beadName && a.spec.role === "Polecat");
}

function suite(cli: AgentCli, timeouts: Record<string, string>) {
  let http: KubeHttp;
  let model: ModelServer;
  let ns: string;
  let dir: string;
  let op: CliOperator;

  beforeAll(async () => {
    http = adminHttp();
    model = await startModelServer({ scriptFor: townScripts(["true"]) });
    ns = await createNamespace(`nudge-${cli}`);
    dir = mkdtempSync(join(tmpdir(), `gt-nudge-${cli}-`));
    op = await startCliOperator(ns, dir, kubeConfig());
    const origin = createOrigin();
    await createKeySecret(http, ns);
    await create(http, ns, cliTown("gt", { cli, repo: origin.bare, model, gates: ["true"], timeouts }));
  });

  afterAll(async () => {
    await op?.stop();
    await model?.close();
    if (!process.env.GASTOWN_TEST_KEEP) rmSync(dir, { recursive: true, force: true });
  });

  const closed = (name: string, what: string) =>
    waitForBead(ns, name, (b) => b?.status?.phase === "Closed", what, 300_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${sessionLogTails(op.sessionsDir, ns)}`);
    });

  return {
    get http() {
      return http;
    },
    get ns() {
      return ns;
    },
    get model() {
      return model;
    },
    get op() {
      return op;
    },
    closed,
  };
}

describe("Claude Code: activity versus GUPP, and nudges into the running session", () => {
  // GUPP warns after 4 s without activity; the tool below runs for 10 s, then the model is silent 10 s.
  const s = suite("claude-code", { guppWarn: "4s", guppEscalate: "5m", guppForceStop: "10m" });

  it("sends no warn while a tool is open; after it ends and the model goes silent, the warn reaches the next request", async () => {
    const name = "slow";
    const work = polecatScript(name);
    s.model.script(name, [{ shell: "sleep 10 && echo slept" }, { delayMs: 10_000, shell: "echo back" }, ...work]);
    await create(s.http, s.ns, bead(name));
    await s.closed(name, "to be merged after the slow session");

    const requests = s.model.requestsFor(name).filter((r) => r.status === 200);
    const toolEnded = requests.find((r) => r.step === 1)!.time;
    const agent = (await s.http.json<{ items: Agent[] }>({ method: "GET", path: apiPath(AGENTS, s.ns) })).items.find(
      (a) => a.spec.role === "Polecat",
    )!;
    const warns = (agent.status?.nudges ?? []).filter((n) => n.tier === "warn");
    expect(warns).toHaveLength(1);
    // Not during the 10 s tool (the status keeps seconds): only once the model had gone silent.
    expect(Date.parse(warns[0]!.time)).toBeGreaterThanOrEqual(Math.floor(toolEnded / 1000) * 1000 + 4000);
    // The request after the silence is the first that carries it, through the PostToolUse hook.
    const carrying = requests.filter((r) => r.text.includes(`${NUDGE_PREFIX} (warn) ${warns[0]!.message}`));
    expect(carrying[0]?.step).toBe(2);
    const lease = await s.http.json<{ metadata: { annotations?: Record<string, string> } }>({
      method: "GET",
      path: apiPath(LEASES, s.ns, agent.metadata.name),
    });
    expect(JSON.parse(lease.metadata.annotations?.[LEASE_ANNOTATIONS.nudgeDelivered] ?? "{}")).toMatchObject({
      key: `warn@${warns[0]!.time}`,
      via: "hook",
    });
    // And on the Agent, for kubectl: delivered, how and when.
    expect(agent.status?.nudgeDelivery).toMatchObject({
      nudge: `warn@${warns[0]!.time}`,
      result: "Delivered",
      via: "hook",
    });
    expect(s.op.trap.violations()).toEqual([]);
  }, 400_000);

  it("delivers a person's nudge (Agent.spec.nudge) to the running session's next model request", async () => {
    await userNudge(s, "asked");
  }, 400_000);
});

describe("pi: a person's nudge is steered into the running session", () => {
  const s = suite("pi", {});
  it("delivers Agent.spec.nudge to the next model request", async () => {
    await userNudge(s, "asked-pi");
  }, 400_000);
});

async function userNudge(s: ReturnType<typeof suite>, name: string): Promise<void> {
  const message = `Please also mention ${name} in the changelog (${Date.now()})`;
  s.model.script(name, [{ shell: "sleep 8 && echo slept" }, ...polecatScript(name)]);
  await create(s.http, s.ns, bead(name));
  await pollUntil(
    `a polecat hooked to ${name} with its session's first request`,
    () => s.model.requestsFor(name).length > 0,
    120_000,
  );
  const agent = await hookedAgent(s.http, s.ns, name);
  expect(agent).toBeDefined();
  await s.http.json({
    method: "PATCH",
    path: apiPath(AGENTS, s.ns, agent!.metadata.name),
    contentType: "application/merge-patch+json",
    body: { spec: { nudge: { id: `n-${name}`, message } } },
  });
  await s.closed(name, "to be merged after the nudged session");
  const requests = s.model.requestsFor(name).filter((r) => r.status === 200);
  // The first request after the tool that was running when the nudge came is the first to carry it.
  const carrying = requests.filter((r) => r.text.includes(`${NUDGE_PREFIX} (user) ${message}`));
  expect(carrying[0]?.step).toBe(1);
  expect(requests.filter((r) => r.step === 0).every((r) => !r.text.includes(message))).toBe(true);
  expect(s.op.trap.violations()).toEqual([]);
}

describe("Codex: a person's nudge interrupts the turn and resumes the conversation with it", () => {
  const s = suite("codex", {});
  it("delivers Agent.spec.nudge to the next model request", async () => {
    await userNudge(s, "asked-codex");
  }, 400_000);
});
