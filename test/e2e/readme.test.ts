// The README's commands, as typed, in the shell the README sets up: every command of its `sh`
// blocks either runs here (against this run's cluster, in a namespace of its own) or is listed
// below with the reason it cannot run inside `make test` and the test that covers it instead.
// A command added to the README that is neither fails this test. The shell starts from the
// machine's PATH without this repository's directories, so the README's own `export PATH=...` is
// what makes `node` Node 24 and `kubectl` the control plane's.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { createNamespace, kubeConfig } from "../support/kube.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const README = readFileSync(join(ROOT, "README.md"), "utf8");

/** Commands that do not run inside make test, and why. */
const NOT_RUN: [RegExp, string][] = [
  [/^make test$/, "it is the run this test is part of"],
  [/^make run$/, "runs until Ctrl-C; test/e2e/demo-convoys.test.ts drives it exactly as the quick start does"],
  [
    /^make run AGENT=\S+$/,
    "runs until Ctrl-C with a real coding-agent CLI and a model; test/integration/agent/real-cli.test.ts runs each preset",
  ],
  [
    /^make cluster(-down)?$/,
    "would start or stop the developer's own .run/cluster; hack/cluster.ts is what the integration setup uses",
  ],
  [/^make images\b/, "needs a Docker engine (make test-e2e-kind)"],
  [
    /^make (deploy|undeploy)\b/,
    "waits for a rollout, which needs a cluster with workload controllers (kind); the manifests and chart e2e tests dry-run and install the same objects",
  ],
  [
    /^git --git-dir=\.run\/demo\/app\.git /,
    "reads make run's repository; test/e2e/demo-convoys.test.ts checks its history",
  ],
  [
    /^kubectl gt logs\b/,
    "needs a session that ran, and no operator runs here; test/integration/cli/kubectl-gt.test.ts reads a session's log",
  ],
  [
    /^export KUBECONFIG=\$PWD\/\.run\/(run|cluster)\/kubeconfig\b/,
    "points at make run's or make cluster's cluster; here KUBECONFIG is this run's cluster",
  ],
];

/** The commands of the README's sh blocks, one per line, comments and continuations resolved. */
function readmeCommands(): string[] {
  const blocks = [...README.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  return blocks.flatMap((b) =>
    b
      .replace(/\\\n\s*/g, " ")
      .split("\n")
      .map((l) => l.replace(/\s+#.*$/, "").trim())
      .filter((l) => l !== "" && !l.startsWith("#")),
  );
}

let dir: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  const ns = await createNamespace("readme");
  dir = mkdtempSync(join(tmpdir(), "gastown-readme-"));
  // This run's cluster, with the test namespace as the context's default (as make run's is "default").
  const kc = kubeConfig();
  const kubeconfig = join(dir, "kubeconfig");
  const doc = JSON.parse(kc.exportConfig()) as { contexts: { context: { namespace?: string } }[] };
  for (const c of doc.contexts) c.context.namespace = ns;
  writeFileSync(kubeconfig, stringify(doc), { mode: 0o600 });
  const ours = new Set([join(ROOT, "node_modules", ".bin"), join(ROOT, "hack", "bin")]);
  const machinePath = (process.env.PATH ?? "")
    .split(delimiter)
    .filter((p) => !ours.has(p))
    .join(delimiter);
  env = { ...process.env, PATH: machinePath, KUBECONFIG: kubeconfig };
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs a script in bash, in the repository, as the README's reader would. */
function sh(script: string, timeoutMs = 60_000): Promise<{ code: number | string; out: string }> {
  return new Promise((resolve) =>
    execFile("bash", ["-c", script], { cwd: ROOT, env, timeout: timeoutMs }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number | string }).code ?? 1) : 0, out: stdout + stderr }),
    ),
  );
}

describe("the README's commands", () => {
  const commands = readmeCommands();
  const run = commands.filter((c) => !NOT_RUN.some(([re]) => re.test(c)));

  it("are all either run here or listed with a reason", () => {
    expect(commands.length).toBeGreaterThan(5);
    const known = (c: string) => NOT_RUN.some(([re]) => re.test(c)) || /^(export PATH=|kubectl )/.test(c);
    expect(commands.filter((c) => !known(c))).toEqual([]);
  });

  it("run as typed in the shell the README sets up", { timeout: 180_000 }, async () => {
    const setup = run.filter((c) => c.startsWith("export "));
    expect(setup.length).toBeGreaterThan(0);
    for (const command of run.filter((c) => !c.startsWith("export "))) {
      // `--watch` never ends by itself: it must print the current state, then it is stopped.
      const watching = / --watch\b/.test(command);
      const script = [...setup, watching ? `timeout 5 ${command}; test $? = 124` : command].join("\n");
      const { code, out } = await sh(script);
      expect(code, `${command}\n${out}`).toBe(0);
      // No operator watches this namespace, so there may be no bead to list yet; the rest list what was applied.
      if (command.startsWith("kubectl get") && !watching) expect(out, command).toMatch(/NAME/);
    }
  });

  it("include `node src/main.ts --help`, which works there with Node 24", async () => {
    expect(README).toContain("`node src/main.ts --help`");
    const setup = run.filter((c) => c.startsWith("export PATH="));
    const { code, out } = await sh([...setup, "node --version", "node src/main.ts --help"].join("\n"));
    expect(code, out).toBe(0);
    expect(out).toMatch(/^v24\./);
    expect(out).toContain("Usage: node src/main.ts [flags]");
    expect(out).toContain("--metrics-secure");
  });

  it("say which Kubernetes version the operator needs", () => {
    expect(README).toMatch(/Kubernetes ≥ 1\.30/);
  });
});
