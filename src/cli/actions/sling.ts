// `kubectl gt sling`: new work from a title — a bead, or a one-task convoy — on a rig of a town.
import type { Bead } from "../../api/bead.ts";
import type { Convoy } from "../../api/convoy.ts";
import { API_VERSION } from "../../api/meta.ts";
import { BEADS, CONVOYS } from "../../controller/resources.ts";
import type { Cli } from "../context.ts";
import { usageError } from "../errors.ts";
import { townNamed } from "./town.ts";
import { create } from "./write.ts";

export interface SlingOptions {
  title: string;
  description?: string;
  town?: string;
  rig?: string;
  priority?: number;
  /** Make a one-task convoy instead of a bare bead. */
  convoy?: boolean;
  staged?: boolean;
  labels?: string[];
}

/** A name stem from a title: lower-case DNS label characters, at most `max` long. */
export function slug(title: string, max = 40): string {
  const s = title
    .normalize("NFKD")
    .replace(/\p{M}/gu, "") // accents go, their letters stay: é → e
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, max)
    .replace(/-+$/g, "");
  return s || "work";
}

export async function sling(cli: Cli, o: SlingOptions): Promise<string> {
  if (o.title.trim() === "")
    throw usageError("the title is empty", 'kubectl gt sling "Fix the login redirect" --rig app');
  if (o.priority !== undefined && (!Number.isInteger(o.priority) || o.priority < 0 || o.priority > 4)) {
    throw usageError(`--priority must be 0 (most urgent) to 4, got ${o.priority}`);
  }
  const town = await townNamed(cli, o.town);
  const rigs = town.spec.rigs.map((r) => r.name);
  const rig = o.rig ?? (rigs.length === 1 ? rigs[0] : undefined);
  if (!rig)
    throw usageError(
      `town ${town.metadata.name} has ${rigs.length} rigs: say which with --rig`,
      `rigs: ${rigs.join(", ")}`,
    );
  if (!rigs.includes(rig)) {
    throw usageError(`town ${town.metadata.name} has no rig "${rig}"`, `rigs: ${rigs.join(", ")}`);
  }
  const stem = slug(o.title);
  const common = {
    title: o.title.slice(0, 200),
    description: o.description ?? "",
    ...(o.priority !== undefined ? { priority: o.priority } : {}),
  };
  const townName = town.metadata.name;
  const waits = town.spec.suspend
    ? ` (the town is suspended: kubectl gt resume ${townName})`
    : town.status?.circuitBreaker?.open
      ? ` (the town's circuit breaker is open: kubectl gt status ${townName})`
      : "";
  if (o.convoy) {
    const created = await create<Convoy>(cli, CONVOYS, {
      apiVersion: API_VERSION,
      kind: "Convoy",
      metadata: { generateName: `${stem}-` },
      spec: {
        town: townName,
        title: common.title,
        ...(o.staged ? { staged: true } : {}),
        tasks: [{ name: slug(o.title, 30), rig, ...common }],
      },
    });
    const when = o.staged
      ? `staged: start it with kubectl gt start ${created.metadata.name}`
      : `dispatched when a polecat is free${waits}`;
    return `convoy/${created.metadata.name} created on town ${townName}, rig ${rig} (one task, ${when})`;
  }
  const created = await create<Bead>(cli, BEADS, {
    apiVersion: API_VERSION,
    kind: "Bead",
    metadata: { generateName: `${stem}-` },
    spec: { town: townName, rig, type: "Issue", ...common, ...(o.labels?.length ? { labels: o.labels } : {}) },
  });
  return `bead/${created.metadata.name} created on town ${townName}, rig ${rig}: dispatched when a polecat is free${waits}`;
}
