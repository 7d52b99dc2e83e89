// The actions on work that went wrong, each shown changing what the operator then does, in a town
// with two kinds of trouble. Its "vendor" rig points at a repository that does not exist yet: the
// session cannot start (gt run says RepositoryNotFound, a configuration error), so the bead is held
// uncharged and the Town is Ready=False AgentsCannotStart; status says why and when it is tried
// again (golden), and retry runs it once the repository exists. Polecats told to FAIL exit without
// finishing until a file says the cause is fixed: their beads fail at their cap and the failed
// sessions open the circuit breaker; status and convoy show why (golden); ack clears the
// escalations; reset-breaker and retry run the failed work again, and it merges; cancel convoy/
// stops a session that is running (an agent told to hang) and fails its work.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO_GATES, ensureDemoRepo } from "../../../hack/demo/repo.ts";
import { API_VERSION } from "../../../src/api/meta.ts";
import { columns, type DemoTown, kubectlGt, ok, startDemoTown } from "../../support/cli.ts";
import { kubeConfig, runKubectl, waitFor } from "../../support/kube.ts";
import { pollUntil } from "../../support/processes.ts";

const kc = kubeConfig();
let t: DemoTown;
let vendorRepo: string;
let fixed: string;
const HELD = "vendor-parser";
const BEAD = "flaky-parser";
const CONVOY = "flaky";
const TASK = "flaky-lexer";

// The town's agent command: the scripted demo agent, except for a polecat whose bead says HANG,
// which never finishes (until its session is stopped), and one whose bead says FAIL, which exits
// without finishing until the file `fixed` exists.
const agentCommand = (fixedFile: string) =>
  `case "$GT_ROLE:$GT_BEAD_DESCRIPTION" in Polecat:*HANG*) echo "hanging as asked"; exec sleep 600;; Polecat:*FAIL*) test -e '${fixedFile}' || { echo "failing as asked"; exit 1; };; esac; exec gt demo`;

// biome-ignore lint/suspicious/noExplicitAny: status fields are read ad hoc by the assertions
type Obj = { metadata: { name: string; generation?: number }; spec: Record<string, any>; status?: Record<string, any> };

const waitObject = (kind: string, name: string, check: (o: Obj | undefined) => boolean, what: string, ms = 120_000) =>
  waitFor<Obj & { apiVersion: string; kind: string }>(
    kc,
    { apiVersion: API_VERSION, kind, namespace: t.namespace, name },
    (o) => check(o as Obj | undefined),
    { description: what, timeoutMs: ms },
  );

const ns = () => ["-n", t.namespace];
const apply = (o: unknown) => runKubectl(["apply", "-n", t.namespace, "-f", "-"], JSON.stringify(o));
const condition = (o: Obj | undefined, type: string) =>
  (o?.status?.conditions ?? []).find((c: { type: string }) => c.type === type) as
    | { status: string; reason: string; message: string }
    | undefined;
const escalationIds = (town: Obj | undefined) =>
  (town?.status?.escalations ?? []).map((e: { id: string }) => e.id).sort();

// Sorted, as kubectl gt lists them (the ids name the beads: flaky-lexer before flaky-parser).
const ESCALATIONS = ["circuit-breaker-open-demo", `max-dispatch-attempts-${TASK}`, `max-dispatch-attempts-${BEAD}`];
const CANNOT_START = "agents-cannot-start-repository-not-found";

beforeAll(async () => {
  t = await startDemoTown("cli-actions", {
    edit: (town, stateDir) => {
      vendorRepo = join(stateDir, "vendor.git");
      fixed = join(stateDir, "fixed");
      town.spec.rigs.push({
        name: "vendor",
        repo: vendorRepo,
        defaultBranch: "main",
        mergeStrategy: "Direct",
        gates: DEMO_GATES,
      });
      // Two sessions per bead, and the two failing beads' four failed sessions open the breaker.
      Object.assign(town.spec.limits, { maxPolecatsPerRig: 2, maxDispatchAttempts: 2, maxFailedSessions: 4 });
      Object.assign(town.spec.agents, { command: ["sh", "-c", agentCommand(fixed)] });
      // A held bead is not tried again by itself while the test looks at it.
      Object.assign(town.spec.timeouts, { configurationProbe: "1h" });
    },
  });
}, 240_000);

afterAll(async () => {
  await t?.stopOperator();
});

describe("work whose sessions cannot start", () => {
  it("is held, not charged; the town says AgentsCannotStart; status says why and when it is tried again (golden)", async () => {
    await apply({
      apiVersion: API_VERSION,
      kind: "Bead",
      metadata: { name: HELD },
      spec: { town: "demo", rig: "vendor", type: "Issue", title: "Vendor the parser" },
    });
    const held = await waitObject(
      "Bead",
      HELD,
      (b) => b?.status?.hold?.reason === "SessionCannotStart",
      `${HELD} to be held`,
    );
    expect(held?.status?.lastFailure?.reason).toBe("RepositoryNotFound");
    expect(held?.status?.dispatchAttempts ?? 0).toBe(0);
    await waitObject(
      "Town",
      "demo",
      (o) => condition(o, "Ready")?.reason === "AgentsCannotStart" && escalationIds(o).includes(CANNOT_START),
      "the town to say AgentsCannotStart",
    );
    const text = columns(await ok([...ns(), "status"]))
      .replaceAll(t.stateDir, "<state>")
      .replaceAll(t.namespace, "<namespace>");
    await expect(text).toMatchFileSnapshot("golden/status-held.txt");
    const bead = JSON.parse(await ok([...ns(), "status", "demo", "-o", "json"])).towns[0].beads[0];
    expect(bead).toMatchObject({
      name: HELD,
      attention: "Held",
      reason: "SessionCannotStart",
      lastFailure: { reason: "RepositoryNotFound" },
      probeAt: held?.status?.hold?.probeAt,
    });
    expect(bead.message).toBe(`RepositoryNotFound: ${held?.status?.lastFailure?.message}`);
  });

  it("retry runs it at once once the cause is fixed, and the town is Ready again", async () => {
    ensureDemoRepo(vendorRepo);
    expect(await ok([...ns(), "retry", HELD])).toBe(
      `bead/${HELD} retry requested (spec.retry=1): the operator reopens it with fresh budgets and dispatches it again (it was held: SessionCannotStart)\n`,
    );
    const merged = await waitObject("Bead", HELD, (b) => b?.status?.phase === "Closed", `${HELD} to merge`);
    expect([merged?.status?.resolution, merged?.status?.lastFailure]).toEqual(["Merged", undefined]);
    await waitObject(
      "Town",
      "demo",
      (o) => condition(o, "Ready")?.status === "True" && !escalationIds(o).includes(CANNOT_START),
      "the town to be Ready, its AgentsCannotStart escalation resolved",
    );
  });
});

describe("failed and escalated work, and the actions that move it", () => {
  it("work whose sessions fail fails at its cap and opens the circuit breaker; status and convoy say why (golden)", async () => {
    await apply({
      apiVersion: API_VERSION,
      kind: "Bead",
      metadata: { name: BEAD },
      spec: { town: "demo", rig: "app", type: "Issue", title: "Fix the parser", description: "FAIL until fixed" },
    });
    await apply({
      apiVersion: API_VERSION,
      kind: "Convoy",
      metadata: { name: CONVOY },
      spec: {
        town: "demo",
        title: "Fix the toolchain",
        mergeMode: "ReviewAndMerge",
        tasks: [{ name: "lexer", title: "Fix the lexer", description: "FAIL until fixed", rig: "app" }],
      },
    });
    for (const name of [BEAD, TASK]) {
      const failed = await waitObject("Bead", name, (b) => b?.status?.phase === "Failed", `${name} to fail`);
      expect(failed?.status?.resolution).toBe("MaxDispatchAttempts");
      expect(failed?.status?.dispatchAttempts).toBe(2);
    }
    const town = await waitObject(
      "Town",
      "demo",
      (o) => condition(o, "Ready")?.reason === "CircuitBreakerOpen" && escalationIds(o).length === 3,
      "the breaker to open, with three escalations",
    );
    expect(escalationIds(town)).toEqual(ESCALATIONS);
    await waitObject("Convoy", CONVOY, (c) => condition(c, "Stalled")?.reason === "TasksFailed", "the convoy to stall");

    // Which bead failed last is a race: the breaker's message names them in that order.
    const sorted = (text: string) =>
      text.replace(/beads: ([\w-]+), ([\w-]+)/g, (_, a: string, b: string) => `beads: ${[a, b].sort().join(", ")}`);
    await expect(sorted(columns(await ok([...ns(), "status"])))).toMatchFileSnapshot("golden/status-failed.txt");
    await expect(columns(await ok([...ns(), "convoy", CONVOY]))).toMatchFileSnapshot("golden/convoy-failed.txt");
    const doc = JSON.parse(await ok([...ns(), "status", "demo", "-o", "json"])).towns[0];
    expect(doc.circuitBreaker).toMatchObject({ open: true, failures: 4, maxFailedSessions: 4, beads: [TASK, BEAD] });
    expect(doc.escalations.map((e: { id: string; severity: string }) => `${e.severity} ${e.id}`)).toEqual([
      "Critical circuit-breaker-open-demo",
      `High max-dispatch-attempts-${TASK}`,
      `High max-dispatch-attempts-${BEAD}`,
    ]);

    // Completion offers what the commands act on: the Failed beads and the convoy to retry, the open escalations.
    const retry = await kubectlGt(["__complete", "gt", ...ns(), "retry", ""], { raw: true });
    expect(retry.stdout.split("\n").map((l) => l.split("\t")[0])).toEqual([
      TASK,
      `bead/${TASK}`,
      BEAD,
      `bead/${BEAD}`,
      CONVOY,
      `convoy/${CONVOY}`,
      ":4",
      "",
    ]);
    const ack = await kubectlGt(["__complete", "gt", ...ns(), "ack", ""], { raw: true });
    expect(ack.stdout.split("\n").map((l) => l.split("\t")[0])).toEqual(expect.arrayContaining(ESCALATIONS));
  });

  // Seven kubectl gt runs and a reconcile: each run starts Node and the Kubernetes client, seconds
  // apiece at a load average of 20, so the bound is the retry test's.
  it("ack refuses an unknown id; acknowledging every open escalation clears the town's Escalated condition", {
    timeout: 300_000,
  }, async () => {
    const unknown = await kubectlGt([...ns(), "ack", "no-such-escalation"]);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toBe(
      `error: no town in namespace "${t.namespace}" has an escalation "no-such-escalation"\nhint: open escalations: ${ESCALATIONS.join(", ")}\n`,
    );
    expect(await ok([...ns(), "ack", `max-dispatch-attempts-${BEAD}`])).toBe(
      `escalation max-dispatch-attempts-${BEAD} acknowledged on town/demo (spec.acknowledgedEscalations): it is not raised again; 2 still open\n`,
    );
    await ok([...ns(), "ack", `max-dispatch-attempts-${TASK}`]);
    expect(await ok([...ns(), "ack", "circuit-breaker-open-demo", "--town", "demo"])).toMatch(
      /; it was the last open one, so the town's Escalated condition clears\n$/,
    );
    const town = await waitObject(
      "Town",
      "demo",
      (o) => condition(o, "Escalated") === undefined && o?.status?.observedGeneration === o?.metadata.generation,
      "the Escalated condition to clear",
    );
    expect(town?.status?.escalations.every((e: { acknowledged: boolean }) => e.acknowledged)).toBe(true);
    expect(town?.spec.acknowledgedEscalations).toEqual([
      `max-dispatch-attempts-${BEAD}`,
      `max-dispatch-attempts-${TASK}`,
      "circuit-breaker-open-demo",
    ]);
    expect(await ok([...ns(), "ack", "circuit-breaker-open-demo"])).toBe(
      "escalation circuit-breaker-open-demo unchanged: already acknowledged on town/demo\n",
    );
    expect(await ok([...ns(), "status"])).toMatch(/^Escalations\n {2}none open\n {2}3 acknowledged /m);
  });

  it("retry reopens the Failed work (which waits while the breaker is open); reset-breaker lets it run, and it merges", {
    timeout: 300_000,
  }, async () => {
    writeFileSync(fixed, ""); // the cause, fixed
    expect(await ok([...ns(), "retry", BEAD])).toBe(
      `bead/${BEAD} retry requested (spec.retry=1): the operator reopens it with fresh budgets and dispatches it again (it was Failed: MaxDispatchAttempts); town demo's circuit breaker is open, so it waits for the breaker to close (kubectl gt reset-breaker demo)\n`,
    );
    const reopened = await waitObject("Bead", BEAD, (b) => b?.status?.retry === 1, "the operator to act on the retry");
    expect(reopened?.status?.phase).toBe("Open");
    expect(reopened?.status?.history).toMatchObject([
      { retry: 1, phase: "Failed", resolution: "MaxDispatchAttempts", dispatchAttempts: 2 },
    ]);
    // Open again: a second retry would be ignored, so it is refused.
    const twice = await kubectlGt([...ns(), "retry", BEAD]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toBe(
      `error: bead/${BEAD} is Open, not Failed or held: the operator would ignore a retry\nhint: it is still in the operator's hands; kubectl gt status shows why it waits\n`,
    );
    expect(await ok([...ns(), "retry", `convoy/${CONVOY}`])).toMatch(
      new RegExp(
        `^convoy/${CONVOY} retry requested \\(spec\\.retry=1\\): the operator retries ${TASK} and resets its landing attempts; town demo's circuit breaker is open`,
      ),
    );
    expect(await ok([...ns(), "reset-breaker", "demo"])).toMatch(
      /^town\/demo circuit breaker reset \(spec\.circuitBreakerReset=\S+\): the 4 failed sessions before it no longer count; dispatch starts again\n$/,
    );
    const closed = await waitObject(
      "Town",
      "demo",
      (o) => o?.status?.circuitBreaker?.open === false,
      "the breaker to close",
    );
    expect(condition(closed, "Ready")?.status).toBe("True");
    const merged = await waitObject(
      "Bead",
      BEAD,
      (b) => b?.status?.phase === "Closed",
      "the retried bead to merge",
      240_000,
    );
    expect(merged?.status?.resolution).toBe("Merged");
    expect(merged?.status?.dispatchAttempts).toBe(1);
    const landed = await waitObject(
      "Convoy",
      CONVOY,
      (c) => c?.status?.phase === "Landed",
      "the retried convoy to land",
      240_000,
    );
    expect(landed?.status?.retry).toBe(1);
    // Retried work's escalations are resolved: gone from the town, with their acknowledgements kept.
    const town = await waitObject(
      "Town",
      "demo",
      (o) => escalationIds(o).length === 1,
      "the retried beads' escalations to go",
    );
    expect(escalationIds(town)).toEqual(["circuit-breaker-open-demo"]);
    const again = await kubectlGt([...ns(), "retry", `convoy/${CONVOY}`]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(
      `error: convoy/${CONVOY} is Landed with no Failed or held task: nothing to retry\nhint: it landed; for more work add tasks to it\n`,
    );
  });

  it("cancel convoy/ stops the session working on it and fails its work; a cancelled convoy is not retried", async () => {
    await apply({
      apiVersion: API_VERSION,
      kind: "Convoy",
      metadata: { name: "migrate" },
      spec: {
        town: "demo",
        title: "Migrate the database",
        mergeMode: "ReviewAndMerge",
        tasks: [{ name: "db", title: "Move the tables", description: "HANG until stopped", rig: "app" }],
      },
    });
    const working = await waitObject(
      "Bead",
      "migrate-db",
      (b) => b?.status?.phase === "InProgress",
      "the task to be dispatched",
    );
    const agent = working?.status?.assignee as string;
    const hung = await waitObject("Agent", agent, (a) => a?.status?.phase === "Working", "its polecat to work");
    const log = join(t.sessionsDir, t.namespace, hung?.status?.pod, "session.log");
    await pollUntil(
      () => `the agent command to run (${log})`,
      () => existsSync(log) && readFileSync(log, "utf8").includes("hanging as asked"),
      60_000,
    );
    expect(await ok([...ns(), "cancel", "convoy/migrate"])).toBe(
      "convoy/migrate cancelled (spec.cancel=true): the operator stops its sessions, fails its unfinished tasks, merge requests and landing (ConvoyCancelled), and the convoy becomes Failed\n",
    );
    const cancelled = await waitObject("Bead", "migrate-db", (b) => b?.status?.phase === "Failed", "the task to fail");
    expect([cancelled?.status?.resolution, cancelled?.status?.reason]).toEqual(["Cancelled", "ConvoyCancelled"]);
    await waitObject("Convoy", "migrate", (c) => c?.status?.phase === "Failed", "the convoy to fail");
    await waitObject(
      "Agent",
      agent,
      (a) => a?.status?.phase === "Idle" && a?.spec.hook === undefined,
      "the polecat to be released",
    );
    const session = await ok([...ns(), "logs", "migrate-db"], { env: { GASTOWN_SESSIONS_DIR: t.sessionsDir } });
    expect(session).toContain("hanging as asked");
    expect(session).toMatch(/agent exited on SIGTERM/);

    const retry = await kubectlGt([...ns(), "retry", "convoy/migrate"]);
    expect(retry.code).toBe(1);
    expect(retry.stderr).toMatch(
      /^error: convoy\/migrate is cancelled \(spec\.cancel=true\): the operator ignores a retry of a cancelled convoy\nhint: take the cancel back and retry in one edit: kubectl patch convoy migrate --type=merge -p '\{"spec":\{"cancel":false,"retry":1\}\}'\n$/,
    );
    expect(await ok([...ns(), "cancel", "convoy/migrate"])).toBe(
      "convoy/migrate unchanged: spec.cancel is already true (Failed)\n",
    );
  });
});
