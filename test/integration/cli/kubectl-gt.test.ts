// `kubectl gt` as a person uses it: the real kubectl finds the plugin on PATH and runs it against
// the local control plane, while the operator (process runtime, scripted demo agents, a real bare
// git repository) drives a convoy. Golden outputs are compared with ages, times and column widths
// normalised (the exact layout is unit-tested in test/unit/cli). One convoy run is followed by
// everything that follows: feed, status --watch as plain lines, and status --watch redrawn in a
// real terminal (tmux). The actions on healthy work are here; those on failed, held and escalated
// work are in actions.test.ts.
import { type ChildProcess, spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KUBECTL } from "../../../hack/local-cluster.ts";
import { AgentSpecSchema } from "../../../src/api/agent.ts";
import { API_VERSION } from "../../../src/api/meta.ts";
import { columns, type DemoTown, kubectlGt, normalize, ok, pluginPath, startDemoTown } from "../../support/cli.ts";
import { kubeConfig, kubeconfigPath, runKubectl, waitFor } from "../../support/kube.ts";
import { pollUntil } from "../../support/processes.ts";
import { ensureTmux, openTerminal, watchScreen } from "../../support/terminal.ts";

const kc = kubeConfig();
let t: DemoTown;
const CONVOY = "signup";

function convoyManifest(name: string, staged: boolean) {
  return {
    apiVersion: API_VERSION,
    kind: "Convoy",
    metadata: { name },
    spec: {
      town: "demo",
      title: "Let people sign up",
      staged,
      tasks: [
        { name: "schema", title: "Add the accounts table", rig: "app", priority: 1 },
        { name: "api", title: "Add the signup endpoint", rig: "app", dependsOn: ["schema"] },
        { name: "ui", title: "Add the signup form", rig: "app", dependsOn: ["schema"] },
        { name: "release", title: "Announce signups", rig: "app", priority: 3, dependsOn: ["api", "ui"] },
      ],
    },
  };
}

type Obj = {
  metadata: { name: string; generation?: number; managedFields?: { manager?: string }[] };
  spec: Record<string, unknown>;
  // biome-ignore lint/suspicious/noExplicitAny: status fields are read ad hoc by the assertions
  status?: Record<string, any>;
};

const waitObject = (
  kind: string,
  name: string,
  check: (o: Obj | undefined) => boolean,
  description: string,
  timeoutMs = 120_000,
) =>
  waitFor<Obj & { apiVersion: string; kind: string }>(
    kc,
    { apiVersion: API_VERSION, kind, namespace: t.namespace, name },
    (o) => check(o as Obj | undefined),
    {
      description,
      timeoutMs,
    },
  );

/** A long-running `kubectl gt` (feed, status --watch) whose output is collected until stop(). */
function background(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child: ChildProcess = spawn(KUBECTL, ["gt", ...args], {
    env: { ...process.env, KUBECONFIG: kubeconfigPath(), PATH: pluginPath(), NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (c: Buffer) => {
    out += c.toString("utf8");
  });
  child.stderr?.on("data", (c: Buffer) => {
    err += c.toString("utf8");
  });
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return {
    output: () => out,
    errors: () => err,
    async stop(): Promise<number | null> {
      child.kill("SIGINT");
      return exited;
    },
  };
}

beforeAll(async () => {
  ensureTmux();
  // Two polecats at most: the diamond always needs exactly two, so the golden crew is stable.
  t = await startDemoTown("cli", { maxPolecatsPerRig: 2 });
}, 240_000);

/** Dispatched: a polecat claimed it (it may have finished since). */
const dispatched = (b: Obj | undefined) => b?.status?.assignee !== undefined || (b?.status?.phase ?? "Open") !== "Open";

afterAll(async () => {
  await t?.stopOperator();
});

describe("kubectl gt, found by kubectl's plugin discovery", () => {
  it("is listed by kubectl plugin list, and runs under Node 24 although node on PATH may be older", async () => {
    const list = await kubectlGt(["plugin", "list"], { raw: true });
    expect(list.stdout).toMatch(/src\/cli\/bin\/kubectl-gt$/m);
    expect(await ok(["version"])).toMatch(/^kubectl-gt \d+\.\d+\.\d+ \(API gastown\.dev\/v1alpha1\)$/m);
    const help = await ok(["--help"]);
    expect(help).toContain("Examples:");
    expect(help).toContain("Exit codes:");
    expect(await ok(["status", "--help"])).toContain("kubectl gt status demo --watch");
  });

  it("completes through kubectl's own completion (kubectl_complete-gt) with commands, flags and object names", async () => {
    const commands = await kubectlGt(["__complete", "gt", "st"], { raw: true });
    expect(commands.stdout.split("\n").map((l) => l.split("\t")[0])).toEqual(
      expect.arrayContaining(["status", "stage", "start"]),
    );
    expect(commands.stdout).toMatch(/^:4$/m);
    const towns = await kubectlGt(["__complete", "gt", "-n", t.namespace, "suspend", ""], { raw: true });
    expect(towns.stdout.split("\n")[0]).toBe("demo\tTown");
    const outputs = await kubectlGt(["__complete", "gt", "status", "-o", ""], { raw: true });
    expect(outputs.stdout.split("\n").slice(0, 2)).toEqual(["json", "yaml"]);
    for (const shell of ["bash", "zsh"]) expect(await ok(["completion", shell])).toContain("kubectl-gt __complete");
  });

  it("names the object and the fix when something is wrong, with the documented exit codes", async () => {
    const missing = await kubectlGt(["-n", t.namespace, "convoy", "no-such-convoy"]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toBe(
      `error: convoy "no-such-convoy" not found in namespace "${t.namespace}"\nhint: list them with: kubectl get convoys -n ${t.namespace}\n`,
    );
    const usage = await kubectlGt(["status", "-o", "xml"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("argument 'xml' is invalid. Allowed choices are json, yaml.");
    const noTown = await kubectlGt(["-n", t.namespace, "status", "nowhere"]);
    expect(noTown.code).toBe(3);
    expect(noTown.stderr).toContain(`hint: towns in ${t.namespace}: demo`);
    const context = await kubectlGt(["--context", "nope", "status"]);
    expect(context.code).toBe(2);
    expect(context.stderr).toMatch(/error: context "nope" is not in the kubeconfig\nhint: known contexts: /);
  });
});

describe("a convoy followed from staged to landed", () => {
  it("shows the staged convoy: status, the dependency tree and -o json (golden)", async () => {
    await runKubectl(["apply", "-n", t.namespace, "-f", "-"], JSON.stringify(convoyManifest(CONVOY, true)));
    await waitObject("Convoy", CONVOY, (c) => c?.status?.phase === "Staged", "the convoy to be Staged");
    await waitObject(
      "Bead",
      `${CONVOY}-release`,
      (b) => b?.status?.conditions?.some((c: { type: string }) => c.type === "Blocked"),
      "the last task to be Blocked",
    );
    await waitObject(
      "Bead",
      `${CONVOY}-schema`,
      (b) => b?.status?.conditions?.some((c: { reason: string }) => c.reason === "Staged"),
      "the first task to be held as Staged",
    );
    const ns = ["-n", t.namespace];
    await expect(columns(await ok([...ns, "status"]))).toMatchFileSnapshot("golden/status-staged.txt");
    await expect(columns(await ok([...ns, "convoy", CONVOY]))).toMatchFileSnapshot("golden/convoy-staged.txt");
    await expect(
      normalize(await ok([...ns, "status", "demo", "-o", "json"])).replaceAll(t.namespace, "<namespace>"),
    ).toMatchFileSnapshot("golden/status-staged.json");
    await expect(await ok([...ns, "convoy", CONVOY, "--dot"])).toMatchFileSnapshot("golden/convoy-staged.dot");
    await expect(await ok([...ns, "convoy", CONVOY, "--mermaid"])).toMatchFileSnapshot("golden/convoy-staged.mmd");
  });

  it("start dispatches it; feed (with watches cut every 2 s), status --watch as lines and in a terminal follow it to Landed; the views show it landed (golden)", {
    timeout: 420_000,
  }, async () => {
    // Short server-side watch timeouts: the feed and the watches reconnect many times while the convoy runs.
    const env = { GASTOWN_CLI_WATCH_TIMEOUT_SECONDS: "2" };
    const feed = background(["-n", t.namespace, "feed", "-o", "json", "--since", "1h"], env);
    const watch = background(["-n", t.namespace, "status", "--watch"], env);
    const term = openTerminal(
      `env KUBECONFIG=${kubeconfigPath()} PATH=${pluginPath()} TERM=xterm-256color GASTOWN_CLI_WATCH_TIMEOUT_SECONDS=2 kubectl gt -n ${t.namespace} status --watch`,
    );
    try {
      await pollUntil(
        () => `status --watch to print the first lines; stderr: ${watch.errors()}`,
        () => watch.output().includes(`convoy/${CONVOY} Staged 0/4`),
        60_000,
      );
      // The feed prints the past hour's Events once its watches are synced: only then is it safe to start.
      await pollUntil(
        () => `feed to print the staged convoy's Events; stderr: ${feed.errors()}`,
        // The tasks' creation is told on their convoy (transition-events.ts).
        () => feed.output().includes(`of convoy ${CONVOY} is bead ${CONVOY}-`),
        60_000,
      );
      await watchScreen(term, (s) => /^ {2}signup +Staged /m.test(s), {
        timeoutMs: 60_000,
        what: "the terminal's first frame",
      });
      expect(term.screen()).toMatch(/kubectl gt status --watch · namespace \S+ · \d\d:\d\d:\d\d · Ctrl-C to quit/);

      const started = await ok(["-n", t.namespace, "start", CONVOY]);
      expect(started).toBe(`convoy/${CONVOY} started (spec.staged=false): its unblocked tasks are dispatched now\n`);
      expect(await ok(["-n", t.namespace, "start", CONVOY])).toBe(
        `convoy/${CONVOY} unchanged: already started (Active)\n`,
      );
      // The terminal, sampled as the convoy runs: every frame has exactly one header (redrawn in
      // place, never scrolled), and the convoy's row only moves forward.
      const seen: string[] = [];
      const final = await watchScreen(
        term,
        (s) => {
          expect(s.match(/^Town demo /gm)).toHaveLength(1);
          expect(s.match(/kubectl gt status --watch/g)).toHaveLength(1);
          const row = /^ {2}signup +(\S+) +\S+ (\d)\/4/m.exec(s);
          if (row && seen[seen.length - 1] !== `${row[1]} ${row[2]}`) seen.push(`${row[1]} ${row[2]}`);
          return row?.[1] === "Landed";
        },
        { timeoutMs: 300_000, what: `the terminal to show the convoy Landed (rows seen: ${JSON.stringify(seen)})` },
      );
      const progress = seen.map((r) => Number(r.split(" ")[1]));
      expect(progress).toEqual([...progress].sort((a, b) => a - b));
      expect(seen[0]).toMatch(/^(Staged|Active) 0$/); // the frame before start was checked above
      expect(seen.some((r) => r.startsWith("Active "))).toBe(true);
      expect(seen[seen.length - 1]).toBe("Landed 4");
      expect(final).toMatch(/^Beads \(attention first; 9 closed not listed\)\n {2}nothing open$/m);
      expect(final).toMatch(/^ {2}demo-app-refinery +Refinery +app +Idle /m);
      term.sendKeys("C-c");
      await pollUntil(
        () => `the terminal's watch to end on Ctrl-C; the screen:\n${term.screen()}`,
        () => term.exitStatus() !== undefined,
        30_000,
      );
      expect(term.exitStatus()).toBe(0);
    } finally {
      term.close();
    }

    await waitObject("Convoy", CONVOY, (c) => c?.status?.phase === "Landed", "the convoy to land", 60_000);
    await pollUntil(
      () => `feed to show the landing; it printed:\n${feed.output()}\n${feed.errors()}`,
      () => feed.output().includes(`"object":"convoy/${CONVOY}","reason":"PhaseChanged","message":"Landing → Landed"`),
      30_000,
    );
    await pollUntil(
      () => `status --watch to show the landing:\n${watch.output()}`,
      () => watch.output().includes(`convoy/${CONVOY} Landed 4/4`),
      30_000,
    );
    expect([0, null]).toContain(await feed.stop());
    expect([0, null]).toContain(await watch.stop());

    const entries = feed
      .output()
      .trim()
      .split("\n")
      .map(
        (l) =>
          JSON.parse(l) as {
            time: string;
            kind: string;
            object: string;
            reason: string;
            message: string;
            count?: number;
          },
      );
    // Every phase change of every task bead, once each and in order, across all the reconnects.
    for (const task of ["schema", "api", "ui", "release"]) {
      const phases = entries
        .filter((e) => e.kind === "Phase" && e.object === `bead/${CONVOY}-${task}`)
        .map((e) => e.message);
      expect(phases, task).toEqual(["Open → InProgress", "InProgress → InReview", "InReview → Closed"]);
    }
    const events = entries.filter((e) => e.kind === "Event").map((e) => JSON.stringify(e));
    expect(events.length).toBeGreaterThan(10);
    expect(new Set(events).size).toBe(events.length);
    // The convoy's phases, as a chain (the operator may pass Complete within one reconcile).
    const convoyPhases = entries
      .filter((e) => e.object === `convoy/${CONVOY}` && e.kind === "Phase")
      .map((e) => e.message.split(" → "));
    expect(convoyPhases[0]).toEqual(["Staged", "Active"]);
    expect(convoyPhases[convoyPhases.length - 1]).toEqual(["Landing", "Landed"]);
    for (let i = 1; i < convoyPhases.length; i++) expect(convoyPhases[i]?.[0]).toBe(convoyPhases[i - 1]?.[1]);
    // status --watch without a terminal: one line per change, the convoy's story among them.
    const convoyLines = watch
      .output()
      .split("\n")
      .filter((l) => l.startsWith(`convoy/${CONVOY} `));
    expect(convoyLines[0]).toBe(`convoy/${CONVOY} Staged 0/4`);
    expect(convoyLines[convoyLines.length - 1]).toBe(`convoy/${CONVOY} Landed 4/4`);

    const ns = ["-n", t.namespace];
    await expect(columns(await ok([...ns, "status"]))).toMatchFileSnapshot("golden/status-landed.txt");
    await expect(columns(await ok([...ns, "convoy", CONVOY]))).toMatchFileSnapshot("golden/convoy-landed.txt");
    await expect(
      normalize(await ok([...ns, "convoy", CONVOY, "-o", "json"])).replaceAll(t.namespace, "<namespace>"),
    ).toMatchFileSnapshot("golden/convoy-landed.json");
  });

  it("logs shows a bead's session (the process runtime's session.log) and the refinery's merge", async () => {
    const env = { GASTOWN_SESSIONS_DIR: t.sessionsDir };
    const polecat = await ok(["-n", t.namespace, "logs", `${CONVOY}-api`], { env });
    expect(polecat).toContain(`demo polecat: pushed gt/app/${CONVOY}-api`);
    expect(polecat).toContain(`reported Done for bead ${CONVOY}-api`);
    const mr = await ok(["-n", t.namespace, "logs", `${CONVOY}-api-mr-1`], { env });
    expect(mr).toMatch(new RegExp(`demo refinery: merged gt/app/${CONVOY}-api into convoy/${CONVOY} at [0-9a-f]{40}`));
    const none = await kubectlGt(["-n", t.namespace, "logs", "demo-app-refinery", "--session", "999"], { env });
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/^error: agent\/demo-app-refinery has no session 999; its sessions: 1, 2, /);
  });
});

describe("actions on healthy work change what the operator does", () => {
  const ns = () => ["-n", t.namespace];

  it("suspend stops dispatch (a slung bead waits), resume lets it be dispatched", async () => {
    expect(await ok([...ns(), "suspend", "demo"])).toBe(
      "town/demo suspended (spec.suspend=true): no new dispatch; running sessions and all state are kept\n",
    );
    const town = await waitObject(
      "Town",
      "demo",
      (o) => o?.status?.observedGeneration === o?.metadata.generation,
      "the operator to see the suspension",
    );
    expect(town?.spec.suspend).toBe(true);
    const slung = await ok([...ns(), "sling", "Write the changelog", "-d", "What changed in this release", "-p", "1"]);
    const name =
      /^bead\/(\S+) created on town demo, rig app: dispatched when a polecat is free \(the town is suspended: kubectl gt resume demo\)$/.exec(
        slung.trim(),
      )?.[1];
    expect(name, slung).toMatch(/^write-the-changelog-[a-z0-9]{5}$/);
    // The operator has planned the bead (its Ready condition is written) and left it Open.
    const waiting = await waitObject(
      "Bead",
      name!,
      (b) => b?.status?.conditions?.some((c: { type: string }) => c.type === "Ready"),
      "the bead to be planned",
    );
    expect(waiting?.status?.phase).toBe("Open");
    expect(waiting?.status?.assignee).toBeUndefined();
    expect(waiting?.spec.priority).toBe(1);
    expect(await ok([...ns(), "resume", "demo"])).toBe(
      "town/demo resumed (spec.suspend=false): dispatch starts again\n",
    );
    await waitObject("Bead", name!, dispatched, "the slung bead to be dispatched");
  });

  it("cancel fails an Open bead (reason Cancelled) and refuses a finished one", async () => {
    await ok([...ns(), "suspend", "demo"]);
    const slung = await ok([...ns(), "sling", "Try a risky idea"]);
    const name = /^bead\/(\S+) created/.exec(slung)?.[1] ?? "";
    expect(await ok([...ns(), "cancel", name])).toBe(
      `bead/${name} cancelled (spec.cancel=true): the operator stops its sessions and fails it with reason Cancelled\n`,
    );
    const failed = await waitObject("Bead", name, (b) => b?.status?.phase === "Failed", "the cancelled bead to fail");
    expect(failed?.status?.resolution).toBe("Cancelled");
    const again = await kubectlGt([...ns(), "cancel", `${CONVOY}-api`]);
    expect(again.code).toBe(1);
    expect(again.stderr).toBe(`error: bead/${CONVOY}-api is already Closed: there is nothing left to cancel\n`);
    await ok([...ns(), "resume", "demo"]);
  });

  it("sling --convoy --staged makes a one-task convoy that waits until start", async () => {
    const out = await ok([...ns(), "sling", "Tidy the README", "--convoy", "--staged"]);
    const name =
      /^convoy\/(\S+) created on town demo, rig app \(one task, staged: start it with kubectl gt start \S+\)$/.exec(
        out.trim(),
      )?.[1];
    expect(name, out).toMatch(/^tidy-the-readme-[a-z0-9]{5}$/);
    await waitObject("Convoy", name!, (c) => c?.status?.phase === "Staged", "the slung convoy to be Staged");
    const task = `${name}-tidy-the-readme`;
    expect((await waitObject("Bead", task, (b) => b !== undefined, "its task"))?.status?.assignee).toBeUndefined();
    await ok([...ns(), "start", name!]);
    await waitObject("Bead", task, dispatched, "the started convoy's task to be dispatched");
  });

  // Agent.spec.nudge comes with the agents' presets (issue 11); the CRDs installed here are this
  // checkout's, so which of the two answers is right is decided by the API this CLI is built with.
  const hasNudgeField = "nudge" in AgentSpecSchema.shape;
  it(
    hasNudgeField
      ? "nudge writes Agent.spec.nudge once, with a fresh id"
      : "nudge is refused by an Agent CRD without spec.nudge, and sends nothing",
    async () => {
      const agent = "demo-app-refinery";
      const r = await kubectlGt([...ns(), "nudge", agent, "rebase on main"]);
      const after = await waitObject("Agent", agent, (a) => a !== undefined, "the refinery");
      if (hasNudgeField) {
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toMatch(/^agent\/demo-app-refinery nudged \(spec\.nudge\.id=\S+\): /);
        const written = after?.spec.nudge as { id?: string; message?: string } | undefined;
        expect(written?.message).toBe("rebase on main");
        expect(written?.id).toBe(/spec\.nudge\.id=(\S+)\)/.exec(r.stdout)?.[1]);
      } else {
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(
          /^error: the Agent CRD in this cluster has no spec\.nudge: nothing was sent to agent\/demo-app-refinery\nhint: /,
        );
        // Nothing written by the CLI (the operator's own writes to the agent may come and go meanwhile).
        const managers = (after?.metadata.managedFields ?? []).map((f) => f.manager);
        expect(managers).not.toContain("kubectl-gt");
        expect(after?.spec.nudge).toBeUndefined();
      }
      const missing = await kubectlGt([...ns(), "nudge", "demo-app-nobody", "hello"]);
      expect(missing.code).toBe(3);
    },
  );
});
