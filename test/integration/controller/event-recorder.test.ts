// The event recorder against a real apiserver: the Events it writes pass events.k8s.io/v1
// validation, 50 identical events become one Event with series.count 50, a new reason a second.
import { beforeAll, describe, expect, it } from "vitest";
import { createEventRecorder, type EventObject, type ObjectReference } from "../../../src/controller/event-recorder.ts";
import { createEventSink } from "../../../src/controller/event-sink.ts";
import { createMetrics } from "../../../src/controller/metrics.ts";
import { createKubeHttp } from "../../../src/kube/http.ts";
import { createNamespace, kubeConfig } from "../../support/kube.ts";

const kc = kubeConfig();
const api = createKubeHttp(kc);
let ns: string;
let regarding: ObjectReference;

beforeAll(async () => {
  ns = await createNamespace("events");
  const created = await api.json<{ metadata: { name: string; uid: string } }>({
    method: "POST",
    path: `/api/v1/namespaces/${ns}/configmaps`,
    body: { metadata: { name: "town-config" }, data: {} },
  });
  regarding = { apiVersion: "v1", kind: "ConfigMap", namespace: ns, name: "town-config", uid: created.metadata.uid };
});

const eventsAbout = async (uid: string) =>
  (
    await api.json<{ items: EventObject[] }>({ method: "GET", path: `/apis/events.k8s.io/v1/namespaces/${ns}/events` })
  ).items.filter((e) => e.regarding.uid === uid);

describe("event recorder on the apiserver", () => {
  it("aggregates 50 identical events into one Event with series.count 50; another reason is a second Event", async () => {
    const metrics = createMetrics();
    const recorder = createEventRecorder({
      sink: createEventSink(kc),
      reportingInstance: "operator-test-0",
      metrics: metrics.events,
    });
    const note = "dispatched bead gt-1 to polecat toast";
    for (let i = 0; i < 50; i++) {
      recorder.record({ regarding, type: "Normal", reason: "Dispatched", action: "Dispatch", note });
    }
    await recorder.flush();

    const events = await eventsAbout(regarding.uid);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      reportingController: "gastown.dev/operator",
      reportingInstance: "operator-test-0",
      type: "Normal",
      reason: "Dispatched",
      action: "Dispatch",
      note,
      series: { count: 50 },
    });
    expect(events[0]!.metadata.name).toMatch(/^town-config\.[0-9a-f]+$/);

    recorder.record({
      regarding,
      type: "Warning",
      reason: "HeartbeatExpired",
      action: "Restart",
      note: "no heartbeat",
    });
    await recorder.flush();
    const after = await eventsAbout(regarding.uid);
    expect(after.map((e) => [e.reason, e.series?.count ?? 1]).sort()).toEqual([
      ["Dispatched", 50],
      ["HeartbeatExpired", 1],
    ]);
    const dropped = (await metrics.registry.getSingleMetric("event_recorder_dropped_total")!.get()).values;
    expect(dropped.reduce((sum, v) => sum + v.value, 0)).toBe(0);
  });

  it("keeps counting into the same Event after the first series write", async () => {
    const recorder = createEventRecorder({ sink: createEventSink(kc), reportingInstance: "operator-test-0" });
    const event = { regarding, type: "Normal" as const, reason: "Nudged", action: "Nudge", note: "tier 1 nudge" };
    recorder.record(event);
    recorder.record(event);
    await recorder.flush();
    recorder.record(event);
    await recorder.flush();
    const nudges = (await eventsAbout(regarding.uid)).filter((e) => e.reason === "Nudged");
    expect(nudges.map((e) => e.series?.count)).toEqual([3]);
  });
});
