// Session continuity with a real CLI (Claude Code against the scripted model, process runtime):
// the agent's HOME is kept across its sessions, so the bead's next session resumes the
// conversation the last one left — after a handoff whose CLI then dies, and after a plain crash —
// and the scripted model's next request carries the first session's history. Where the transcript
// is gone, the next session says so and starts a new conversation.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Agent } from "../../../src/api/agent.ts";
import type { Bead } from "../../../src/api/bead.ts";
import type { KubeHttp } from "../../../src/controller/kube-http.ts";
import { adminHttp, create, waitForBead } from "../../support/gastown.ts";
import { createNamespace, kubeConfig, waitFor } from "../../support/kube.ts";
import { type ModelServer, type Step, startModelServer } from "../../support/model-server.ts";
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

/** The tool's shell is a child of the CLI: SIGKILL it mid-tool, as a crash would. */
const KILL_CLI = "kill -9 $PPID; sleep 5";
const CHECKPOINT_HEADING = "## Checkpoint from this bead's previous session";

describe("Claude Code resumes a bead's conversation in the agent's next session", () => {
  let http: KubeHttp;
  let model: ModelServer;
  let ns: string;
  let dir: string;
  let op: CliOperator;

  beforeAll(async () => {
    http = adminHttp();
    model = await startModelServer({ scriptFor: townScripts(["true"]) });
    ns = await createNamespace("cli-resume");
    dir = mkdtempSync(join(tmpdir(), "gt-resume-"));
    op = await startCliOperator(ns, dir, kubeConfig());
    await createKeySecret(http, ns);
    // One polecat per bead, so each bead's sessions are one agent's consecutive ones.
    const town = cliTown("gt", {
      cli: "claude-code",
      repo: createOrigin().bare,
      model,
      gates: ["true"],
      limits: { maxPolecatsPerRig: 3 },
      timeouts: { handoffMinInterval: "1s" },
    });
    await create(http, ns, town);
  });

  afterAll(async () => {
    await op?.stop();
    await model?.close();
    if (!process.env.GASTOWN_TEST_KEEP) rmSync(dir, { recursive: true, force: true });
  });

  const explain = (e: Error) => {
    throw new Error(`${e.message}\n${sessionLogTails(op.sessionsDir, ns, 25)}`);
  };

  /** The bead's sessions, oldest first, with their logs (the process runtime keeps them). */
  const sessionsOf = (bead: string) => {
    const root = join(op.sessionsDir, ns);
    return readdirSync(root)
      .filter((pod) => existsSync(join(root, pod, "session.json")))
      .map((pod) => ({
        ...(JSON.parse(readFileSync(join(root, pod, "session.json"), "utf8")) as {
          agent: string;
          session: number;
          bead: string;
        }),
        log: readFileSync(join(root, pod, "session.log"), "utf8"),
      }))
      .filter((s) => s.bead === bead)
      .sort((a, b) => a.session - b.session);
  };

  /** The Agent once it shows the conversation of its session `session` (written beside the Bead's). */
  const agentShowing = async (name: string, session: number) =>
    (await waitFor(
      kubeConfig(),
      { apiVersion: "gastown.dev/v1alpha1", kind: "Agent", namespace: ns, name },
      (a) => (a as unknown as Agent | undefined)?.status?.conversation?.session === session,
      { description: `agent ${name} to show the conversation of its session ${session}`, timeoutMs: 30_000 },
    )) as unknown as Agent | undefined;

  const newBead = (name: string) =>
    create(http, ns, {
      apiVersion: "gastown.dev/v1alpha1",
      kind: "Bead",
      metadata: { name },
      spec: { town: "gt", rig: "app", title: `Work on ${name}` },
    });

  const reported = (b: Bead | undefined) => b?.status?.phase === "InReview" || b?.status?.phase === "Closed";

  /** Its first session's conversation id, from the CLI's own init event in that session's log. */
  const conversationOf = (log: string) => log.match(/"type":"system","subtype":"init".*?"session_id":"([^"]+)"/)?.[1];

  /** The first request of a session, told apart by the prompt's "session N." line. */
  const firstRequestOf = (bead: string, agent: string, session: number) =>
    model.requestsFor(bead).find((r) => r.latest.includes(`agent ${agent} (Polecat), session ${session}.`));

  it("resumes after a handoff whose CLI died, and after a crash, with the first session's history", async () => {
    // relay: writes part one, hands off with a checkpoint, and its CLI dies before ending its turn.
    model.script("relay", [
      {
        shell: `echo relay-part-one && gt handoff --checkpoint "part one written" --summary "context full"; ${KILL_CLI}`,
      },
      ...polecatScript("relay"),
    ]);
    // crash: its CLI dies in the middle of its first tool call; no report at all.
    model.script("crash", [{ shell: `echo crash-part-one; ${KILL_CLI}` }, ...polecatScript("crash")]);
    await newBead("relay");
    await newBead("crash");

    for (const name of ["relay", "crash"]) {
      const bead = (await waitForBead(ns, name, reported, "to be reported done", 300_000).catch(explain)) as Bead;
      const [first, second, ...more] = sessionsOf(name);
      expect(more).toEqual([]);
      if (!first || !second) throw new Error(`${name} had ${first ? 1 : 0} sessions, expected 2`);
      // The same agent, consecutive sessions: the second ran in the HOME the first left.
      expect(second.agent).toBe(first.agent);
      const id = conversationOf(first.log);
      expect(id, `${name}'s first session named its conversation`).toBeDefined();
      expect(second.log).toContain(`starting claude-code (resuming ${id})`);

      // The scripted model's first request of the second session carries the first one's history:
      // its prompt, and its tool call (one tool turn, so the script goes on at its second step).
      const resumed = firstRequestOf(name, second.agent, second.session);
      expect(resumed, `${name}'s second session reached the model`).toBeDefined();
      expect(resumed?.text).toContain(`agent ${first.agent} (Polecat), session ${first.session}.`);
      expect(resumed?.text).toContain(`${name}-part-one`);
      expect(resumed?.step).toBe(1);
      if (name === "relay") expect(resumed?.latest).toContain(CHECKPOINT_HEADING);
      expect(bead.status?.handoffs ?? 0).toBe(name === "relay" ? 1 : 0);

      // The Bead shows the conversation, continued (same id) by the second session.
      const shown = await waitForBead(
        ns,
        name,
        (b) => b?.status?.conversation?.session === second.session,
        "to show the resumed conversation",
        30_000,
      ).catch(explain);
      expect(shown?.status?.conversation).toEqual({ id, agent: second.agent, session: second.session, resumed: true });
      const agent = await agentShowing(second.agent, second.session);
      expect(agent?.status?.conversation).toEqual({ id, session: second.session, bead: name, resumed: true });
    }
    expect(op.trap.violations()).toEqual([]);
  }, 600_000);

  it("starts a new conversation, and says so, when the transcript is not in the agent's HOME", async () => {
    // The first session hands off, removes every transcript from its HOME (as a HOME that is not
    // kept would lose them) and dies. A second session with the transcript gone starts afresh:
    // the script's first step then does nothing, because the marker it left (outside the session) is there.
    const marker = join(dir, "amnesia-handed-off");
    const script: Step[] = [
      {
        shell: `if [ -e ${marker} ]; then echo second-time; else touch ${marker} && gt handoff --checkpoint "started" && rm -rf "$HOME/.claude/projects"; ${KILL_CLI}; fi`,
      },
      ...polecatScript("amnesia"),
    ];
    model.script("amnesia", script);
    await newBead("amnesia");
    const bead = (await waitForBead(ns, "amnesia", reported, "to be reported done", 300_000).catch(explain)) as Bead;
    const [first, second, ...more] = sessionsOf("amnesia");
    expect(more).toEqual([]);
    if (!first || !second) throw new Error(`amnesia had ${first ? 1 : 0} sessions, expected 2`);
    expect(second.agent).toBe(first.agent);
    const id = conversationOf(first.log);
    const next = conversationOf(second.log);
    expect(id).toBeDefined();
    expect(next).toBeDefined();
    expect(next).not.toBe(id);
    expect(second.log).toContain(`conversation ${id} is not in this HOME`);
    expect(second.log).toContain("starting claude-code in ");

    // A new conversation: the model sees the second session's prompt alone, at the script's start.
    const fresh = firstRequestOf("amnesia", second.agent, second.session);
    expect(fresh?.step).toBe(0);
    expect(fresh?.text).not.toContain(`session ${first.session}.`);
    expect(fresh?.latest).toContain(CHECKPOINT_HEADING);
    expect(bead.status?.handoffs).toBe(1);
    const shown = await waitForBead(
      ns,
      "amnesia",
      (b) => b?.status?.conversation?.id === next,
      "to show the new conversation",
      30_000,
    ).catch(explain);
    expect(shown?.status?.conversation).toEqual({
      id: next,
      agent: second.agent,
      session: second.session,
      resumed: false,
    });
    const agent = await agentShowing(second.agent, second.session);
    expect(agent?.status?.conversation).toEqual({ id: next, session: second.session, bead: "amnesia", resumed: false });
    expect(op.trap.violations()).toEqual([]);
  }, 600_000);
});
