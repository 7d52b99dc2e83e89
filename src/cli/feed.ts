// `kubectl gt feed`: what happens in the namespace as it happens — the operator's Events and every
// phase change of a town, convoy, bead or agent — filtered by town, convoy or agent. Events are
// printed once each (a repeated Event prints again only when its series count grows), so the feed
// stays right across watch reconnects and relists, which the informers do by themselves.
import { parseDuration } from "../api/meta.ts";
import type { KubeObject } from "../controller/informer.ts";
import { AGENTS, BEADS, CONVOYS, type Resource, TOWNS } from "../controller/resources.ts";
import type { Cli } from "./context.ts";
import { usageError } from "./errors.ts";
import { type Paint, plain, terminalPaint } from "./format.ts";
import { type Change, createLive, EVENTS, type Live } from "./live.ts";
import { readTownObjects } from "./objects.ts";

export interface FeedFilter {
  town?: string;
  convoy?: string;
  agent?: string;
}

export interface FeedOptions extends FeedFilter {
  since: string;
  output?: "json";
}

export interface FeedEntry {
  time: string;
  kind: "Event" | "Phase";
  type: string;
  object: string;
  reason: string;
  message: string;
  count?: number;
}

interface EventObject extends KubeObject {
  regarding?: { kind?: string; name?: string; apiVersion?: string };
  related?: { kind?: string; name?: string };
  reason?: string;
  note?: string;
  type?: string;
  eventTime?: string;
  series?: { count?: number; lastObservedTime?: string };
  reportingController?: string;
  deprecatedLastTimestamp?: string;
}

const KIND_OF: Record<string, Resource> = { Town: TOWNS, Convoy: CONVOYS, Bead: BEADS, Agent: AGENTS };

const spec = (o: KubeObject | undefined) =>
  (o?.spec ?? {}) as { town?: string; convoy?: string; source?: { kind?: string; name?: string } };
const statusOf = (o: KubeObject | undefined) => (o?.status ?? {}) as { phase?: string; assignee?: string };

/** Whether an object (by kind and name) belongs to what the filter asks for. */
export function matches(
  live: Pick<Live, "list">,
  kind: string,
  name: string,
  f: FeedFilter,
  related?: string,
): boolean {
  if (!f.town && !f.convoy && !f.agent) return true;
  const r = KIND_OF[kind];
  const obj = r ? live.list(r).find((o) => o.metadata.name === name) : undefined;
  if (f.town) {
    const town = kind === "Town" ? name : spec(obj).town;
    if (town !== f.town) return false;
  }
  if (f.convoy) {
    const convoy = kind === "Convoy" ? name : kind === "Bead" ? spec(obj).convoy : undefined;
    if (convoy !== f.convoy) return false;
  }
  if (f.agent) {
    const agent = kind === "Agent" ? name : kind === "Bead" ? statusOf(obj).assignee : undefined;
    if (agent !== f.agent && related !== f.agent) return false;
  }
  return true;
}

export function eventEntry(e: EventObject): FeedEntry {
  const count = e.series?.count;
  return {
    time:
      e.series?.lastObservedTime ??
      e.eventTime ??
      e.deprecatedLastTimestamp ??
      String(e.metadata.creationTimestamp ?? ""),
    kind: "Event",
    type: e.type ?? "Normal",
    object: `${(e.regarding?.kind ?? "object").toLowerCase()}/${e.regarding?.name ?? "?"}`,
    reason: e.reason ?? "",
    message: e.note ?? "",
    ...(count && count > 1 ? { count } : {}),
  };
}

export function phaseEntry(kind: string, name: string, from: string | undefined, to: string, time: string): FeedEntry {
  return {
    time,
    kind: "Phase",
    type: "Phase",
    object: `${kind.toLowerCase()}/${name}`,
    reason: "PhaseChanged",
    message: `${from ?? "(new)"} → ${to}`,
  };
}

function clock(time: string): string {
  const t = Date.parse(time);
  if (!Number.isFinite(t)) return "--:--:--";
  // Local HH:MM:SS by hand: toLocaleTimeString would load ICU's locale data for one fixed format.
  const d = new Date(t);
  const two = (n: number) => String(n).padStart(2, "0");
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

export function formatEntry(e: FeedEntry, paint: Paint = plain): string {
  const type =
    e.type === "Warning" ? paint("red", "Warning") : e.type === "Phase" ? paint("cyan", "Phase  ") : "Normal ";
  const count = e.count ? ` (×${e.count})` : "";
  const text = e.kind === "Phase" ? e.message : `${e.reason}: ${e.message}${count}`;
  return `${clock(e.time)}  ${type}  ${e.object.padEnd(36)}  ${text}`;
}

const isGastown = (e: EventObject) =>
  (e.regarding?.apiVersion ?? "").startsWith("gastown.dev/") || e.reportingController === "gastown.dev/operator";

export async function feed(cli: Cli, o: FeedOptions): Promise<void> {
  let sinceMs: number;
  try {
    sinceMs = parseDuration(o.since);
  } catch (e) {
    throw usageError(`--since: ${(e as Error).message}`);
  }
  // One plain read first: fails fast when the CRDs are missing, access is denied or the cluster is down.
  await readTownObjects(cli);
  const live = createLive(cli, [TOWNS, CONVOYS, BEADS, AGENTS, EVENTS]);
  const paint = cli.io.isTTY ? terminalPaint : plain;
  const print = (e: FeedEntry) =>
    cli.io.out(o.output === "json" ? `${JSON.stringify(e)}\n` : `${formatEntry(e, paint)}\n`);
  const printed = new Map<string, number>();
  const onEvent = (e: EventObject) => {
    if (!isGastown(e)) return;
    const uid = e.metadata.uid ?? `${e.metadata.namespace}/${e.metadata.name}`;
    const count = e.series?.count ?? 1;
    if ((printed.get(uid) ?? 0) >= count) return;
    printed.set(uid, count);
    if (!matches(live, e.regarding?.kind ?? "", e.regarding?.name ?? "", o, e.related?.name)) return;
    print(eventEntry(e));
  };
  live.onChange((c: Change) => {
    if (c.resource === EVENTS) {
      if (c.type !== "deleted") onEvent(c.object as EventObject);
      return;
    }
    if (c.type !== "updated") {
      if (c.type === "added" && statusOf(c.object).phase && matches(live, c.resource.kind, c.object.metadata.name, o)) {
        print(
          phaseEntry(
            c.resource.kind,
            c.object.metadata.name,
            undefined,
            statusOf(c.object).phase!,
            new Date(cli.now()).toISOString(),
          ),
        );
      }
      return;
    }
    const before = statusOf(c.previous).phase;
    const after = statusOf(c.object).phase;
    if (!after || before === after) return;
    if (!matches(live, c.resource.kind, c.object.metadata.name, o)) return;
    print(phaseEntry(c.resource.kind, c.object.metadata.name, before, after, new Date(cli.now()).toISOString()));
  });
  live.start();
  await live.synced();
  const cutoff = cli.now() - sinceMs;
  const past = (live.list(EVENTS) as EventObject[])
    .filter((e) => Date.parse(eventEntry(e).time) >= cutoff)
    .sort((a, b) => Date.parse(eventEntry(a).time) - Date.parse(eventEntry(b).time));
  for (const e of past) onEvent(e);
  for (const e of live.list(EVENTS) as EventObject[]) {
    const uid = e.metadata.uid ?? `${e.metadata.namespace}/${e.metadata.name}`;
    if (!printed.has(uid)) printed.set(uid, e.series?.count ?? 1);
  }
  await new Promise<void>((resolve) => {
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP", "SIGPIPE"] as const) process.on(signal, () => resolve());
    process.stdout.once("error", () => resolve()); // the reader went away (| head)
  });
  live.stop();
}
