// Building blocks of an e2e-kind scenario: a namespace under the restricted Pod Security profile,
// a git rig served from a pod in it, a Town whose sessions run the agent image loaded into kind,
// and what a person would look at when a scenario fails.
import { execFile } from "node:child_process";
import type { KubernetesObject, V1Pod } from "@kubernetes/client-node";
import { inject, onTestFailed } from "vitest";
import type { Agent } from "../../../src/api/agent.ts";
import type { Bead } from "../../../src/api/bead.ts";
import { API_VERSION } from "../../../src/api/meta.ts";
import { LABELS } from "../../../src/controller/resources.ts";
import { createNamespace, kubeConfig, runKubectl, waitFor } from "../../support/kube.ts";
import { FAST_TIMEOUTS } from "../../support/manifests.ts";

/**
 * FAST_TIMEOUTS with room for real pods on a busy two-core machine: a session's first heartbeat
 * comes after its image's Node has started and cloned the rig, which can take several seconds.
 */
export const KIND_TIMEOUTS = {
  ...FAST_TIMEOUTS,
  heartbeatPeriod: "2s",
  heartbeatTimeout: "30s",
  startupGrace: "90s",
  abandonedReview: "10s",
  dispatchBackoff: ["2s", "2s", "2s", "2s", "2s"],
};

export type BeadObject = KubernetesObject & { spec: Bead["spec"]; status?: Bead["status"] };
export type AgentObject = KubernetesObject & { spec: Agent["spec"]; status?: Agent["status"] };

export const images = () => inject("kind");

/** A namespace for one scenario; session pods there must meet the restricted profile. */
export async function scenarioNamespace(prefix: string): Promise<string> {
  const ns = await createNamespace(prefix, { labels: { "pod-security.kubernetes.io/enforce": "restricted" } });
  onTestFailed(async () => {
    process.stderr.write(`--- ${ns} at the failure\n${await diagnostics(ns)}\n`);
  });
  return ns;
}

/** The scenario's objects, session pods, events and the operator's last log lines. */
export async function diagnostics(ns: string): Promise<string> {
  const parts = await Promise.all(
    [
      runKubectl(["get", "gastown,pods", "-n", ns, "-o", "wide"]),
      runKubectl(["get", "beads,agents", "-n", ns, "-o", "yaml"]),
      runKubectl(["get", "events", "-n", ns, "--sort-by=.lastTimestamp"]),
      runKubectl([
        "logs",
        "-n",
        "gastown-system",
        "-l",
        "app.kubernetes.io/name=gastown-operator",
        "--prefix",
        "--tail=60",
      ]),
    ].map((p) => p.catch((e: Error) => e.message)),
  );
  return parts.join("\n");
}

const SERVE = `#!/bin/sh
# Seeds a bare repository with one commit on main, then serves it read-write (no auth: tests only).
set -eu
git init --quiet --bare --initial-branch=main /srv/git/app.git
seed=$(mktemp -d)
cd "$seed"
git init --quiet --initial-branch=main
cp /seed/README.md README.md
mkdir scripts
cp /seed/check.sh scripts/check.sh
chmod 755 scripts/check.sh
git add .
git -c user.name="Gas Town demo" -c user.email=demo@gastown.local commit --quiet -m "Start the demo rig"
git push --quiet /srv/git/app.git HEAD:refs/heads/main
exec git daemon --reuseaddr --base-path=/srv/git --export-all --enable=receive-pack --port=9418 /srv/git
`;
// The demo rig of `make run` (hack/demo/repo.ts): a README and a gate that refuses TODO lines.
const README = "# app\n\nThe demo rig of Gas Town. Each bead that lands adds its own file under beads/.\n";
const CHECK = `#!/bin/sh
# Gate of the demo rig: no bead file may keep an unresolved TODO line.
if grep -n '^TODO' beads/*.md 2>/dev/null; then
  echo "unresolved TODO lines (see above)"
  exit 1
fi
echo "check passed"
`;

export interface Rig {
  /** The git URL sessions clone. */
  repo: string;
  /** git in the served bare repository; resolves to its output lines. */
  git(...args: string[]): Promise<string[]>;
}

/** The demo rig, served by `git daemon` from a pod of the agent image (git is in it). */
export async function serveRig(ns: string): Promise<Rig> {
  const { agentImage } = images();
  const objects = [
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "demo-rig", namespace: ns },
      data: { "README.md": README, "check.sh": CHECK, "serve.sh": SERVE },
    },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "git-server", namespace: ns },
      spec: {
        selector: { matchLabels: { app: "git-server" } },
        template: {
          metadata: { labels: { app: "git-server" } },
          spec: {
            securityContext: {
              runAsNonRoot: true,
              runAsUser: 1000,
              runAsGroup: 1000,
              seccompProfile: { type: "RuntimeDefault" },
            },
            containers: [
              {
                name: "git",
                image: agentImage,
                imagePullPolicy: "Never",
                command: ["tini", "--", "sh", "/seed/serve.sh"],
                env: [{ name: "HOME", value: "/tmp" }],
                ports: [{ name: "git", containerPort: 9418 }],
                readinessProbe: { tcpSocket: { port: "git" }, periodSeconds: 1 },
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ["ALL"] },
                },
                volumeMounts: [
                  { name: "seed", mountPath: "/seed" },
                  { name: "repos", mountPath: "/srv/git" },
                  { name: "tmp", mountPath: "/tmp" },
                ],
              },
            ],
            volumes: [
              { name: "seed", configMap: { name: "demo-rig" } },
              { name: "repos", emptyDir: {} },
              { name: "tmp", emptyDir: {} },
            ],
          },
        },
      },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "git-server", namespace: ns },
      spec: { selector: { app: "git-server" }, ports: [{ name: "git", port: 9418, targetPort: "git" }] },
    },
  ];
  await runKubectl(["apply", "-f", "-"], JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }));
  await runKubectl(["rollout", "status", "deployment/git-server", "-n", ns, "--timeout=180s"]);
  return {
    repo: `git://git-server.${ns}.svc.cluster.local/app.git`,
    git: async (...args) => {
      const out = await runKubectl([
        "exec",
        "-n",
        ns,
        "deployment/git-server",
        "--",
        "git",
        "--git-dir=/srv/git/app.git",
        ...args,
      ]);
      return out.split("\n").filter(Boolean);
    },
  };
}

export interface TownOptions {
  /** Town.spec.agents.image and imagePullPolicy (default: the agent image kind loaded, Never). */
  image?: string;
  imagePullPolicy?: "Always" | "IfNotPresent" | "Never";
  /** Town.spec.agents.env. */
  env?: Record<string, unknown>[];
  /** Town.spec.agents.command: what `gt run` starts in each session (default: the demo agent). */
  command?: string[];
  /** Town.spec.agents' preset fields (cli, model, provider, maxRetries): a real coding-agent CLI. */
  preset?: Record<string, unknown>;
  resources?: Record<string, unknown>;
  /** Town.spec.agents.workspace (default: an emptyDir). */
  workspace?: Record<string, unknown>;
  timeouts?: Record<string, unknown>;
  limits?: Record<string, unknown>;
}

/** A Town on the rig whose sessions run the agent image kind has loaded (never pulled). */
export async function applyTown(ns: string, name: string, rig: Rig, opts: TownOptions = {}): Promise<void> {
  const town = {
    apiVersion: API_VERSION,
    kind: "Town",
    metadata: { name, namespace: ns },
    spec: {
      rigs: [
        { name: "app", repo: rig.repo, defaultBranch: "main", mergeStrategy: "Direct", gates: ["sh scripts/check.sh"] },
      ],
      agents: {
        image: opts.image ?? images().agentImage,
        imagePullPolicy: opts.imagePullPolicy ?? "Never",
        ...(opts.env ? { env: opts.env } : {}),
        ...(opts.command ? { command: opts.command } : {}),
        ...(opts.preset ?? {}),
        ...(opts.resources ? { resources: opts.resources } : {}),
        ...(opts.workspace ? { workspace: opts.workspace } : {}),
      },
      limits: { maxPolecatsPerRig: 3, ...(opts.limits ?? {}) },
      timeouts: { ...KIND_TIMEOUTS, ...(opts.timeouts ?? {}) },
    },
  };
  await runKubectl(["apply", "-f", "-"], JSON.stringify(town));
}

/** A single Issue bead on the rig. */
export async function applyBead(ns: string, town: string, name: string, title: string): Promise<void> {
  const bead = {
    apiVersion: API_VERSION,
    kind: "Bead",
    metadata: { name, namespace: ns },
    spec: { town, rig: "app", type: "Issue", title, description: `${title} (e2e-kind)` },
  };
  await runKubectl(["apply", "-f", "-"], JSON.stringify(bead));
}

export function waitForBead(
  ns: string,
  name: string,
  check: (b: BeadObject | undefined) => boolean,
  description: string,
  timeoutMs = 240_000,
): Promise<BeadObject | undefined> {
  return waitFor<BeadObject>(
    kubeConfig(),
    { apiVersion: API_VERSION, kind: "Bead", namespace: ns, name },
    (b) => {
      if (b?.status?.phase === "Failed" && !description.includes("Failed")) {
        throw new Error(`bead ${name} failed: ${JSON.stringify(b.status)}`);
      }
      return check(b);
    },
    { description: `bead ${name} ${description}`, timeoutMs },
  );
}

export async function agentOf(ns: string, bead: BeadObject): Promise<AgentObject> {
  const name = bead.status?.assignee;
  if (!name) throw new Error(`bead ${bead.metadata?.name} has no assignee: ${JSON.stringify(bead.status)}`);
  return JSON.parse(await runKubectl(["get", "agent", name, "-n", ns, "-o", "json"])) as AgentObject;
}

/** Session pods of an agent, oldest session first. */
export async function sessionPods(ns: string, agent: string): Promise<{ name: string; session: number }[]> {
  const list = JSON.parse(
    await runKubectl(["get", "pods", "-n", ns, "-l", `${LABELS.agent}=${agent}`, "-o", "json"]),
  ) as { items: { metadata: { name: string; labels: Record<string, string> } }[] };
  return list.items
    .map((p) => ({ name: p.metadata.name, session: Number(p.metadata.labels[LABELS.session]) }))
    .sort((a, b) => a.session - b.session);
}

/** Events about one object, oldest first, as "Reason: message". */
export async function eventsFor(ns: string, kind: string, name: string): Promise<string[]> {
  const list = JSON.parse(
    await runKubectl([
      "get",
      "events",
      "-n",
      ns,
      "--field-selector",
      `involvedObject.kind=${kind},involvedObject.name=${name}`,
      "-o",
      "json",
    ]),
  ) as { items: { reason?: string; message?: string; metadata: { creationTimestamp?: string } }[] };
  return list.items
    .sort((a, b) => (a.metadata.creationTimestamp ?? "").localeCompare(b.metadata.creationTimestamp ?? ""))
    .map((e) => `${e.reason}: ${e.message}`);
}

/**
 * Town.spec.agents.command for scenarios: `script` in the first session of each polecat, the demo
 * agent everywhere else (so the bead still gets done, reviewed and merged).
 */
export function inFirstPolecatSession(script: string): string[] {
  return ["sh", "-c", `if [ "$GT_ROLE" = Polecat ] && [ "$GT_SESSION" = 1 ]; then ${script}; fi; exec gt demo`];
}

/** The town's only polecat, once it has one. */
export async function onlyPolecat(ns: string): Promise<AgentObject> {
  const list = JSON.parse(await runKubectl(["get", "agents", "-n", ns, "-o", "json"])) as { items: AgentObject[] };
  const polecats = list.items.filter((a) => a.spec.role === "Polecat");
  if (polecats.length !== 1) throw new Error(`expected one polecat, found ${polecats.map((a) => a.metadata?.name)}`);
  return polecats[0]!;
}

/** Conditions of a Gas Town object of `kind` (Town, Bead, Agent), by type. */
export async function conditionsOf(ns: string, kind: string, name: string): Promise<Record<string, Condition>> {
  const o = JSON.parse(await runKubectl(["get", kind, name, "-n", ns, "-o", "json"])) as {
    status?: { conditions?: Condition[] };
  };
  return Object.fromEntries((o.status?.conditions ?? []).map((c) => [c.type, c]));
}

export interface Condition {
  type: string;
  status: string;
  reason: string;
  message: string;
}

/**
 * `docker tag from as`, then `kind load docker-image as`: how a person makes an image the cluster
 * lacks available to its node, without a registry.
 */
export async function loadImage(from: string, as: string): Promise<void> {
  const { kind, cluster, dockerEnv } = images();
  const run = (cmd: string, args: string[]) =>
    new Promise<void>((resolve, reject) =>
      execFile(cmd, args, { env: dockerEnv, timeout: 300_000 }, (err, _out, stderr) =>
        err ? reject(new Error(`${cmd} ${args.join(" ")}: ${err.message}\n${stderr}`)) : resolve(),
      ),
    );
  await run("docker", ["tag", from, as]);
  try {
    await run(kind, ["load", "docker-image", "--name", cluster, as]);
  } finally {
    await run("docker", ["rmi", as]);
  }
}

/** The Pod of a session, as the kubelet reports it. */
export async function sessionPod(ns: string, name: string): Promise<V1Pod> {
  return JSON.parse(await runKubectl(["get", "pod", name, "-n", ns, "-o", "json"])) as V1Pod;
}
