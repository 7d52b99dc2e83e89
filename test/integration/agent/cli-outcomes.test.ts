// How a real CLI's session ends, said plainly: a 401 is a configuration error naming the Secret
// (exit 78), a tool the permission mode silently denies is reported as a denial rather than a bare
// exit 0 (exit 78), and an agent that ends its turn without `gt done` is a lost session with the
// reason. The session's usage, as the CLI counted it, equals what the scripted model served.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXIT_CONFIG } from "../../../src/agent/outcome.ts";
import type { Agent } from "../../../src/api/agent.ts";
import type { KubeHttp } from "../../../src/controller/kube-http.ts";
import { AGENTS, apiPath, LEASE_ANNOTATIONS, LEASES } from "../../../src/controller/resources.ts";
import { adminHttp, create, waitForBead } from "../../support/gastown.ts";
import { createNamespace, kubeConfig } from "../../support/kube.ts";
import { type ModelServer, startModelServer } from "../../support/model-server.ts";
import {
  type CliOperator,
  cliTown,
  createKeySecret,
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
    const town = cliTown("gt", { cli: "claude-code", repo: origin.bare, model, gates: ["true"] });
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

  /** The polecat that ran `bead` last, and its session's log. */
  async function lastSession(beadName: string): Promise<{ agent: Agent; log: string }> {
    const agents = (await http.json<{ items: Agent[] }>({ method: "GET", path: apiPath(AGENTS, ns) })).items;
    const agent = agents.find((a) => a.status?.sessionBead === beadName && a.spec.role === "Polecat")!;
    const log = readFileSync(join(op.sessionsDir, ns, agent.status!.pod!, "session.log"), "utf8");
    return { agent, log };
  }

  it("a 401 from the model is a configuration error that names the Secret, not a crash", async () => {
    model.script("badkey", [{ fail: { status: 401, times: 1000, message: "invalid x-api-key" } }]);
    await create(http, ns, bead("badkey"));
    await failed("badkey");
    const { agent, log } = await lastSession("badkey");
    expect(agent.status?.lastSessionExit?.exitCode).toBe(EXIT_CONFIG);
    expect(log).toMatch(
      /outcome AuthError: the model API refused the API key in Secret model-key, key api-key \(HTTP 401\)/,
    );
    // The same, for the operator, in the session's termination message.
    const termination = readFileSync(join(op.sessionsDir, ns, agent.status!.pod!, "termination-log"), "utf8");
    expect(JSON.parse(termination)).toMatchObject({ reason: "ModelAuthFailed", kind: "Configuration" });
    // Not retried ten times with back-off: the CLI's retries are capped and a 401 is not retried.
    expect(model.requestsFor("badkey").filter((r) => r.status === 401).length).toBeLessThanOrEqual(3);
  }, 400_000);

  it("a silently denied tool is reported as a denial, not as a bare exit 0", async () => {
    // WebFetch is offered to the model but is not in the session's allowlist: in -p mode Claude Code
    // denies it without a word and exits 0; only result.permission_denials says so.
    model.script("denied", [
      { tool: { name: "WebFetch", input: { url: "http://127.0.0.1:9/notes", prompt: "read the notes" } } },
      { say: "I could not fetch the notes." },
    ]);
    await create(http, ns, bead("denied"));
    await failed("denied");
    const { agent, log } = await lastSession("denied");
    expect(log).toMatch(/claude-code exited with status 0\n/);
    expect(log).toContain('"permission_denials":[{"tool_name":"WebFetch"');
    expect(log).toMatch(/outcome PermissionDenied: the agent was denied WebFetch 1 time\(s\) and did not finish/);
    expect(agent.status?.lastSessionExit?.exitCode).toBe(EXIT_CONFIG);
  }, 400_000);

  it("an agent that ends its turn without gt done is a lost session, with the reason", async () => {
    model.script("quitter", [{ say: "I think I am done.", usage: { input: 11, output: 7 } }]);
    await create(http, ns, bead("quitter"));
    await failed("quitter");
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
