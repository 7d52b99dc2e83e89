// The real EventSink: events.k8s.io/v1 Events in the regarding object's namespace. A series
// update is a merge patch of `series` alone, the only part of an Event that changes.
import type { KubeConnection } from "../kube/config.ts";
import { createKubeHttp, type KubeHttp } from "../kube/http.ts";
import { collectionPath } from "../kube/paths.ts";
import type { EventSink } from "./event-recorder.ts";

export function createEventSink(client: KubeConnection | KubeHttp): EventSink {
  const api = "json" in client ? client : createKubeHttp(client);
  const events = (namespace: string) =>
    collectionPath({ group: "events.k8s.io", version: "v1", plural: "events", namespace });
  return {
    async create(event) {
      await api.json({ method: "POST", path: events(event.metadata.namespace), body: event });
    },
    async patchSeries(namespace, name, series) {
      await api.json({
        method: "PATCH",
        path: `${events(namespace)}/${encodeURIComponent(name)}`,
        body: { series },
        contentType: "application/merge-patch+json",
      });
    },
  };
}
