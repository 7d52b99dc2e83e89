// Town and Convoy manifests with test timeouts, and reading a counter from /metrics: shared by the
// tests and the benchmarks, so this module must not import vitest (see ./agents.ts).
import { API_VERSION } from "../../src/api/meta.ts";

/** Timeouts short enough for tests on a real apiserver (Town.spec.timeouts). */
export const FAST_TIMEOUTS = {
  heartbeatPeriod: "1s",
  heartbeatTimeout: "5s",
  startupGrace: "5s",
  staleInProgress: "2m",
  orphanedInReview: "2m",
  stuckReview: "5m",
  abandonedReview: "3s",
  orphanedPR: "2m",
  prPollInterval: "1s",
  dispatchBackoff: ["1s", "1s", "1s", "1s", "1s"],
  guppWarn: "10m",
  guppEscalate: "20m",
  guppForceStop: "30m",
};

export function townManifest(
  name: string,
  opts: {
    rigs?: Record<string, unknown>[];
    timeouts?: Record<string, unknown>;
    limits?: Record<string, unknown>;
    suspend?: boolean;
  } = {},
) {
  return {
    apiVersion: API_VERSION,
    kind: "Town",
    metadata: { name },
    spec: {
      rigs: opts.rigs ?? [{ name: "app", repo: "https://git.example.com/app.git", gates: ["true"] }],
      agents: { image: "ghcr.io/gastown-operator/agent:test" },
      limits: { maxPolecatsPerRig: 2, ...(opts.limits ?? {}) },
      timeouts: { ...FAST_TIMEOUTS, ...(opts.timeouts ?? {}) },
      ...(opts.suspend ? { suspend: true } : {}),
    },
  };
}

export function convoyManifest(
  name: string,
  town: string,
  tasks: { name: string; dependsOn?: string[]; rig?: string; priority?: number }[],
  opts: { mergeMode?: "ReviewThenLand" | "ReviewAndMerge"; staged?: boolean } = {},
) {
  return {
    apiVersion: API_VERSION,
    kind: "Convoy",
    metadata: { name },
    spec: {
      town,
      title: `convoy ${name}`,
      mergeMode: opts.mergeMode ?? "ReviewThenLand",
      ...(opts.staged ? { staged: true } : {}),
      tasks: tasks.map((t) => ({
        name: t.name,
        title: `task ${t.name}`,
        rig: t.rig ?? "app",
        priority: t.priority ?? 2,
        dependsOn: t.dependsOn ?? [],
      })),
    },
  };
}

/** A counter's series that are above 0, as exposition lines: what a test prints when it expected none. */
export function nonZeroSeries(metrics: string, name: string): string[] {
  return metrics
    .split("\n")
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .filter((line) => Number(line.slice(line.lastIndexOf(" ") + 1)) > 0);
}

/** Sums a counter over the label sets that carry every given label, from a Prometheus text exposition. */
export function counterTotal(metrics: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of metrics.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).some(([k, v]) => !line.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}
