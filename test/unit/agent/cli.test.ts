// The `gt` tools' contract with the agent calling them: the report each one files, and a one-line
// failure (with usage for flag errors) when the session, the flags, the role or the apiserver says no.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { AgentClient } from "../../../src/agent/client.ts";
import { markToolActivity, SessionActivity } from "../../../src/agent/heartbeat.ts";
import { buildPrompt } from "../../../src/agent/prompt.ts";
import { runTool, type ToolContext } from "../../../src/agent/tools.ts";
import { sessionEnvVars } from "../../../src/api/session.ts";
import { KubeApiError } from "../../../src/kube/errors.ts";
import type { KubeHttp, KubeRequest } from "../../../src/kube/http.ts";
import { createOrigin, session } from "./fixtures.ts";

const MAIN = join(import.meta.dirname, "..", "..", "..", "src", "agent", "main.ts");
const origin = createOrigin();

function sessionEnv(overrides: Parameters<typeof session>[1] = {}): NodeJS.ProcessEnv {
  // sessionEnvVars JSON-encodes list values itself, so a parsed session goes back out unchanged.
  return sessionEnvVars(session(origin, overrides) as unknown as Parameters<typeof sessionEnvVars>[0]);
}

/** Runs a tool in-process against a fake apiserver; returns its status, output and the requests. */
async function gt(
  argv: string[],
  env: NodeJS.ProcessEnv = sessionEnv(),
  answer: (r: KubeRequest) => unknown = () => ({}),
  stdin = "",
) {
  const requests: KubeRequest[] = [];
  const http: KubeHttp = {
    async json<T>(r: KubeRequest) {
      requests.push(r);
      return answer(r) as T;
    },
    lines: async () => {},
  };
  let out = "";
  let err = "";
  const ctx: ToolContext = {
    env,
    out: (t) => {
      out += t;
    },
    err: (t) => {
      err += t;
    },
    readStdin: async () => stdin,
    client: (s) => new AgentClient(http, { namespace: s.namespace, town: s.town, agent: s.agent, session: s.session }),
  };
  const [tool, ...rest] = argv;
  const status = await runTool(tool!, rest, ctx);
  const bodies = requests.map((r) => r.body as { spec?: Record<string, unknown> } | undefined);
  return { status, out, err, requests, specs: bodies.map((b) => b?.spec) };
}

describe("gt tools file the right report", () => {
  it("done defaults --branch to GT_BRANCH and carries the optional fields", async () => {
    const r = await gt(["done", "--summary", "added login"]);
    expect(r.status).toBe(0);
    expect(r.requests[0]).toMatchObject({
      method: "POST",
      path: "/apis/gastown.dev/v1alpha1/namespaces/ns/agentreports",
    });
    expect(r.specs[0]).toEqual({
      town: "gt",
      agent: "gt-app-toast",
      session: 1,
      type: "Done",
      bead: "b1",
      branch: "gt/app/b1",
      summary: "added login",
    });
    expect(r.out).toMatch(/^reported Done for bead b1 \(agentreport\/gt-app-toast-\d+-done\)\n$/);

    const refinery = sessionEnv({ role: "Refinery", bead: "b1-mr-1" });
    const merged = await gt(
      ["done", "--commit", "abc1234", "--branch=gt/app/b1", "--pr-url", "https://x/pr/1"],
      refinery,
    );
    expect(merged.specs[0]).toMatchObject({
      type: "Done",
      commit: "abc1234",
      branch: "gt/app/b1",
      prURL: "https://x/pr/1",
    });
  });

  it("request-changes, review-failed, escalate and checkpoint", async () => {
    const refinery = sessionEnv({ role: "Refinery", bead: "b1-mr-1" });
    const rc = await gt(
      ["request-changes", "--feedback", "add tests", "--files", "a.ts,b.ts", "--files", "c.ts"],
      refinery,
    );
    expect(rc.specs[0]).toMatchObject({
      type: "RequestChanges",
      feedback: "add tests",
      files: ["a.ts", "b.ts", "c.ts"],
    });
    const rf = await gt(["review-failed", "--message", "merge conflict: README.md"], refinery);
    expect(rf.specs[0]).toMatchObject({ type: "ReviewFailed", bead: "b1-mr-1", message: "merge conflict: README.md" });
    const esc = await gt(["escalate", "--severity", "high", "--message", "stuck"]);
    expect(esc.specs[0]).toMatchObject({ type: "Escalate", severity: "High", message: "stuck" });
    const cp = await gt(["checkpoint", "--data", "-"], sessionEnv(), () => ({}), "step 2 of 3\n");
    expect(cp.specs[0]).toMatchObject({ type: "Checkpoint", data: "step 2 of 3\n" });
  });

  it("prime prints the bead from the API, rework context, checkpoint and nudges", async () => {
    const env = sessionEnv({ bead: "b1-rw", reworkOf: "b1-mr-1", feedback: "env feedback" });
    const r = await gt(["prime"], env, (req) =>
      req.path.includes("/beads/")
        ? {
            spec: { title: "Rework b1", description: "Fix it.", feedback: "add tests", files: ["a.ts"] },
            // The checkpoint lives on the bead: it is this bead's, never another's.
            status: { phase: "InProgress", checkpoint: { data: "halfway" } },
          }
        : {
            status: {
              nudges: [{ tier: "warn", time: "2026-01-01T00:00:00Z", message: "idle 15m" }],
            },
          },
    );
    expect(r.status).toBe(0);
    expect(r.requests.map((q) => q.path)).toEqual([
      "/apis/gastown.dev/v1alpha1/namespaces/ns/beads/b1-rw",
      "/apis/gastown.dev/v1alpha1/namespaces/ns/agents/gt-app-toast",
    ]);
    for (const text of [
      "bead b1-rw (InProgress): Rework b1",
      "Fix it.",
      "rework of b1-mr-1: add tests",
      "files: a.ts",
      "checkpoint: halfway",
      "[warn] 2026-01-01T00:00:00Z idle 15m",
    ])
      expect(r.out).toContain(text);
  });
});

describe("gt tools fail with one clear line", () => {
  it("outside a session: names the missing GT_ variables", async () => {
    const env = sessionEnv();
    delete env.GT_BEAD;
    delete env.GT_BRANCH;
    const r = await gt(["done"], env);
    expect(r.status).toBe(1);
    expect(r.err).toBe("gt done: this is not a Gas Town session (GT_BEAD: not set; GT_BRANCH: not set)\n");
    expect(r.requests).toEqual([]);
  });

  it("bad or missing flags: says which, shows the usage, exits 2", async () => {
    const unknown = await gt(["done", "--brnch", "x"]);
    expect(unknown.status).toBe(2);
    expect(unknown.err.split("\n")[0]).toContain("gt done: Unknown option '--brnch'");
    expect(unknown.err).toContain("Usage: gt done [--branch B]");
    const missing = await gt(["request-changes", "--files", "a"]);
    expect(missing).toMatchObject({ status: 2 });
    expect(missing.err).toMatch(/^gt request-changes: missing --feedback\n\nUsage: gt request-changes/);
    const severity = await gt(["escalate", "--severity", "urgent", "--message", "m"]);
    expect(severity.err.split("\n")[0]).toBe(
      'gt escalate: --severity must be one of Low, Medium, High, Critical, got "urgent"',
    );
    expect((await gt(["checkpoint"])).err.split("\n")[0]).toBe("gt checkpoint: missing --data");
    expect((await gt(["done", "--commit", "not-a-sha"])).err.split("\n")[0]).toBe(
      "gt done: --commit must be a hex commit id",
    );
    expect((await gt(["prime", "extra"])).status).toBe(2);
  });

  it("the wrong role: a polecat cannot request changes or fail a review", async () => {
    const r = await gt(["request-changes", "--feedback", "x"]);
    expect(r.status).toBe(1);
    expect(r.err).toBe("gt request-changes: only a refinery may request changes; this session's role is Polecat\n");
    expect((await gt(["review-failed", "--message", "x"])).err).toContain("only a refinery may report a failed review");
  });

  it("the apiserver refuses: prints its message on one line", async () => {
    const r = await gt(["done"], sessionEnv(), () => {
      throw new KubeApiError(403, { message: "admission webhook denied:\nan agent may only report as itself" }, "x");
    });
    expect(r.status).toBe(1);
    expect(r.err).toBe(
      "gt done: the apiserver refused (403): admission webhook denied: an agent may only report as itself\n",
    );
    const big = await gt(["checkpoint", "--data", "x".repeat(20_000)]);
    expect(big.err).toBe("gt checkpoint: the checkpoint is 20000 bytes; at most 16384 are kept\n");
  });

  it("--help prints the usage and exits 0", async () => {
    const r = await gt(["escalate", "--help"], {});
    expect(r).toMatchObject({ status: 0, err: "" });
    expect(r.out).toContain("Usage: gt escalate --severity Low|Medium|High|Critical --message M");
  });
});

// Each case starts Node with the TypeScript sources: seconds on a loaded machine.
describe("the gt binary", { timeout: 60_000 }, () => {
  const run = (args: string[], env: NodeJS.ProcessEnv = { PATH: process.env.PATH }) =>
    spawnSync(process.execPath, [MAIN, ...args], { env, encoding: "utf8" });

  it("exits non-zero outside a session, listing every missing variable", () => {
    const r = run(["escalate", "--severity", "Low", "--message", "help"]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    for (const v of ["GT_NAMESPACE", "GT_TOWN", "GT_AGENT", "GT_ROLE", "GT_BEAD", "GT_REPO", "GT_MERGE_STRATEGY"])
      expect(r.stderr).toContain(`${v}: not set`);
    const runSession = run(["run"]);
    expect(runSession.status).toBe(1);
    expect(runSession.stderr).toMatch(/^gt run: this is not a Gas Town session \(GT_NAMESPACE: not set;/);
  });

  it("knows its commands", () => {
    const help = run(["--help"]);
    expect(help.status).toBe(0);
    for (const cmd of ["run", "demo", "done", "request-changes", "review-failed", "escalate", "checkpoint", "prime"])
      expect(help.stdout).toContain(`  ${cmd} `);
    const unknown = run(["merge"]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr.split("\n")[0]).toBe('gt: unknown command "merge"');
  });

  it("a hook and a tool call never load @kubernetes/client-node, and the tool uses the kubeconfig's server", () => {
    // Every module gt resolves, as it resolves it: client-node cost each start ~90 MiB and seconds.
    const probe = `data:text/javascript,${encodeURIComponent(
      'import { registerHooks } from "node:module"; registerHooks({ resolve(s, c, next) { const r = next(s, c); if (r.url.includes("/@kubernetes/client-node/")) process.stderr.write("loaded " + r.url + "\\n"); return r; } });',
    )}`;
    const dir = mkdtempSync(join(tmpdir(), "gt-modules-"));
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(
      kubeconfig,
      "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n" +
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n",
    );
    const env = { ...sessionEnv(), PATH: process.env.PATH, KUBECONFIG: kubeconfig, GT_ACTIVITY_DIR: join(dir, "a") };
    const gt = (args: string[], input = "") =>
      spawnSync(process.execPath, ["--import", probe, MAIN, ...args], { env, encoding: "utf8", input });
    const hook = gt(["hook", "PostToolUse"], JSON.stringify({ tool_use_id: "toolu_1" }));
    expect(hook.stderr).toBe("");
    expect(hook.status).toBe(0);
    const tool = gt(["escalate", "--severity", "low", "--message", "x"]);
    expect(tool.status).toBe(1);
    expect(tool.stderr).not.toContain("loaded ");
    expect(tool.stderr).toContain("ECONNREFUSED 127.0.0.1:1 (is the apiserver reachable?)");
  });
});

describe("session activity and the prompt", () => {
  it("a running tool counts as active and moves the watermark", () => {
    const dir = join(origin.root, "activity");
    const activity = new SessionActivity(dir, 1000);
    expect(activity.current()).toEqual({ time: 1000, kind: "start", activeTools: 0 });
    const finished = markToolActivity(dir, "done", () => 5000);
    expect(activity.current()).toEqual({ time: 5000, kind: "tool:done", activeTools: 1 });
    finished();
    expect(activity.current()).toEqual({ time: 5000, kind: "tool:done", activeTools: 0 });
    activity.touch("output", 6000);
    expect(activity.current()).toMatchObject({ time: 6000, kind: "output" });
  });

  it("tells a polecat its bead, rework feedback and how to report", () => {
    const p = buildPrompt(
      session(origin, {
        bead: "b1-rw",
        beadTitle: "Rework",
        reworkOf: "b1-mr-1",
        feedback: "add tests",
        files: ["a.ts"],
        checkpoint: "cp",
      }),
    );
    for (const text of [
      "## Bead b1-rw: Rework",
      "## Rework requested on b1-mr-1",
      "add tests",
      "- a.ts",
      "cp",
      "gt done --branch gt/app/b1-rw",
    ])
      expect(p).toContain(text);
    expect(p).not.toContain("gt request-changes");
    const r = buildPrompt(session(origin, { role: "Refinery", gates: ["make test"] }));
    expect(r).toContain("`make test`");
    expect(r).toContain("gt request-changes");
  });
});
