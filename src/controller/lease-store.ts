// The real LeaseStore: one coordination.k8s.io/v1 Lease. Updates are merge patches that carry the
// resourceVersion we read, which the apiserver treats as a precondition (409 when it moved), so
// they are as race-safe as a PUT while leaving labels and annotations set by others alone.
import type { KubeConnection } from "../kube/config.ts";
import { isAlreadyExists, isConflict, isNotFound } from "../kube/errors.ts";
import { createKubeHttp, type KubeHttp } from "../kube/http.ts";
import { collectionPath } from "../kube/paths.ts";
import { type LeaderRecord, LeaseConflictError, type LeaseSnapshot, type LeaseStore } from "./leader-election.ts";

interface WireLease {
  metadata?: { resourceVersion?: string };
  spec?: Partial<LeaderRecord>;
}

function toSnapshot(lease: WireLease): LeaseSnapshot {
  const spec = lease.spec ?? {};
  return {
    resourceVersion: lease.metadata?.resourceVersion ?? "",
    record: {
      holderIdentity: spec.holderIdentity ?? "",
      leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
      acquireTime: spec.acquireTime ?? "",
      renewTime: spec.renewTime ?? "",
      leaseTransitions: spec.leaseTransitions ?? 0,
    },
  };
}

export function createLeaseStore(
  client: KubeConnection | KubeHttp,
  lease: { namespace: string; name: string; labels?: Record<string, string> },
): LeaseStore {
  const api = "json" in client ? client : createKubeHttp(client);
  const leases = collectionPath({
    group: "coordination.k8s.io",
    version: "v1",
    plural: "leases",
    namespace: lease.namespace,
  });
  const path = `${leases}/${encodeURIComponent(lease.name)}`;
  const conflict = (err: unknown, what: string) =>
    isConflict(err) || isAlreadyExists(err) || isNotFound(err)
      ? new LeaseConflictError(`${what}: ${(err as Error).message}`)
      : err;

  return {
    async get(signal) {
      try {
        return toSnapshot(await api.json<WireLease>({ method: "GET", path, signal }));
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async create(record, signal) {
      const body = {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: lease.name, namespace: lease.namespace, labels: lease.labels },
        spec: record,
      };
      try {
        return toSnapshot(await api.json<WireLease>({ method: "POST", path: leases, body, signal }));
      } catch (err) {
        throw conflict(err, "lease was created by someone else");
      }
    },
    async update(record, resourceVersion, signal) {
      try {
        const body = { metadata: { resourceVersion }, spec: record };
        const contentType = "application/merge-patch+json";
        return toSnapshot(await api.json<WireLease>({ method: "PATCH", path, body, contentType, signal }));
      } catch (err) {
        throw conflict(err, "lease changed since we read it");
      }
    },
  };
}
