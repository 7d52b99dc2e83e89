// gastown_tokens_total and gastown_cost_usd_total follow Town.status.usage: what it grew by since the
// operator first saw the town, never its history again after a restart; and the Lease annotations
// agents write are read defensively (an agent's bad JSON is no usage, not a crash).
import { describe, expect, it } from "vitest";
import type { Usage } from "../../../src/api/usage.ts";
import { leaseObservation } from "../../../src/controller/caches.ts";
import { countUsage, createMetrics } from "../../../src/controller/metrics.ts";
import { LABELS, LEASE_ANNOTATIONS } from "../../../src/controller/resources.ts";

const usage = (input: number, output: number, costUSD?: number): Usage => ({
  tokens: input + output,
  inputTokens: input,
  outputTokens: output,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  ...(costUSD === undefined ? {} : { costUSD }),
});

async function values(m: ReturnType<typeof createMetrics>) {
  const text = await m.registry.metrics();
  return text
    .split("\n")
    .filter((l) => l.startsWith("gastown_tokens_total{") || l.startsWith("gastown_cost_usd_total{"));
}

describe("usage metrics", () => {
  it("count what the Town's usage grew by, from a baseline at first sight", async () => {
    const m = createMetrics();
    countUsage(m.gastown, "ns", "gt", usage(1000, 100, 5));
    expect(await values(m)).toContain('gastown_tokens_total{namespace="ns",town="gt",type="input"} 0');
    countUsage(m.gastown, "ns", "gt", usage(1500, 130, 5.5));
    const after = await values(m);
    expect(after).toContain('gastown_tokens_total{namespace="ns",town="gt",type="input"} 500');
    expect(after).toContain('gastown_tokens_total{namespace="ns",town="gt",type="output"} 30');
    expect(after).toContain('gastown_cost_usd_total{namespace="ns",town="gt"} 0.5');
    // A bead deleted: the sum shrinks; the counter does not, and later growth counts from there.
    countUsage(m.gastown, "ns", "gt", usage(200, 10, 1));
    countUsage(m.gastown, "ns", "gt", usage(260, 10, 1));
    expect(await values(m)).toContain('gastown_tokens_total{namespace="ns",town="gt",type="input"} 560');
    countUsage(m.gastown, "ns", "gt", undefined, true);
    expect(await values(m)).toEqual([]);
  });
});

describe("the Lease annotations of a session", () => {
  const leaseWith = (annotations: Record<string, string>) =>
    leaseObservation({
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { name: "gt-app-toast", labels: { [LABELS.agent]: "gt-app-toast" }, annotations },
      spec: {},
    } as never);

  it("reads usage, the conversation id and nudge delivery", () => {
    const l = leaseWith({
      [LEASE_ANNOTATIONS.session]: "3",
      [LEASE_ANNOTATIONS.usage]: JSON.stringify({ inputTokens: 10, outputTokens: 2, cacheReadTokens: 5, costUSD: 0.1 }),
      [LEASE_ANNOTATIONS.cliSession]: "abc-123",
      [LEASE_ANNOTATIONS.cliResumed]: "true",
      [LEASE_ANNOTATIONS.nudgeDelivered]: JSON.stringify({
        key: "warn@1",
        failed: "ended",
        time: "2026-01-01T00:00:00Z",
      }),
    });
    expect(l).toMatchObject({
      session: 3,
      usage: { inputTokens: 10, outputTokens: 2, cacheReadTokens: 5, cacheWriteTokens: 0, costUSD: 0.1 },
      cliSession: "abc-123",
      cliResumed: true,
      nudgeDelivery: { nudge: "warn@1", result: "Failed", message: "ended", time: Date.parse("2026-01-01T00:00:00Z") },
    });
  });

  it("ignores what is not ours: bad JSON, negative or non-numeric counts, a delivery without a time", () => {
    const l = leaseWith({
      [LEASE_ANNOTATIONS.usage]: JSON.stringify({ inputTokens: -5, outputTokens: "many", costUSD: null }),
      [LEASE_ANNOTATIONS.nudgeDelivered]: "{not json",
    });
    expect(l?.usage).toEqual({ inputTokens: 0, outputTokens: 0, cacheReadTokens: 0, cacheWriteTokens: 0, costUSD: 0 });
    expect(l?.nudgeDelivery).toBeUndefined();
    expect(leaseWith({ [LEASE_ANNOTATIONS.usage]: "[1,2]" })?.usage).toBeUndefined();
    expect(leaseWith({ [LEASE_ANNOTATIONS.cliResumed]: "yes" })?.cliResumed).toBeUndefined();
    expect(leaseWith({ [LEASE_ANNOTATIONS.cliResumed]: "false" })?.cliResumed).toBe(false);
  });
});
