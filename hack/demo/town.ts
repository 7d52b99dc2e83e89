// The demo town `make run` applies: one rig on the local bare repository, the scripted demo agent
// (no agent command), and timeouts short enough that a lost session is retried while you watch.
import { DEMO_BRANCH, DEMO_GATES } from "./repo.ts";

export const DEMO_TOWN = "demo";
export const DEMO_RIG = "app";

/** The real CLI `make run AGENT=...` drives, against the scripted model at `modelURL`. */
export interface DemoAgent {
  cli: "claude-code" | "codex" | "pi";
  modelURL: string;
  keySecret: string;
}

export function demoTown(namespace: string, repoPath: string, agent?: DemoAgent) {
  return {
    apiVersion: "gastown.dev/v1alpha1",
    kind: "Town",
    metadata: { name: DEMO_TOWN, namespace },
    spec: {
      rigs: [
        {
          name: DEMO_RIG,
          repo: repoPath,
          defaultBranch: DEMO_BRANCH,
          mergeStrategy: "Direct",
          gates: DEMO_GATES,
        },
      ],
      // The image is what a pod runtime would run; the process runtime runs `gt` from this checkout.
      agents: {
        image: "gastown-agent:dev",
        ...(agent
          ? {
              cli: agent.cli,
              model: "scripted-model",
              maxRetries: 2,
              provider: {
                baseURL: agent.cli === "claude-code" ? agent.modelURL : `${agent.modelURL}/v1`,
                apiKeySecret: { name: agent.keySecret, key: "api-key" },
                ...(agent.cli === "pi" ? { api: "openai-completions" } : {}),
              },
            }
          : {}),
      },
      limits: { maxPolecatsPerRig: 3 },
      timeouts: {
        heartbeatPeriod: "5s",
        heartbeatTimeout: "20s",
        startupGrace: "30s",
        dispatchBackoff: ["5s", "10s", "30s"],
      },
    },
  };
}
