// The e2e-kind environment: a Docker engine (hack/docker/engine.ts), the operator and agent images
// (hack/images.sh), a kind node image (hack/kind/node-image.sh), one kind cluster with both images
// loaded and the operator deployed from manifests/ (hack/deploy.ts). Everything is undone by
// stop(), and the host is compared with how it was before.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_STATE_DIR, type DockerEngine, startDockerEngine } from "../../../hack/docker/engine.ts";
import { captureHostState, leftovers } from "./host-state.ts";
import { freeSubnet, hostRoutes, KIND_NETWORK, parseSubnet } from "./kind-network.ts";

const ROOT = join(import.meta.dirname, "..", "..", "..");
const CACHE = join(ROOT, ".cache", "e2e-kind");

export interface KindEnvironment {
  kubeconfigPath: string;
  cluster: string;
  operatorImage: string;
  agentImage: string;
  nodeImage: string;
  /** Environment under which docker and kind reach the engine (for tests that load images). */
  dockerEnv: Record<string, string>;
  /**
   * The host's IPv4 address on the kind node's network (its gateway): where a service on the
   * host listens for the cluster's pods (their traffic leaves the node masqueraded as the node).
   */
  hostAddress: string;
  kind: string;
  /** Tears everything down; rejects listing whatever was left behind. */
  stop(): Promise<void>;
}

export type Step = (line: string) => void;

/** Runs a command, its output into `log` (kept for the error message); rejects on a non-zero exit. */
export function sh(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; logFile: string; input?: string },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let output = "";
    child.stdout.on("data", (c: Buffer) => {
      stdout += c;
      output += c;
    });
    child.stderr.on("data", (c: Buffer) => {
      output += c;
    });
    child.stdin.end(opts.input ?? "");
    child.on("error", reject);
    child.on("close", (code) => {
      writeFileSync(opts.logFile, output, { flag: "a" });
      if (code === 0) resolve(stdout.trim());
      else
        reject(
          new Error(`${cmd} ${args.join(" ")} exited ${code}:\n${output.trim().split("\n").slice(-40).join("\n")}`),
        );
    });
  });
}

/**
 * The presets the agent image carries: AGENT_CLIS plus the one real-cli-convoy.test.ts runs (pi:
 * plain Node, the smallest install of the three).
 */
export const KIND_AGENT_CLI = "pi";
export function agentClis(wanted = ""): string {
  const clis = wanted.split(/\s+/).filter(Boolean);
  return (clis.includes(KIND_AGENT_CLI) ? clis : [...clis, KIND_AGENT_CLI]).join(" ");
}

export async function startKindEnvironment(step: Step): Promise<KindEnvironment> {
  mkdirSync(CACHE, { recursive: true });
  const logFile = join(CACHE, "setup.log");
  rmSync(logFile, { force: true });
  const before = captureHostState(DEFAULT_STATE_DIR);
  const work = mkdtempSync(join(tmpdir(), "gastown-e2e-kind-"));
  const cluster = process.env.KIND_CLUSTER || "gastown-e2e";
  const operatorImage = process.env.IMG || "gastown-operator:dev";
  const agentImage = process.env.AGENT_IMG || "gastown-agent:dev";
  const kubeconfigPath = join(work, "kubeconfig");
  let engine: DockerEngine | undefined;
  let env: NodeJS.ProcessEnv = process.env;
  let kind = "";
  let createdModules = false;
  let createdNetwork = false;

  const stop = async () => {
    const problems: string[] = [];
    const attempt = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (e) {
        problems.push(`${what}: ${(e as Error).message}`);
      }
    };
    if (engine && kind) {
      await attempt("kind delete cluster", () =>
        sh(kind, ["delete", "cluster", "--name", cluster, "--kubeconfig", kubeconfigPath], { env, logFile }),
      );
      // kind keeps its network after its last cluster; it is ours to remove when we made it.
      if (createdNetwork || engine.owned) {
        await attempt("docker network rm kind", async () => {
          const users = await sh("docker", ["network", "inspect", "-f", "{{len .Containers}}", KIND_NETWORK], {
            env,
            logFile,
          });
          if (users === "0") await sh("docker", ["network", "rm", KIND_NETWORK], { env, logFile });
        });
      }
      const clusters = await sh(kind, ["get", "clusters"], { env, logFile }).catch(() => "");
      if (clusters.split("\n").includes(cluster)) problems.push(`kind cluster ${cluster} still exists`);
      const containers = await sh(
        "docker",
        ["ps", "-a", "--filter", `label=io.x-k8s.kind.cluster=${cluster}`, "--format", "{{.Names}}"],
        { env, logFile },
      ).catch((e) => `(cannot list: ${(e as Error).message})`);
      if (containers) problems.push(`containers left: ${containers.replace(/\n/g, ", ")}`);
    }
    // Bridges of our engine's networks, which its stop removes; others belong to another engine.
    let ourBridges: string[] = [];
    if (engine?.owned && kind)
      await attempt("listing our bridges", async () => (ourBridges = await bridgesOf(env, logFile)));
    if (engine) await attempt("stopping the Docker engine", () => (engine as DockerEngine).stop());
    if (engine?.owned && engine.stateDir) {
      // The private engine's data root outlives it (the image cache), but no container may.
      const dir = join(engine.stateDir, "data", "containers");
      const left = existsSync(dir) ? readdirSync(dir) : [];
      if (left.length > 0) problems.push(`the private engine still has ${left.length} containers: ${left.join(", ")}`);
    }
    // docker creates a missing bind-mount source (kind mounts /lib/modules) as an empty directory.
    if (createdModules && existsSync("/lib/modules")) {
      await attempt("removing /lib/modules", async () => rmdirSync("/lib/modules"));
    }
    rmSync(work, { recursive: true, force: true });
    problems.push(...leftovers(before, captureHostState(DEFAULT_STATE_DIR), DEFAULT_STATE_DIR, ourBridges));
    if (problems.length > 0) {
      throw new Error(`the e2e-kind run left things behind (log: ${logFile}):\n  ${problems.join("\n  ")}`);
    }
  };

  try {
    const t0 = performance.now();
    const lap = (what: string) => step(`${what} (${((performance.now() - t0) / 1000).toFixed(0)}s)`);
    engine = await startDockerEngine({ log: step });
    env = { ...process.env, ...engine.env, DOCKER_BUILD_FLAGS: engine.buildFlags.join(" ") };
    lap(`Docker engine at ${engine.host}${engine.owned ? " (private)" : ""}`);

    await sh(join(ROOT, "hack", "images.sh"), [], {
      env: { ...env, IMG: operatorImage, AGENT_IMG: agentImage, AGENT_CLIS: agentClis(process.env.AGENT_CLIS) },
      logFile,
    });
    lap(`images ${operatorImage} and ${agentImage}`);
    const nodeImage =
      process.env.KIND_NODE_IMAGE || (await sh(join(ROOT, "hack", "kind", "node-image.sh"), [], { env, logFile }));
    kind = join(await sh(join(ROOT, "hack", "kind", "node-image.sh"), ["binaries"], { env, logFile }), "kind");
    lap(`node image ${nodeImage}`);

    createdModules = !existsSync("/lib/modules");
    createdNetwork = !(await sh("docker", ["network", "inspect", KIND_NETWORK], { env, logFile }).then(
      () => true,
      () => false,
    ));
    if (createdNetwork) await createKindNetwork(env, logFile);
    // A cluster of the same name from a run that was killed.
    await sh(kind, ["delete", "cluster", "--name", cluster, "--kubeconfig", kubeconfigPath], { env, logFile });
    await sh(
      kind,
      ["create", "cluster", "--name", cluster, "--image", nodeImage, "--kubeconfig", kubeconfigPath, "--wait", "180s"],
      { env, logFile },
    );
    const hostAddress = await gatewayOf(KIND_NETWORK, env, logFile);
    lap(`kind cluster ${cluster} (the host is ${hostAddress} on network ${KIND_NETWORK})`);
    await sh(kind, ["load", "docker-image", "--name", cluster, operatorImage, agentImage], { env, logFile });
    lap("images loaded");
    await sh(process.execPath, [join(ROOT, "hack", "deploy.ts"), "apply", "--image", operatorImage], {
      env: { ...env, KUBECONFIG: kubeconfigPath },
      logFile,
    });
    lap("operator deployed");
    return {
      kubeconfigPath,
      cluster,
      operatorImage,
      agentImage,
      nodeImage,
      hostAddress,
      dockerEnv: Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined)),
      kind,
      stop,
    };
  } catch (e) {
    try {
      await stop();
    } catch (cleanup) {
      (e as Error).message += `\n(and cleaning up: ${(cleanup as Error).message})`;
    }
    throw e;
  }
}

/** The kind network on a subnet that neither a host route nor another network of the engine has. */
async function createKindNetwork(env: NodeJS.ProcessEnv, logFile: string): Promise<void> {
  const ids = (await sh("docker", ["network", "ls", "-q"], { env, logFile })).split("\n").filter(Boolean);
  const subnets =
    ids.length === 0
      ? ""
      : await sh("docker", ["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}", ...ids], {
          env,
          logFile,
        });
  const taken = [
    ...hostRoutes(),
    ...subnets
      .split(/\s+/)
      .map(parseSubnet)
      .filter((r) => r !== undefined),
  ];
  const free = freeSubnet(ROOT, taken);
  if (!free) throw new Error("no free 172.20-31.0.0/16 subnet for the kind network (each is routed on the host)");
  await sh(
    "docker",
    [
      "network",
      "create",
      "--driver=bridge",
      `--subnet=${free.subnet}`,
      `--gateway=${free.gateway}`,
      // What kind sets on the network it creates itself.
      "--opt=com.docker.network.bridge.enable_ip_masquerade=true",
      "--opt=com.docker.network.driver.mtu=1500",
      KIND_NETWORK,
    ],
    { env, logFile },
  );
}

async function gatewayOf(network: string, env: NodeJS.ProcessEnv, logFile: string): Promise<string> {
  const gateways = await sh(
    "docker",
    ["network", "inspect", "-f", "{{range .IPAM.Config}}{{.Gateway}} {{end}}", network],
    {
      env,
      logFile,
    },
  );
  const v4 = gateways.split(/\s+/).find((g) => /^\d+\.\d+\.\d+\.\d+$/.test(g));
  if (!v4) throw new Error(`docker network ${network} has no IPv4 gateway (${gateways || "none"})`);
  return v4;
}

/** Host interface names of the engine's bridge networks (libnetwork names them br-<id prefix>). */
async function bridgesOf(env: NodeJS.ProcessEnv, logFile: string): Promise<string[]> {
  const ids = (await sh("docker", ["network", "ls", "--no-trunc", "--filter", "driver=bridge", "-q"], { env, logFile }))
    .split("\n")
    .filter(Boolean);
  const names: string[] = [];
  for (const id of ids) {
    const named = await sh(
      "docker",
      ["network", "inspect", "--format", '{{index .Options "com.docker.network.bridge.name"}}', id],
      { env, logFile },
    );
    names.push(named && named !== "<no value>" ? named : `br-${id.slice(0, 12)}`);
  }
  return names;
}
