// Real coding-agent CLIs as polecats and refinery, on the local control plane with the process
// runtime, against the scripted model on loopback: for each of Claude Code, Codex and pi, a convoy
// of three beads (one depending on another) lands. Every session is the real CLI, which edits,
// commits, pushes, merges and calls `gt` through its own shell tool. Nothing leaves loopback.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KubernetesObject } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Convoy } from "../../../src/api/convoy.ts";
import type { AgentCli } from "../../../src/api/town.ts";
import type { KubeHttp } from "../../../src/controller/kube-http.ts";
import { adminHttp, convoyManifest, create } from "../../support/gastown.ts";
import { createNamespace, kubeConfig, waitFor } from "../../support/kube.ts";
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
import { createOrigin, git } from "../../unit/agent/fixtures.ts";

const CLIS: AgentCli[] = ["claude-code", "codex", "pi"];
const USAGE = { input: 120, output: 15, cacheRead: 40 };

/** The "gt run: usage:" line of every session log, summed. */
function loggedUsage(sessionsDir: string, ns: string) {
  const sum = { input: 0, output: 0, cacheRead: 0, sessions: 0 };
  const root = join(sessionsDir, ns);
  for (const pod of readdirSync(root)) {
    const m = readFileSync(join(root, pod, "session.log"), "utf8").match(
      /gt run: usage: (\d+) input, (\d+) output, (\d+) cache read/,
    );
    if (!m) continue;
    sum.input += Number(m[1]);
    sum.output += Number(m[2]);
    sum.cacheRead += Number(m[3]);
    sum.sessions++;
  }
  return sum;
}

describe.each(CLIS)("%s as every agent of a town", (cli) => {
  let http: KubeHttp;
  let model: ModelServer;
  let ns: string;
  let dir: string;
  let op: CliOperator;

  beforeAll(async () => {
    http = adminHttp();
    model = await startModelServer({ scriptFor: townScripts(["test -f README.md"], USAGE) });
    ns = await createNamespace(`cli-${cli}`);
    dir = mkdtempSync(join(tmpdir(), `gt-${cli}-`));
    op = await startCliOperator(ns, dir, kubeConfig());
  });

  afterAll(async () => {
    await op?.stop();
    await model?.close();
    if (!process.env.GASTOWN_TEST_KEEP) rmSync(dir, { recursive: true, force: true });
  });

  it("lands a convoy of three beads with a dependency; each session edits, commits and calls gt through its shell", async () => {
    const origin = createOrigin();
    await createKeySecret(http, ns);
    await create(http, ns, cliTown("gt", { cli, repo: origin.bare, model }));
    // A burst of 529s on c's first model call: the CLI retries it (capped) and c still lands.
    const [first, ...rest] = polecatScript("cv-c", USAGE);
    model.script("cv-c", [{ ...first!, fail: { status: 529, times: 2, message: "Overloaded" } }, ...rest]);
    const convoy = convoyManifest("cv", "gt", [{ name: "a" }, { name: "b", dependsOn: ["a"] }, { name: "c" }]);
    await create(http, ns, convoy);

    await waitFor<KubernetesObject & { status?: Convoy["status"] }>(
      kubeConfig(),
      { apiVersion: "gastown.dev/v1alpha1", kind: "Convoy", namespace: ns, name: "cv" },
      (c) => c?.status?.phase === "Landed",
      { description: `convoy cv to land with ${cli}`, timeoutMs: 400_000 },
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${sessionLogTails(op.sessionsDir, ns)}`);
    });

    // The history the demo e2e expects: each polecat's commit, merged once into the feature branch
    // with --no-ff, and one landing merge onto main.
    const merges = git(origin.bare, "log", "--merges", "--format=%s", "main").split("\n");
    for (const t of ["a", "b", "c"]) {
      expect(git(origin.bare, "show", `main:notes/cv-${t}.md`)).toMatch(new RegExp(`^# cv-${t}\\nwritten by gt-app-`));
      // One merge per bead (its merge request is -mr-<attempt>: a bead redone after a lost session
      // gets the next number).
      const merge = new RegExp(`^Merge gt/app/cv-${t} into convoy/cv \\(cv-${t}-mr-\\d+\\)$`);
      expect(
        merges.filter((m) => merge.test(m)),
        `merges of cv-${t}: ${merges.join(" | ")}`,
      ).toHaveLength(1);
    }
    expect(merges.filter((m) => /^Merge convoy\/cv into main \(cv-landing-\d+\)$/.test(m))).toHaveLength(1);
    // b waited for a: its branch started from a feature branch that already had a's merge.
    expect(git(origin.bare, "log", "--format=%s", "gt/app/cv-b")).toContain("cv-a: add notes/cv-a.md");

    // The model saw each bead's conversation: the polecats' and the refinery's, in its protocol.
    for (const bead of ["cv-a", "cv-b", "cv-c", "cv-a-mr-1", "cv-b-mr-1"]) {
      const steps = model
        .requestsFor(bead)
        .filter((r) => r.status === 200)
        .map((r) => r.step);
      expect(steps, bead).toEqual(expect.arrayContaining([0, 1]));
    }
    const protocol = cli === "claude-code" ? "anthropic" : cli === "codex" ? "responses" : "chat";
    expect(new Set(model.requests.filter((r) => r.bead).map((r) => r.protocol))).toEqual(new Set([protocol]));

    const burst = model
      .requestsFor("cv-c")
      .filter((r) => r.step === 0)
      .map((r) => r.status);
    expect(burst.slice(0, 3)).toEqual([529, 529, 200]);
    // The CLI itself retried them, within one session (maxRetries: 2), with no redo by the operator.
    const cSessions = readdirSync(join(op.sessionsDir, ns)).filter((pod) =>
      readFileSync(join(op.sessionsDir, ns, pod, "session.log"), "utf8").includes("on branch gt/app/cv-c "),
    );
    expect(cSessions).toHaveLength(1);

    // The convoy lands on the landing's Done; that session gets its last answer and exits after.
    const root = join(op.sessionsDir, ns);
    await pollUntil(
      "every session to log its usage",
      () =>
        readdirSync(root).every((pod) =>
          readFileSync(join(root, pod, "session.log"), "utf8").includes("gt run: usage:"),
        ),
      60_000,
    );
    // Usage, as each CLI counted it from the model's answers, adds up to exactly what was served.
    const served = [...new Set(model.requests.map((r) => r.bead).filter((b): b is string => !!b))]
      .map((b) => model.usageServed(b))
      .map(({ input, output, cacheRead }) => ({ input, output, cacheRead }))
      .reduce((a, u) => ({
        input: a.input + u.input,
        output: a.output + u.output,
        cacheRead: a.cacheRead + u.cacheRead,
      }));
    expect(served.output).toBeGreaterThan(0);
    const logged = loggedUsage(op.sessionsDir, ns);
    expect({ input: logged.input, output: logged.output, cacheRead: logged.cacheRead }).toEqual(served);

    expect(op.trap.traced()).toBeGreaterThan(0);
    expect(op.trap.violations()).toEqual([]);
  }, 450_000);
});
