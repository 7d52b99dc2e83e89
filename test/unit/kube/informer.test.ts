import { describe, expect, it } from "vitest";
import { KubeApiError } from "../../../src/kube/errors.ts";
import {
  createInformer,
  type KubeObject,
  type ListResult,
  type ListWatch,
  type WatchEvent,
} from "../../../src/kube/informer.ts";
import { createFakeClock } from "../controller/fake-clock.ts";

const cm = (name: string, rv: string, data: Record<string, string> = {}, namespace = "ns"): KubeObject => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: {
    name,
    namespace,
    uid: `uid-${name}`,
    resourceVersion: rv,
    labels: { town: data.town ?? "t1" },
    managedFields: [{ manager: "kubectl", operation: "Apply" }],
  },
  data,
});

interface FakeWatch {
  resourceVersion: string;
  emit(event: WatchEvent): void;
  done(error?: unknown): void;
  stopped: boolean;
}

/** A scripted API: each list() takes the next response; watches are recorded for the test to drive. */
function fakeApi() {
  const listResponses: Array<ListResult | Error> = [];
  const watches: FakeWatch[] = [];
  let lists = 0;
  const listWatch: ListWatch = {
    async list() {
      lists += 1;
      const next = listResponses.shift();
      if (next === undefined) throw new Error("no scripted list response");
      if (next instanceof Error) throw next;
      return next;
    },
    watch(resourceVersion, onEvent, onDone) {
      const w: FakeWatch = { resourceVersion, emit: onEvent, done: onDone, stopped: false };
      watches.push(w);
      return {
        stop() {
          w.stopped = true;
        },
      };
    },
  };
  return {
    listWatch,
    respond: (...responses: Array<ListResult | Error>) => listResponses.push(...responses),
    watches,
    lastWatch: () => watches[watches.length - 1]!,
    listCalls: () => lists,
  };
}

function setup() {
  const clock = createFakeClock();
  const api = fakeApi();
  const informer = createInformer({ name: "configmaps", listWatch: api.listWatch, clock, random: () => 0 });
  const seen: string[] = [];
  informer.addHandlers({
    onAdd: (o) => seen.push(`add ${o.metadata.name}@${o.metadata.resourceVersion}`),
    onUpdate: (old, o) =>
      seen.push(`update ${o.metadata.name}@${old.metadata.resourceVersion}->${o.metadata.resourceVersion}`),
    onDelete: (o) => seen.push(`delete ${o.metadata.name}`),
  });
  return { clock, api, informer, seen };
}

describe("informer", () => {
  it("lists, reports synced, then watches from the list's resourceVersion and applies events", async () => {
    const { clock, api, informer, seen } = setup();
    api.respond({ items: [cm("a", "10"), cm("b", "11")], resourceVersion: "12" });
    expect(informer.hasSynced()).toBe(false);
    informer.start();
    expect(await informer.waitForSync()).toBe(true);
    await clock.settle();
    expect(api.lastWatch().resourceVersion).toBe("12");
    expect(seen).toEqual(["add a@10", "add b@11"]);

    api.lastWatch().emit({ type: "ADDED", object: cm("c", "13") });
    api.lastWatch().emit({ type: "MODIFIED", object: cm("a", "14", { x: "1" }) });
    api.lastWatch().emit({ type: "DELETED", object: cm("b", "15") });
    expect(seen.slice(2)).toEqual(["add c@13", "update a@10->14", "delete b"]);
    expect(informer.get("ns", "a")?.data).toEqual({ x: "1" });
    expect(informer.get("ns", "b")).toBeUndefined();
    expect(
      informer
        .list()
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(["a", "c"]);
  });

  it("strips managedFields and hands out frozen copies of what the API returned", async () => {
    const { clock, api, informer } = setup();
    const original = cm("a", "1", { k: "v" });
    api.respond({ items: [original], resourceVersion: "1" });
    informer.start();
    await clock.settle();
    const cached = informer.get("ns", "a")!;
    expect(cached.metadata.managedFields).toBeUndefined();
    expect(original.metadata.managedFields).toBeDefined(); // the input was not modified
    expect(cached).toMatchObject({ apiVersion: "v1", kind: "ConfigMap", data: { k: "v" } });
    expect(Object.isFrozen(cached) && Object.isFrozen(cached.metadata) && Object.isFrozen(cached.data)).toBe(true);
  });

  it("lists again on 410 Gone, emitting deletes for vanished objects and updates only for changed ones", async () => {
    const { clock, api, informer, seen } = setup();
    api.respond({ items: [cm("keep", "1"), cm("change", "2"), cm("vanish", "3")], resourceVersion: "3" });
    informer.start();
    await clock.settle();
    api.lastWatch().emit({ type: "MODIFIED", object: cm("keep", "4") });
    seen.length = 0;

    api.respond({ items: [cm("keep", "4"), cm("change", "9"), cm("new", "8")], resourceVersion: "10" });
    api.lastWatch().done(new KubeApiError(410, { reason: "Expired", code: 410 }, "too old resource version"));
    await clock.settle();
    expect(api.listCalls()).toBe(2);
    expect(seen.sort()).toEqual(["add new@8", "delete vanish", "update change@2->9"]);
    expect(api.lastWatch().resourceVersion).toBe("10");
  });

  it("treats an ERROR event with code 410 inside the stream as Gone too", async () => {
    const { clock, api, informer } = setup();
    api.respond({ items: [], resourceVersion: "5" }, { items: [cm("x", "20")], resourceVersion: "21" });
    informer.start();
    await clock.settle();
    const first = api.lastWatch();
    first.emit({ type: "ERROR", status: { code: 410, reason: "Expired", message: "too old resource version: 5 (7)" } });
    await clock.settle();
    expect(first.stopped).toBe(true);
    expect(api.listCalls()).toBe(2);
    expect(informer.get("ns", "x")).toBeDefined();
    expect(api.lastWatch().resourceVersion).toBe("21");
  });

  it("waits before a second relist when a fresh list is too old again at once", async () => {
    const { clock, api, informer } = setup();
    const gone = { type: "ERROR" as const, status: { code: 410 } };
    api.respond(
      { items: [], resourceVersion: "1" },
      { items: [], resourceVersion: "2" },
      { items: [], resourceVersion: "3" },
    );
    informer.start();
    await clock.settle();
    api.lastWatch().emit(gone);
    await clock.settle();
    expect(api.listCalls()).toBe(2); // the first relist is immediate
    api.lastWatch().emit(gone);
    await clock.settle();
    expect(api.listCalls()).toBe(2);
    await clock.advance(800);
    expect(api.listCalls()).toBe(3);
    expect(api.lastWatch().resourceVersion).toBe("3");
  });

  it("skips a malformed watch event instead of failing the watch", async () => {
    const { clock, api, informer } = setup();
    api.respond({ items: [], resourceVersion: "1" });
    informer.start();
    await clock.settle();
    api.lastWatch().emit({ type: "ADDED", object: {} as KubeObject });
    api.lastWatch().emit({ type: "ADDED", object: cm("ok", "2") });
    expect(informer.get("ns", "ok")).toBeDefined();
    expect(api.watches).toHaveLength(1);
  });

  it("resumes a failed watch from the last version it saw, after an exponential back-off", async () => {
    const { clock, api, informer } = setup();
    api.respond({ items: [], resourceVersion: "1" });
    informer.start();
    await clock.settle();
    api.lastWatch().emit({ type: "ADDED", object: cm("a", "7") });
    api.lastWatch().emit({ type: "BOOKMARK", resourceVersion: "9" });
    api.lastWatch().done(new Error("connection reset"));
    await clock.advance(799);
    expect(api.watches).toHaveLength(1);
    await clock.advance(1);
    expect(api.watches).toHaveLength(2);
    expect(api.lastWatch().resourceVersion).toBe("9");

    api.lastWatch().done(new KubeApiError(500, undefined, "etcd unavailable"));
    await clock.advance(1599);
    expect(api.watches).toHaveLength(2);
    await clock.advance(1);
    expect(api.watches).toHaveLength(3);
    expect(api.listCalls()).toBe(1); // an error that is not 410 never forces a relist
  });

  it("resumes at once when the server closes a healthy watch, and resets the back-off", async () => {
    const { clock, api, informer } = setup();
    api.respond({ items: [], resourceVersion: "1" });
    informer.start();
    await clock.settle();
    api.lastWatch().done(new Error("boom"));
    await clock.advance(800);
    api.lastWatch().emit({ type: "ADDED", object: cm("a", "2") });
    api.lastWatch().done(); // timeoutSeconds elapsed
    await clock.settle();
    expect(api.watches).toHaveLength(3);
    expect(api.lastWatch().resourceVersion).toBe("2");
    api.lastWatch().emit({ type: "BOOKMARK", resourceVersion: "3" });
    api.lastWatch().done(new Error("boom again"));
    await clock.advance(800); // back to the initial delay, not 1600
    expect(api.watches).toHaveLength(4);
  });

  it("starts over from the initial back-off after a watch that delivered or stayed up", async () => {
    const { clock, api, informer } = setup();
    api.respond({ items: [], resourceVersion: "1" });
    informer.start();
    await clock.settle();
    // An outage: every attempt fails at once, and the back-off grows.
    for (const delay of [800, 1600, 3200, 6400]) {
      api.lastWatch().done(new Error("connect ECONNREFUSED"));
      await clock.advance(delay);
    }
    expect(api.watches).toHaveLength(5);
    // The apiserver is back: this watch delivers, then a new outage ends it.
    api.lastWatch().emit({ type: "ADDED", object: cm("a", "2") });
    api.lastWatch().done(new Error("connection reset"));
    await clock.advance(800); // the first retry of a new outage, not 12.8 s after it began
    expect(api.watches).toHaveLength(6);
    // A quiet watch that stayed up for two minutes was healthy too.
    api.lastWatch().done(new Error("connect ECONNREFUSED"));
    await clock.advance(1600);
    expect(api.watches).toHaveLength(7);
    await clock.advance(120_000);
    api.lastWatch().done(new Error("connection reset"));
    await clock.advance(800);
    expect(api.watches).toHaveLength(8);
  });

  it("backs off a watch that the server closes immediately without delivering anything", async () => {
    const { clock, api, informer } = setup();
    api.respond({ items: [], resourceVersion: "1" });
    informer.start();
    await clock.settle();
    api.lastWatch().done();
    await clock.settle();
    expect(api.watches).toHaveLength(1);
    await clock.advance(800);
    expect(api.watches).toHaveLength(2);
  });

  it("never gives up listing while started", async () => {
    const { clock, api, informer } = setup();
    api.respond(new Error("refused"), new Error("refused"), new Error("refused"), { items: [], resourceVersion: "3" });
    informer.start();
    await clock.advance(800 + 1600 + 3200);
    expect(api.listCalls()).toBe(4);
    expect(informer.hasSynced()).toBe(true);
    expect(api.watches).toHaveLength(1);
  });

  it("keeps named secondary indexes current through adds, updates and deletes", async () => {
    const { clock, api, informer } = setup();
    api.respond({ items: [cm("a", "1", { town: "t1" }), cm("b", "2", { town: "t2" })], resourceVersion: "2" });
    informer.start();
    await clock.settle();
    informer.addIndex("byTown", (o) => [o.metadata.labels?.town ?? ""]); // added after objects exist
    const names = (town: string) =>
      informer
        .byIndex("byTown", town)
        .map((o) => o.metadata.name)
        .sort();
    expect(names("t1")).toEqual(["a"]);

    api.lastWatch().emit({ type: "MODIFIED", object: cm("b", "3", { town: "t1" }) });
    expect(names("t1")).toEqual(["a", "b"]);
    expect(names("t2")).toEqual([]);
    api.lastWatch().emit({ type: "DELETED", object: cm("a", "4", { town: "t1" }) });
    expect(names("t1")).toEqual(["b"]);
    expect(() => informer.byIndex("missing", "x")).toThrow(/no index/);
  });

  it("replays cached objects to handlers added late and survives a throwing handler", async () => {
    const { clock, api, informer } = setup();
    api.respond({ items: [cm("a", "1")], resourceVersion: "1" });
    informer.start();
    await clock.settle();
    const late: string[] = [];
    informer.addHandlers({
      onAdd: (o) => {
        late.push(o.metadata.name);
        throw new Error("bad handler");
      },
    });
    api.lastWatch().emit({ type: "ADDED", object: cm("b", "2") });
    expect(late).toEqual(["a", "b"]);
    expect(informer.get("ns", "b")).toBeDefined();
  });

  it("stops watching and listing on stop, and waitForSync reports false when stopped first", async () => {
    const { clock, api, informer } = setup();
    api.respond(new Error("refused"));
    informer.start();
    const waiting = informer.waitForSync();
    informer.stop();
    expect(await waiting).toBe(false);
    await clock.advance(60_000);
    expect(api.listCalls()).toBe(1);

    const second = setup();
    second.api.respond({ items: [], resourceVersion: "1" });
    second.informer.start();
    await second.clock.settle();
    second.informer.stop();
    expect(second.api.lastWatch().stopped).toBe(true);
    await second.clock.advance(60_000);
    expect(second.api.watches).toHaveLength(1);
  });
});
