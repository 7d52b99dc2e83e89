// Live copies of a namespace's Gas Town objects for --watch and feed: the operator's own informers
// (list, then watch from the list's version; relist on 410; resume after a back-off on any other
// failure), so a view keeps going across watch timeouts, apiserver restarts and dropped connections.
import { createInformer, type Informer, type KubeObject } from "../controller/informer.ts";
import { createKubeListWatch } from "../controller/list-watch.ts";
import { AGENTS, BEADS, CONVOYS, type Resource, TOWNS } from "../controller/resources.ts";
import type { Cli } from "./context.ts";
import type { TownObjects } from "./objects.ts";

export const EVENTS: Resource = { group: "events.k8s.io", version: "v1", plural: "events", kind: "Event" };

/**
 * Server-side watch timeout. Like client-go, 5–10 minutes; GASTOWN_CLI_WATCH_TIMEOUT_SECONDS
 * shortens it (tests use it to force reconnects while a convoy runs).
 */
function watchTimeout(): () => number {
  const fixed = Number(process.env.GASTOWN_CLI_WATCH_TIMEOUT_SECONDS);
  if (Number.isFinite(fixed) && fixed > 0) return () => fixed;
  return () => Math.floor(300 * (1 + Math.random()));
}

export type Change =
  | { type: "added"; resource: Resource; object: KubeObject }
  | { type: "updated"; resource: Resource; previous: KubeObject; object: KubeObject }
  | { type: "deleted"; resource: Resource; object: KubeObject };

export interface Live {
  start(): void;
  stop(): void;
  /** Resolves once every informer listed; rejects when one could not within timeoutMs. */
  synced(timeoutMs?: number): Promise<void>;
  objects(): TownObjects;
  list(resource: Resource): KubeObject[];
  /** Called after the initial sync, for every change (not for the initial list). */
  onChange(listener: (change: Change) => void): void;
}

export function createLive(cli: Cli, resources: Resource[] = [TOWNS, CONVOYS, BEADS, AGENTS]): Live {
  const informers = new Map<Resource, Informer>();
  const listeners: ((c: Change) => void)[] = [];
  let live = false;
  const emit = (c: Change) => {
    if (!live) return;
    for (const l of listeners) l(c);
  };
  for (const r of resources) {
    const informer = createInformer({
      name: `kubectl-gt-${r.plural}`,
      listWatch: createKubeListWatch(
        cli.http,
        { group: r.group, version: r.version, plural: r.plural, namespace: cli.namespace },
        { watchTimeoutSeconds: watchTimeout() },
      ),
    });
    informer.addHandlers({
      onAdd: (object) => emit({ type: "added", resource: r, object }),
      onUpdate: (previous, object) => emit({ type: "updated", resource: r, previous, object }),
      onDelete: (object) => emit({ type: "deleted", resource: r, object }),
    });
    informers.set(r, informer);
  }
  const list = (r: Resource) => informers.get(r)?.list() ?? [];
  return {
    start() {
      for (const i of informers.values()) i.start();
    },
    stop() {
      for (const i of informers.values()) i.stop();
    },
    async synced(timeoutMs = 30_000) {
      const signal = AbortSignal.timeout(timeoutMs);
      const all = await Promise.all([...informers.values()].map((i) => i.waitForSync(signal)));
      if (all.some((ok) => !ok)) {
        const pending = [...informers.values()]
          .filter((i) => !i.hasSynced())
          .map((i) => i.name.replace("kubectl-gt-", ""));
        throw new Error(`could not list ${pending.join(", ")} within ${timeoutMs / 1000}s`);
      }
      live = true;
    },
    objects: () =>
      ({
        towns: list(TOWNS),
        convoys: list(CONVOYS),
        beads: list(BEADS),
        agents: list(AGENTS),
      }) as unknown as TownObjects,
    list,
    onChange(listener) {
      listeners.push(listener);
    },
  };
}
