// What a Pod says about its session: waiting reasons, the scheduler's verdict, gt run's
// termination message, a deletion deadline.
import { describe, expect, it } from "vitest";
import type { KubeObject } from "../../../src/controller/informer.ts";
import { podObservation } from "../../../src/runtime/pod-runtime.ts";
import { parseTermination } from "../../../src/runtime/session-termination.ts";

function pod(status: Record<string, unknown>, meta: Record<string, unknown> = {}): KubeObject {
  return {
    metadata: {
      name: "gt-app-toast-1",
      namespace: "demo",
      labels: { "gastown.dev/agent": "gt-app-toast", "gastown.dev/session": "1" },
      annotations: { "gastown.dev/bead": "x" },
      creationTimestamp: "2026-01-01T00:00:00Z",
      ...meta,
    },
    status,
  } as unknown as KubeObject;
}

describe("podObservation", () => {
  it("a container that cannot start: its waiting reason and message", () => {
    const o = podObservation(
      pod({
        phase: "Pending",
        containerStatuses: [
          { state: { waiting: { reason: "CreateContainerConfigError", message: 'secret "k" not found' } } },
        ],
      }),
    );
    expect(o?.waiting).toEqual({ reason: "CreateContainerConfigError", message: 'secret "k" not found' });
  });

  it("ContainerCreating is how every container starts: not a waiting reason worth a word", () => {
    const o = podObservation(
      pod({ phase: "Pending", containerStatuses: [{ state: { waiting: { reason: "ContainerCreating" } } }] }),
    );
    expect(o?.waiting).toBeUndefined();
  });

  it("the scheduler's message while no node fits", () => {
    const o = podObservation(
      pod({
        phase: "Pending",
        conditions: [
          { type: "PodScheduled", status: "False", reason: "Unschedulable", message: "0/2 nodes are available" },
        ],
      }),
    );
    expect(o?.unschedulable).toBe("0/2 nodes are available");
  });

  it.each([
    'waiting for ephemeral volume controller to create the persistentvolumeclaim "gt-app-toast-1-workspace"',
    "pod has unbound immediate PersistentVolumeClaims",
  ])("not Unschedulable while the scheduler waits for a volume: %s", (why) => {
    const o = podObservation(
      pod({
        phase: "Pending",
        conditions: [
          {
            type: "PodScheduled",
            status: "False",
            reason: "Unschedulable",
            message: `0/1 nodes are available: ${why}. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.`,
          },
        ],
      }),
    );
    expect(o?.unschedulable).toBeUndefined();
    expect(o?.phase).toBe("Pending");
  });

  it("gt run's termination message, and the deletion deadline", () => {
    const o = podObservation(
      pod(
        {
          phase: "Failed",
          containerStatuses: [
            {
              state: {
                terminated: {
                  exitCode: 1,
                  reason: "Error",
                  message: '{"reason":"GitAuthFailed","kind":"Configuration","message":"Authentication failed"}\n',
                },
              },
            },
          ],
        },
        { deletionTimestamp: "2026-01-01T00:00:30Z" },
      ),
    );
    expect(o?.termination).toEqual({
      reason: "GitAuthFailed",
      kind: "Configuration",
      message: "Authentication failed",
    });
    expect(o?.deletionDeadline).toBe(Date.parse("2026-01-01T00:00:30Z"));
  });
});

describe("parseTermination", () => {
  it.each([
    { text: undefined, want: undefined },
    { text: "panic: something", want: undefined },
    { text: '{"reason":"X"}', want: undefined },
    { text: '{"reason":"X","kind":"Maybe","message":"m"}', want: undefined },
    {
      text: 'noise\n{"reason":"X","kind":"Transient","message":"m"}',
      want: { reason: "X", kind: "Transient", message: "m" },
    },
  ])("$text", ({ text, want }) => {
    expect(parseTermination(text)).toEqual(want);
  });
});
