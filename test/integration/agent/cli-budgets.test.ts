// Usage and budgets with a real CLI (Claude Code against the scripted model): what the model
// served is what the Bead, the Convoy and the Town add up; a bead whose session runs past its token
// budget is stopped while its tool runs and held (BudgetExceeded, not charged), and raising the
// budget — one merge patch, as GitOps would — dispatches it again and it lands.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Bead } from "../../../src/api/bead.ts";
import type { Town } from "../../../src/api/town.ts";
import type { KubeHttp } from "../../../src/controller/kube-http.ts";
import { apiPath, BEADS, TOWNS } from "../../../src/controller/resources.ts";
import { adminHttp, create, waitForBead } from "../../support/gastown.ts";
import { createNamespace, kubeConfig, waitFor } from "../../support/kube.ts";
import { type ModelServer, type Step, startModelServer } from "../../support/model-server.ts";
import {
  type CliOperator,
  cliTown,
  createKeySecret,
  polecatScript,
  refineryScript,
  sessionLogTails,
  startCliOperator,
  townScripts,
} from "../../support/real-agents.ts";
import { createOrigin } from "../../unit/agent/fixtures.ts";

describe("Claude Code usage and a bead's token budget", () => {
  let http: KubeHttp;
  let model: ModelServer;
  let ns: string;
  let dir: string;
  let op: CliOperator;

  beforeAll(async () => {
    http = adminHttp();
    model = await startModelServer({ scriptFor: townScripts(["true"], { input: 7, output: 3 }) });
    ns = await createNamespace("cli-budgets");
    dir = mkdtempSync(join(tmpdir(), "gt-budgets-"));
    op = await startCliOperator(ns, dir, kubeConfig());
    await createKeySecret(http, ns);
    const town = cliTown("gt", { cli: "claude-code", repo: createOrigin().bare, model, gates: ["true"] });
    await create(http, ns, town);
  });

  afterAll(async () => {
    await op?.stop();
    await model?.close();
    if (!process.env.GASTOWN_TEST_KEEP) rmSync(dir, { recursive: true, force: true });
  });

  const explain = (e: Error) => {
    throw new Error(`${e.message}\n${sessionLogTails(op.sessionsDir, ns)}`);
  };

  it("stops and holds a bead at its budget, resumes it when raised, and sums usage exactly", async () => {
    // The first session's first answer costs 500 tokens, then its tool runs for a minute: the cap
    // (300) is passed while the CLI is busy. The next session (the same polecat's second) does not
    // wait.
    const script: Step[] = [
      { shell: `[ "$GT_SESSION" -gt 1 ] || sleep 60`, usage: { input: 400, output: 100 } },
      ...polecatScript("pricey", { input: 20, output: 5 }),
    ];
    model.script("pricey", script);
    await create(http, ns, {
      apiVersion: "gastown.dev/v1alpha1",
      kind: "Bead",
      metadata: { name: "pricey" },
      spec: { town: "gt", rig: "app", title: "Work on pricey", budget: { tokens: 300 } },
    });
    const held = (await waitForBead(
      ns,
      "pricey",
      (b) => b?.status?.hold?.reason === "BudgetExceeded",
      "to be held at its budget",
      300_000,
    ).catch(explain)) as Bead;
    expect(held.status?.hold?.message).toMatch(/pricey reached its budget \(spec.budget.tokens: 300\): raise it/);
    // Held on the first count past the cap: the stream's input tokens (400) may come before its
    // output tokens; the answer's whole 500 is the session's last count, published as it exits.
    expect(held.status?.usage?.tokens).toBeGreaterThan(300);
    await waitForBead(
      ns,
      "pricey",
      (b) => (b?.status?.usage?.tokens ?? 0) >= 500,
      "to count the stopped session's whole first answer (500 tokens)",
      60_000,
    ).catch(explain);
    // Not charged, and not a failure: the cap stopped it.
    expect(held.status?.dispatchAttempts ?? 0).toBe(0);
    expect(held.status?.phase).toBe("Open");
    // Stopped while its tool ran: the scripted model saw one request of the first session only.
    expect(model.requestsFor("pricey").length).toBe(1);

    // Raise the budget: the bead is dispatched again at once and lands.
    await http.json({
      method: "PATCH",
      path: apiPath(BEADS, ns, "pricey"),
      contentType: "application/merge-patch+json",
      body: { spec: { budget: { tokens: 100_000 } } },
    });
    await waitForBead(ns, "pricey", (b) => b?.status?.phase === "Closed", "to land after the raise", 300_000).catch(
      explain,
    );

    // Every session's usage, as the CLI counted it, adds up to what the model served — on the Bead
    // (issue and merge request) and on the Town. Sessions publish their last counts as they exit.
    // The bead closes on a session's `gt done`, before its CLI asks for its last answer: the sums
    // are final only once every script's last step has been served, so each wait checks that too.
    const lastServed = (bead: string, steps: number) =>
      model.requestsFor(bead).some((r) => r.status === 200 && r.step === steps - 1);
    const served = (bead: string) => {
      const u = model.usageServed(bead);
      return u.input + u.output + u.cacheRead + u.cacheWrite;
    };
    const mrNames = () => [
      ...new Set(model.requests.map((r) => r.bead ?? "").filter((b) => /^pricey-mr-\d+$/.test(b))),
    ];
    const exact = await waitForBead(
      ns,
      "pricey",
      (b) => lastServed("pricey", script.length) && b?.status?.usage?.tokens === served("pricey"),
      `to sum exactly what the model served (${served("pricey")} tokens)`,
      60_000,
    ).catch(explain);
    expect(exact?.status?.usage?.sessions.length).toBe(2);
    const expected = () => served("pricey") + mrNames().reduce((n, mr) => n + served(mr), 0);
    const reviewsDone = () =>
      mrNames().length > 0 && mrNames().every((mr) => lastServed(mr, refineryScript(mr, ["true"]).length));
    await waitFor(
      kubeConfig(),
      { apiVersion: "gastown.dev/v1alpha1", kind: "Town", namespace: ns, name: "gt" },
      (t) => reviewsDone() && (t as unknown as Town | undefined)?.status?.usage?.tokens === expected(),
      {
        description: "town gt to sum every token served, once the reviews' last answers are served",
        timeoutMs: 60_000,
      },
    );
    const town = await http.json<Town>({ method: "GET", path: apiPath(TOWNS, ns, "gt") });
    expect(town.status?.usage?.tokens).toBe(expected());
    expect(town.status?.usageToday?.tokens).toBe(expected());
    expect(op.trap.violations()).toEqual([]);
  }, 600_000);
});
