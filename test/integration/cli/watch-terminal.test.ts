// `kubectl gt status --watch` in a real terminal (tmux): the screen is redrawn in place on watch
// events and follows a convoy from its first dispatch to Landed; Ctrl-C ends it.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_VERSION } from "../../../src/api/meta.ts";
import { type DemoTown, ensureTmux, pluginPath, startDemoTown } from "../../support/cli.ts";
import { kubeconfigPath, runKubectl } from "../../support/kube.ts";
import { pollUntil } from "../../support/processes.ts";

let t: DemoTown;
let tmux: string;
const SOCKET = `gastown-cli-${process.pid}`;
const marker = join(mkdtempSync(join(tmpdir(), "gastown-watch-")), "exit");
const run = (...args: string[]) => execFileSync(tmux, ["-L", SOCKET, ...args], { encoding: "utf8" });
const screen = () => run("capture-pane", "-p", "-t", "watch");
const alive = () => {
  try {
    run("has-session", "-t", "watch");
    return true;
  } catch {
    return false;
  }
};

beforeAll(async () => {
  tmux = ensureTmux();
  t = await startDemoTown("cli-tty");
}, 300_000);

afterAll(async () => {
  if (tmux && alive()) run("kill-server");
  await t?.stopOperator();
});

describe("kubectl gt status --watch in a terminal", () => {
  it("redraws in place and follows a convoy to Landed, until Ctrl-C", { timeout: 420_000 }, async () => {
    // The shell survives Ctrl-C (a trap handler, which its children do not inherit) to record how
    // the watch exited.
    const command = `trap true INT; env KUBECONFIG=${kubeconfigPath()} PATH=${pluginPath()} TERM=xterm-256color kubectl gt -n ${t.namespace} status --watch; echo "watch exited $?" > ${marker}; sleep 30`;
    run("new-session", "-d", "-s", "watch", "-x", "150", "-y", "45", command);
    await pollUntil(
      () => `the first frame; the screen:\n${screen()}`,
      () => screen().includes("Town demo"),
      60_000,
    );
    expect(screen()).toMatch(/kubectl gt status --watch · namespace \S+ · \d\d:\d\d:\d\d · Ctrl-C to quit/);
    await runKubectl(
      ["apply", "-n", t.namespace, "-f", "-"],
      JSON.stringify({
        apiVersion: API_VERSION,
        kind: "Convoy",
        metadata: { name: "onboarding" },
        spec: {
          town: "demo",
          title: "Welcome new users",
          tasks: [
            { name: "email", title: "Send a welcome email", rig: "app" },
            { name: "tour", title: "Show a first-run tour", rig: "app", dependsOn: ["email"] },
            { name: "docs", title: "Document onboarding", rig: "app", dependsOn: ["tour"] },
          ],
        },
      }),
    );
    // Sample the screen as the convoy runs: every frame has exactly one header (redrawn in place,
    // never scrolled), and the convoy's row moves forward only.
    const seen: string[] = [];
    await pollUntil(
      () => `the screen to show the convoy Landed; rows seen: ${JSON.stringify(seen)}; the screen:\n${screen()}`,
      () => {
        const s = screen();
        expect(s.match(/^Town demo /gm)).toHaveLength(1);
        expect(s.match(/kubectl gt status --watch/g)).toHaveLength(1);
        const row = /^ {2}onboarding +(\S+) +\S+ (\d)\/3/m.exec(s);
        if (row && seen[seen.length - 1] !== `${row[1]} ${row[2]}`) seen.push(`${row[1]} ${row[2]}`);
        return row?.[1] === "Landed";
      },
      300_000,
    );
    const progress = seen.map((r) => Number(r.split(" ")[1]));
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    // The first frames may show the convoy before the operator wrote its status (Pending).
    expect(seen.filter((r) => !r.startsWith("Pending "))[0]).toMatch(/^Active [0-2]$/);
    expect(seen).toContain("Landed 3");
    expect(seen.length).toBeGreaterThanOrEqual(3);
    const final = screen();
    expect(final).toMatch(/^Beads \(attention first; 7 closed not listed\)\n {2}nothing open$/m);
    expect(final).toMatch(/^ {2}demo-app-refinery +Refinery +app +Idle /m);

    run("send-keys", "-t", "watch", "C-c");
    await pollUntil(
      () => `the watch to end on Ctrl-C; the screen:\n${screen()}`,
      () => existsSync(marker),
      30_000,
    );
    expect(readFileSync(marker, "utf8")).toBe("watch exited 0\n");
  });
});
