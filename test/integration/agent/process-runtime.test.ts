// The process runtime on the local control plane: a polecat session runs `gt run` end to end on a
// bare repository (its branch appears, a Done report is filed with the agent's own token), a failing
// agent is observed as Failed with its exit code, and no session outlives a stop, close() or the
// operator being killed.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AgentReport } from "../../../src/api/agent-report.ts";
import { API_VERSION } from "../../../src/api/meta.ts";
import { type Town, TownSchema } from "../../../src/api/town.ts";
import { silentLogger } from "../../../src/controller/logger.ts";
import type { SessionObservation } from "../../../src/core/snapshot.ts";
import { createKubeHttp, type KubeHttp } from "../../../src/kube/http.ts";
import { createProcessRuntime } from "../../../src/runtime/process-runtime.ts";
import type { SessionRuntime, StartRequest } from "../../../src/runtime/session-runtime.ts";
import { adminHttp } from "../../support/gastown.ts";
import { createNamespace, kubeConfig, kubeconfigPath } from "../../support/kube.ts";
import { groupGone, pollUntil, processes } from "../../support/processes.ts";
import { createOrigin, git, tip } from "../../unit/agent/fixtures.ts";
import { createAgent, tempDir } from "./support.ts";

function town(name: string, repo: string, command: string[] = []): Town {
  return TownSchema.parse({
    apiVersion: API_VERSION,
    kind: "Town",
    metadata: { name },
    spec: {
      rigs: [{ name: "app", repo }],
      agents: { command },
      timeouts: { heartbeatPeriod: "1s", heartbeatTimeout: "5s" },
    },
  });
}

function request(namespace: string, t: Town, agent: { name: string; uid: string }, bead: string): StartRequest {
  return {
    namespace,
    town: t,
    agent,
    action: {
      type: "StartSession",
      agent: agent.name,
      role: "Polecat",
      rig: "app",
      session: 1,
      pod: `${agent.name}-1`,
      bead,
      context: {
        beadTitle: `Title of ${bead}`,
        beadDescription: `What ${bead} is about.`,
        branch: `gt/app/${bead}`,
        baseBranch: "main",
        targetBranch: "main",
        mergeStrategy: "Direct",
        gates: [],
      },
      why: { reason: "Test", message: "started by the test" },
    },
  };
}

/** Waits on the runtime's change notifications (never a timer) for a session to satisfy `check`. */
function watchSessions(rt: SessionRuntime, namespace: string, keys: string[]) {
  const waiters = new Set<() => void>();
  rt.onChange((key) => {
    keys.push(key);
    for (const w of [...waiters]) w();
  });
  const get = (t: string, name: string) => rt.observe(namespace, t).find((s) => s.name === name);
  return (t: string, name: string, check: (s: SessionObservation | undefined) => boolean, what: string) =>
    new Promise<SessionObservation | undefined>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        waiters.delete(evaluate);
      };
      const evaluate = () => {
        const s = get(t, name);
        if (check(s)) {
          done();
          resolve(s);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for session ${name} ${what}; last seen ${JSON.stringify(get(t, name))}`));
      }, 90_000);
      waiters.add(evaluate);
      evaluate();
    });
}

const finished = (s: SessionObservation | undefined) => s?.phase === "Succeeded" || s?.phase === "Failed";

const hanging = (marker: string) => ["sh", "-c", `sleep 1000; echo ${marker}`];

/** The process group of the hanging agent command carrying `marker`, once it runs. */
async function groupOf(marker: string): Promise<number> {
  // Exact match: the marker also appears in the arguments of the test's own stand-in operator.
  const find = () => processes().find((p) => p.args === hanging(marker).join(" "));
  await pollUntil(`the agent command of ${marker} to run`, () => find() !== undefined, 60_000);
  return find()!.pgid;
}

describe("the process runtime", () => {
  let http: KubeHttp;
  let ns: string;
  let dir: string;
  let rt: SessionRuntime;
  let until: ReturnType<typeof watchSessions>;
  const changedTowns: string[] = [];
  const log = (pod: string) => {
    const path = join(dir, ns, pod, "session.log");
    return existsSync(path) ? readFileSync(path, "utf8") : "(no log)";
  };

  beforeAll(async () => {
    http = adminHttp();
    ns = await createNamespace("process-runtime");
    dir = tempDir("gt-sessions-");
    rt = createProcessRuntime({ http, kubeConfig: kubeConfig(), dir, logger: silentLogger(), stopGraceMs: 2000 });
    until = watchSessions(rt, ns, changedTowns);
    rt.run();
  });

  afterAll(async () => {
    await rt?.close();
  });

  it("runs `gt run` for a polecat end to end: branch pushed to the bare repo, Done reported as the agent", async () => {
    const origin = createOrigin();
    const agent = { name: "gt-app-toast", uid: await createAgent(http, ns, "gt-app-toast") };
    const pod = "gt-app-toast-1";
    expect(rt.hasSynced()).toBe(true);
    expect(await rt.waitForSync()).toBe(true);
    await rt.start(request(ns, town("gt", origin.bare), agent, "login"));
    expect(rt.lookup(ns, pod)?.metadata.uid).toBeTruthy();

    const end = await until("gt", pod, finished, "to finish");
    expect(end, log(pod)).toMatchObject({ phase: "Succeeded", exitCode: 0, reason: "Completed", agent: agent.name });
    expect(end?.finished).toBeGreaterThanOrEqual(end?.started ?? Number.POSITIVE_INFINITY);
    expect(tip(origin, "gt/app/login")).toBeTruthy();
    expect(git(origin.bare, "show", "gt/app/login:beads/login.md")).toBe("# Title of login\n\nWhat login is about.");
    expect(log(pod)).toContain("demo polecat: pushed gt/app/login");
    expect(new Set(changedTowns)).toEqual(new Set([`${ns}/gt`]));

    const reports = await http.json<{ items: AgentReport[] }>({
      method: "GET",
      path: `/apis/gastown.dev/v1alpha1/namespaces/${ns}/agentreports`,
    });
    expect(reports.items.map((r) => r.spec)).toEqual([
      expect.objectContaining({ agent: agent.name, session: 1, bead: "login", type: "Done", branch: "gt/app/login" }),
    ]);
    const lease = await http.json<{ spec: { holderIdentity?: string } }>({
      method: "GET",
      path: `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${agent.name}`,
    });
    expect(lease.spec.holderIdentity).toBe(pod);

    // The session's kubeconfig is private and authenticates as the agent, not as the operator.
    const kubeconfig = join(dir, ns, pod, "kubeconfig");
    expect(statSync(kubeconfig).mode & 0o777).toBe(0o600);
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const review = await createKubeHttp(kc).json<{ status: { userInfo: { username: string } } }>({
      method: "POST",
      path: "/apis/authentication.k8s.io/v1/selfsubjectreviews",
      body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
    });
    expect(review.status.userInfo.username).toBe(`system:serviceaccount:${ns}:${agent.name}`);

    await rt.start(request(ns, town("gt", origin.bare), agent, "login")); // same name: already started
    expect(rt.observe(ns, "gt")).toHaveLength(1);
  });

  it("reports a failing agent command as Failed with its exit code", async () => {
    const origin = createOrigin();
    const agent = { name: "gt-app-maple", uid: await createAgent(http, ns, "gt-app-maple") };
    const t = town("failing", origin.bare, ["sh", "-c", "echo failing on purpose; exit 3"]);
    await rt.start(request(ns, t, agent, "broken"));

    const end = await until("failing", "gt-app-maple-1", finished, "to finish");
    expect(end, log("gt-app-maple-1")).toMatchObject({ phase: "Failed", exitCode: 3, reason: "Error" });
    expect(log("gt-app-maple-1")).toContain("failing on purpose");
  });

  it("stops a hanging session: SIGTERM to its process group, then it is gone like a deleted pod", async () => {
    const origin = createOrigin();
    const agent = { name: "gt-app-birch", uid: await createAgent(http, ns, "gt-app-birch") };
    const marker = `hang-${ns}-birch`;
    await rt.start(request(ns, town("hang", origin.bare, hanging(marker)), agent, "stuck"));
    const pgid = await groupOf(marker);
    expect(rt.observe(ns, "hang")[0]).toMatchObject({ phase: "Running", deleting: false });

    await rt.stop(ns, agent.name, "gt-app-birch-1");
    expect(rt.observe(ns, "hang")[0]?.deleting).toBe(true);
    await until("hang", "gt-app-birch-1", (s) => s === undefined, "to disappear after stop");
    expect(rt.lookup(ns, "gt-app-birch-1")).toBeUndefined();
    await groupGone(pgid);
    expect(log("gt-app-birch-1")).toContain("agent exited");
    await rt.stop(ns, agent.name, "gt-app-birch-1"); // already gone: still fine
  });

  it("leaves no process behind after close()", async () => {
    const origin = createOrigin();
    const own = createProcessRuntime({
      http,
      kubeConfig: kubeConfig(),
      dir,
      logger: silentLogger(),
      stopGraceMs: 1000,
    });
    const agent = { name: "gt-app-cedar", uid: await createAgent(http, ns, "gt-app-cedar") };
    const marker = `hang-${ns}-cedar`;
    await own.start(request(ns, town("closing", origin.bare, hanging(marker)), agent, "stuck"));
    const pgid = await groupOf(marker);

    await own.close();
    await groupGone(pgid);
    expect(
      processes().filter((p) => p.args.includes(marker) || p.args.includes(join(dir, ns, "gt-app-cedar-1"))),
    ).toEqual([]);
    await expect(own.start(request(ns, town("closing", origin.bare), agent, "again"))).rejects.toThrow(/closed/);
  });

  it("takes the session's process group down with it when the operator is killed with SIGKILL", async () => {
    const origin = createOrigin();
    const agent = { name: "gt-app-fern", uid: await createAgent(http, ns, "gt-app-fern") };
    const marker = `hang-${ns}-fern`;
    const req = request(ns, town("orphans", origin.bare, hanging(marker)), agent, "stuck");
    const host: ChildProcess = spawn(
      process.execPath,
      [join(import.meta.dirname, "runtime-host.ts"), kubeconfigPath(), dir, JSON.stringify(req)],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    const exited = once(host, "exit");
    const [chunk] = (await once(host.stdout!, "data")) as [Buffer];
    expect(chunk.toString()).toBe("started\n");
    const pgid = await groupOf(marker);

    host.kill("SIGKILL");
    await exited;
    await groupGone(pgid);
  });
});
