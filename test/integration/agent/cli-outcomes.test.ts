// How a real CLI's session ends, said plainly: a 401 is a configuration error naming the Secret
// (exit 78): the bead is held, not charged, the Town is Ready=False/AgentsCannotStart naming the
// Secret, and a retry once the key works lands it. A tool the permission mode silently denies is
// reported as a denial rather than a bare exit 0 (held the same way), and an agent that ends its turn
// without `gt done` is a lost session with the reason (transient: the attempt fails). The session's
// usage, as the CLI counted it, equals what the scripted model served.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT_CONFIG } from "../../../src/agent/outcome.ts";
import type { Agent } from "../../../src/api/agent.ts";
import type { Bead } from "../../../src/api/bead.ts";
import type { Town } from "../../../src/api/town.ts";
import type { KubeHttp } from "../../../src/controller/kube-http.ts";
import { AGENTS, apiPath, BEADS, LEASE_ANNOTATIONS, LEASES } from "../../../src/controller/resources.ts";
import { adminHttp, create, waitForBead } from "../../support/gastown.ts";
import { createNamespace, kubeConfig, waitFor } from "../../support/kube.ts";
import { type ModelServer, startModelServer } from "../../support/model-server.ts";
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

describe("Claude Code session outcomes", () => {
  let http: KubeHttp;
  let model: ModelServer;
  let ns: string;
  let dir: string;
  let op: CliOperator;

  beforeAll(async () => {
    http = adminHttp();
    model = await startModelServer({ scriptFor: townScripts(["true"]) });
    ns = await createNamespace("cli-outcomes");
    dir = mkdtempSync(join(tmpdir(), "gt-outcomes-"));
    op = await startCliOperator(ns, dir, kubeConfig());
    const origin = createOrigin();
    await createKeySecret(http, ns);
    // No probe of a configuration hold within the test: the way forward tried here is a retry.
    const town = cliTown("gt", {
      cli: "claude-code",
      repo: origin.bare,
      model,
      gates: ["true"],
      timeouts: { configurationProbe: "1h" },
    });
    (town.spec.limits as Record<string, unknown>).maxDispatchAttempts = 1;
    await create(http, ns, town);
  });

  afterAll(async () => {
    await op?.stop();
    await model?.close();
    if (!process.env.GASTOWN_TEST_KEEP) rmSync(dir, { recursive: true, force: true });
  });

  const failed = (name: string) =>
    waitForBead(ns, name, (b) => b?.status?.phase === "Failed", "to fail after its one attempt", 300_000).catch(
      (e: Error) => {
        throw new Error(`${e.message}\n${sessionLogTails(op.sessionsDir, ns)}`);
      },
    );

  const held = (name: string, reason: string) =>
    waitForBead(
      ns,
      name,
      (b) => b?.status?.hold?.reason === "SessionCannotStart" && b.status.lastFailure?.reason === reason,
      `to be held for ${reason}`,
      300_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${sessionLogTails(op.sessionsDir, ns)}`);
    }) as Promise<Bead>;

  const townReady = (check: (c: { status: string; reason?: string; message?: string }) => boolean, what: string) =>
    waitFor(
      kubeConfig(),
      { apiVersion: "gastown.dev/v1alpha1", kind: "Town", namespace: ns, name: "gt" },
      (t) => {
        const ready = (t as unknown as Town | undefined)?.status?.conditions?.find((c) => c.type === "Ready");
        return ready !== undefined && check(ready);
      },
      { description: `town gt ${what}`, timeoutMs: 60_000 },
    ) as unknown as Promise<Town>;

  /** The polecat that ran `bead` last, and its session's log. */
  async function lastSession(beadName: string): Promise<{ agent: Agent; log: string }> {
    const agents = (await http.json<{ items: Agent[] }>({ method: "GET", path: apiPath(AGENTS, ns) })).items;
    const agent = agents.find((a) => a.status?.sessionBead === beadName && a.spec.role === "Polecat")!;
    const log = readFileSync(join(op.sessionsDir, ns, agent.status!.pod!, "session.log"), "utf8");
    return { agent, log };
  }

  it("a 401 from the model holds the work, the Town names the Secret, and a retry with a working key lands it", async () => {
    model.script("badkey", [{ fail: { status: 401, times: 1000, message: "invalid x-api-key" } }]);
    await create(http, ns, bead("badkey"));
    const b = await held("badkey", "ModelAuthFailed");
    expect(b.status?.phase).toBe("Open");
    expect(b.status?.hold?.message).toMatch(/ModelAuthFailed: the model API refused the API key in Secret model-key/);
    // Not charged: the key, not the attempt, was wrong.
    expect(b.status?.dispatchAttempts ?? 0).toBe(0);
    const { agent, log } = await lastSession("badkey");
    expect(agent.status?.lastSessionExit?.exitCode).toBe(EXIT_CONFIG);
    expect(log).toMatch(
      /outcome AuthError: the model API refused the API key in Secret model-key, key api-key \(HTTP 401\)/,
    );
    // The same, for the operator, in the session's termination message.
    const termination = readFileSync(join(op.sessionsDir, ns, agent.status!.pod!, "termination-log"), "utf8");
    expect(JSON.parse(termination)).toMatchObject({ reason: "ModelAuthFailed", kind: "Configuration" });
    // The Town says what to fix, naming the Secret and its key.
    const town = await townReady(
      (c) => c.status === "False" && c.reason === "AgentsCannotStart",
      "to be AgentsCannotStart",
    );
    expect(town.status?.conditions?.find((c) => c.type === "Ready")?.message).toMatch(
      /ModelAuthFailed: the model API refused the API key in Secret model-key, key api-key \(HTTP 401\).*\(badkey\)/,
    );
    // Not retried ten times with back-off: the CLI's retries are capped and a 401 is not retried.
    expect(model.requestsFor("badkey").filter((r) => r.status === 401).length).toBeLessThanOrEqual(3);

    // The way forward: the key works again (the model accepts it) and the bead is retried.
    model.script("badkey", polecatScript("badkey"));
    await http.json({
      method: "PATCH",
      path: apiPath(BEADS, ns, "badkey"),
      contentType: "application/merge-patch+json",
      body: { spec: { retry: 1 } },
    });
    await waitForBead(ns, "badkey", (x) => x?.status?.phase === "Closed", "to land after the retry", 300_000).catch(
      (e: Error) => {
        throw new Error(`${e.message}\n${sessionLogTails(op.sessionsDir, ns)}`);
      },
    );
    await townReady((c) => c.status === "True", "to be Ready again");
  }, 600_000);

  it("a silently denied tool is reported as a denial that holds the work, not as a bare exit 0", async () => {
    // WebFetch is offered to the model but is not in the session's allowlist: in -p mode Claude Code
    // denies it without a word and exits 0; only result.permission_denials says so.
    model.script("denied", [
      { tool: { name: "WebFetch", input: { url: "http://127.0.0.1:9/notes", prompt: "read the notes" } } },
      { say: "I could not fetch the notes." },
    ]);
    await create(http, ns, bead("denied"));
    const b = await held("denied", "ToolPermissionDenied");
    expect(b.status?.hold?.message).toMatch(/the permission mode does not let it work/);
    const { agent, log } = await lastSession("denied");
    expect(log).toMatch(/claude-code exited with status 0\n/);
    expect(log).toContain('"permission_denials":[{"tool_name":"WebFetch"');
    expect(log).toMatch(/outcome PermissionDenied: the agent was denied WebFetch 1 time\(s\) and did not finish/);
    expect(agent.status?.lastSessionExit?.exitCode).toBe(EXIT_CONFIG);
    await townReady(
      (c) => c.reason === "AgentsCannotStart" && /ToolPermissionDenied.*\(denied\)/.test(c.message ?? ""),
      "to name the denied tool",
    );
  }, 400_000);

  it("an agent that ends its turn without gt done is a lost session, with the reason", async () => {
    model.script("quitter", [{ say: "I think I am done.", usage: { input: 11, output: 7 } }]);
    await create(http, ns, bead("quitter"));
    const b = await failed("quitter");
    // Transient: the attempt failed and was charged; the reason is on the bead.
    expect(b?.status?.lastFailure?.reason).toBe("AgentExitedWithoutDone");
    const { agent, log } = await lastSession("quitter");
    expect(log).toMatch(
      /claude-code exited with status 0\n(.*\n)*gt run: outcome Lost: the agent exited 0 without calling gt done/,
    );
    expect(agent.status?.lastSessionExit?.exitCode).toBe(1);
    // The usage the CLI counted is what the model served, published on the Lease at the end.
    const lease = await http.json<{ metadata: { annotations?: Record<string, string> } }>({
      method: "GET",
      path: apiPath(LEASES, ns, agent.metadata.name),
    });
    expect(JSON.parse(lease.metadata.annotations?.[LEASE_ANNOTATIONS.usage] ?? "{}")).toMatchObject({
      inputTokens: 11,
      outputTokens: 7,
    });
    expect(JSON.parse(lease.metadata.annotations?.[LEASE_ANNOTATIONS.outcome] ?? "{}")).toMatchObject({
      class: "Lost",
    });
    expect(op.trap.violations()).toEqual([]);
  }, 400_000);
});
