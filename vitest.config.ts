import { defineConfig } from "vitest/config";

// Four projects, one per test layer. Unit tests are pure and fast; integration and e2e tests share
// one local control plane per run (started by their global setup), e2e-kind one kind cluster; all
// run files one at a time, because two cores are all this machine has and the apiserver is the
// shared resource.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          // A bound, not a speed claim: the agent runtime's tests start `gt` as a process, which
          // takes seconds on two loaded cores.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          globalSetup: ["test/support/cluster-setup.ts"],
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 240_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          globalSetup: ["test/support/cluster-setup.ts"],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 240_000,
        },
      },
      {
        // Real pods: a kind cluster with the operator as its Deployment (test/e2e-kind/setup.ts).
        test: {
          name: "e2e-kind",
          include: ["test/e2e-kind/**/*.test.ts"],
          globalSetup: ["test/e2e-kind/setup.ts"],
          fileParallelism: false,
          testTimeout: 900_000,
          hookTimeout: 300_000,
        },
      },
    ],
    coverage: {
      provider: "v8",
      include: ["src/core/**/*.ts"],
      reporter: ["text-summary", "text"],
      thresholds: { lines: 90 },
    },
  },
});
