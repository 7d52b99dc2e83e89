// The informer against a real apiserver: handlers see adds, updates and deletes; a watch the
// server ends (timeoutSeconds) is resumed from the last resourceVersion without losing what
// happened while no watch was open. (410 Gone needs an etcd compaction, which a test cannot
// trigger on demand; the unit tests drive that path through a fake transport.)
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { createKubeHttp } from "../../../src/kube/http.ts";
import { createInformer, type Informer, type ListWatch, type WatchEvent } from "../../../src/kube/informer.ts";
import { createKubeListWatch } from "../../../src/kube/list-watch.ts";
import { createNamespace, kubeConfig } from "../../support/kube.ts";
import { observed } from "../controller/observed.ts";

const kc = kubeConfig();
const api = createKubeHttp(kc);
let ns: string;
let informer: Informer | undefined;

beforeAll(async () => {
  ns = await createNamespace("informer");
});

afterEach(() => {
  informer?.stop();
  informer = undefined;
});

const configMaps = () => `/api/v1/namespaces/${ns}/configmaps`;

async function createConfigMap(name: string, data: Record<string, string>, labels = { suite: "informer" }) {
  await api.json({ method: "POST", path: configMaps(), body: { metadata: { name, labels }, data } });
}

async function patchConfigMap(name: string, data: Record<string, string>) {
  await api.json({
    method: "PATCH",
    path: `${configMaps()}/${name}`,
    body: { data },
    contentType: "application/merge-patch+json",
  });
}

async function deleteConfigMap(name: string) {
  await api.json({ method: "DELETE", path: `${configMaps()}/${name}` });
}

/** Handler calls as strings, e.g. "update cm-1 v=2". */
function record(target: Informer) {
  const log = observed<string>();
  const show = (o: { metadata: { name: string }; data?: unknown }) =>
    `${o.metadata.name} v=${(o.data as Record<string, string> | undefined)?.v ?? "-"}`;
  target.addHandlers({
    onAdd: (o) => log.push(`add ${show(o)}`),
    onUpdate: (_old, o) => log.push(`update ${show(o)}`),
    onDelete: (o) => log.push(`delete ${o.metadata.name}`),
  });
  return log;
}

describe("informer on the apiserver", () => {
  it("lists existing objects, then sees adds, updates and deletes through the watch", async () => {
    await createConfigMap("existing", { v: "1" });
    await createConfigMap("unselected", { v: "1" }, { suite: "other" });
    informer = createInformer({
      name: "configmaps",
      listWatch: createKubeListWatch(kc, {
        group: "",
        version: "v1",
        plural: "configmaps",
        namespace: ns,
        labelSelector: "suite=informer",
      }),
    });
    const log = record(informer);
    informer.start();
    expect(await informer.waitForSync()).toBe(true);
    expect(log.items).toEqual(["add existing v=1"]);

    await createConfigMap("fresh", { v: "1" });
    await patchConfigMap("fresh", { v: "2" });
    await deleteConfigMap("existing");
    await log.until((l) => l.includes("delete existing"), "the delete of existing");
    expect(log.items).toEqual(["add existing v=1", "add fresh v=1", "update fresh v=2", "delete existing"]);

    const cached = informer.get(ns, "fresh")!;
    expect(cached).toMatchObject({ apiVersion: "v1", kind: "ConfigMap", data: { v: "2" } });
    expect(cached.metadata.managedFields).toBeUndefined();
    expect(informer.get(ns, "unselected")).toBeUndefined();
    expect(informer.list().map((o) => o.metadata.name)).toEqual(["fresh"]);
  });

  it("resumes a watch the server ended without losing the changes made while it was closed", async () => {
    const real = createKubeListWatch(
      kc,
      {
        group: "",
        version: "v1",
        plural: "configmaps",
        namespace: ns,
        labelSelector: "suite=resume",
      },
      { watchTimeoutSeconds: () => 1 },
    );
    const lifecycle = observed<string>();
    let lists = 0;
    // Sits between the informer and the real transport: when the server ends a watch, it makes
    // changes before telling the informer, so they happen while no watch is open.
    let closes = 0;
    const listWatch: ListWatch = {
      list: (signal) => {
        lists += 1;
        return real.list(signal);
      },
      watch(rv, onEvent: (e: WatchEvent) => void, onDone) {
        lifecycle.push(`watch from ${rv}`);
        return real.watch(rv, onEvent, (error) => {
          if (error !== undefined) return onDone(error);
          const round = ++closes;
          lifecycle.push(`closed ${round}`);
          if (round > 3) return onDone();
          void (async () => {
            const labels = { suite: "resume" };
            await createConfigMap(`gap-${round}`, { v: "1" }, labels);
            if (round > 1) await patchConfigMap(`gap-${round - 1}`, { v: "2" });
            if (round > 2) await deleteConfigMap(`gap-${round - 2}`);
            onDone();
          })();
        });
      },
    };
    informer = createInformer({ name: "configmaps-resume", listWatch });
    const log = record(informer);
    informer.start();
    await informer.waitForSync();
    await log.until((l) => l.includes("delete gap-1"), "every change made between watches", 60_000);
    expect(log.items).toEqual([
      "add gap-1 v=1",
      "add gap-2 v=1",
      "update gap-1 v=2",
      "add gap-3 v=1",
      "update gap-2 v=2",
      "delete gap-1",
    ]);
    expect(lists).toBe(1); // resumed from the resourceVersion every time, never re-listed
    expect(lifecycle.items.filter((l) => l.startsWith("watch")).length).toBeGreaterThanOrEqual(4);
  });
});
