// What one `gt` start costs: wall time and peak RSS of the process, next to a bare `node -e 0` of
// the same run (the baseline). gt starts for every tool call an agent makes and, under Claude
// Code, twice per tool the model calls (`gt hook PreToolUse`, `gt hook PostToolUse`, synchronous:
// the CLI waits for them), in every session pod at once. Measured as the agent image runs it
// (src/ compiled by hack/dist.ts, so no type stripper) and as a checkout runs it (src/*.ts).
//   hook:  `gt hook PostToolUse` with a tool-use id on stdin (marks activity, takes no nudge)
//   tool:  `gt escalate` with a session's environment against a closed port: start-up, the
//          session's credentials, one refused connection (the call itself is not measured)
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildDist } from "../hack/dist.ts";
import { f1, median, ROOT } from "./kit.ts";

export interface StartupRow {
  what: string;
  ms: number;
  rssMiB: number;
}

// Printed by the measured process itself as it exits: its own peak RSS.
const PROBE = `data:text/javascript,${encodeURIComponent(
  'process.on("exit", () => process.stderr.write("\\nmaxRSS " + process.resourceUsage().maxRSS + "\\n"));',
)}`;

function once(args: string[], env: NodeJS.ProcessEnv, stdin: string): Promise<{ ms: number; rssKiB: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ["--import", PROBE, ...args], { env, stdio: ["pipe", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (c: Buffer) => {
      err += c.toString();
    });
    child.on("error", reject);
    child.on("close", () => {
      const ms = performance.now() - started;
      const rss = err.match(/maxRSS (\d+)/)?.[1];
      if (!rss) reject(new Error(`${args.join(" ")}: no maxRSS in its stderr: ${err.slice(0, 400)}`));
      else resolve({ ms, rssKiB: Number(rss) });
    });
    child.stdin.end(stdin);
  });
}

async function measure(
  what: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  stdin: string,
  runs: number,
): Promise<StartupRow> {
  await once(args, env, stdin); // warm the file cache
  const samples: { ms: number; rssKiB: number }[] = [];
  for (let i = 0; i < runs; i++) samples.push(await once(args, env, stdin));
  return {
    what,
    ms: median(samples.map((s) => s.ms)),
    rssMiB: median(samples.map((s) => s.rssKiB)) / 1024,
  };
}

export async function benchAgentStartup(runs = Number(process.env.GASTOWN_BENCH_RUNS ?? 3) * 3): Promise<StartupRow[]> {
  // Under ROOT, like the image: the compiled modules find package.json ("type": "module") and node_modules above them.
  const dist = join(ROOT, ".run", "bench-agent-dist");
  buildDist(join(ROOT, "src"), dist);
  const dir = mkdtempSync(join(tmpdir(), "gt-startup-"));
  try {
    const kubeconfig = join(dir, "kubeconfig");
    writeFileSync(
      kubeconfig,
      [
        "apiVersion: v1",
        "kind: Config",
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1', insecure-skip-tls-verify: true}}]",
        "users: [{name: u, user: {token: t}}]",
        "contexts: [{name: x, context: {cluster: c, user: u}}]",
        "current-context: x",
      ].join("\n"),
    );
    const session = {
      GT_NAMESPACE: "ns",
      GT_TOWN: "gt",
      GT_RIG: "app",
      GT_AGENT: "gt-app-toast",
      GT_ROLE: "Polecat",
      GT_SESSION: "1",
      GT_BEAD: "b1",
      GT_BRANCH: "gt/app/b1",
      GT_BASE_BRANCH: "main",
      GT_TARGET_BRANCH: "main",
      GT_REPO: "/nonexistent",
      GT_DEFAULT_BRANCH: "main",
      GT_MERGE_STRATEGY: "Direct",
      GT_WORKSPACE: join(dir, "ws"),
      GT_ACTIVITY_DIR: join(dir, "activity"),
      KUBECONFIG: kubeconfig,
    };
    const env = { PATH: process.env.PATH ?? "", HOME: dir, ...session };
    const hookInput = JSON.stringify({ hook_event_name: "PostToolUse", tool_name: "Bash", tool_use_id: "toolu_1" });
    const tool = ["escalate", "--severity", "low", "--message", "bench"];
    const rows = [await measure("node -e 0 (baseline)", ["-e", "0"], env, "", runs)];
    for (const [how, main] of [
      ["compiled (image)", join(dist, "agent", "main.js")],
      ["src/*.ts", join(ROOT, "src", "agent", "main.ts")],
    ] as const) {
      rows.push(await measure(`gt hook, ${how}`, [main, "hook", "PostToolUse"], env, hookInput, runs));
      rows.push(await measure(`gt escalate, ${how}`, [main, ...tool], env, "", runs));
    }
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(dist, { recursive: true, force: true });
  }
}

export function printAgentStartup(rows: StartupRow[]): void {
  const base = rows[0];
  if (!base) return;
  console.log("agent startup: one gt process, median of the runs; ratio = against node -e 0 of the same run");
  console.log("  what                              wall ms   ratio   peak RSS MiB   ratio");
  for (const r of rows) {
    console.log(
      `  ${r.what.padEnd(32)} ${f1(r.ms).padStart(8)} ${(r.ms / base.ms).toFixed(2).padStart(7)} ${f1(r.rssMiB).padStart(14)} ${(r.rssMiB / base.rssMiB).toFixed(2).padStart(7)}`,
    );
  }
}
