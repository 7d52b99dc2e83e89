// The actions a person takes on a town. Each is one declarative write of a field the operator's
// rules read — the same field a GitOps repository could set — sent as a merge patch under the field
// manager "kubectl-gt" (so `kubectl get -o yaml --show-managed-fields` says who set it), followed by
// one line saying what changed and what the operator will do about it.
import type { Agent } from "../api/agent.ts";
import type { Bead } from "../api/bead.ts";
import type { Convoy } from "../api/convoy.ts";
import { API_VERSION } from "../api/meta.ts";
import type { Town } from "../api/town.ts";
import { AGENTS, apiPath, BEADS, CONVOYS, type Resource, TOWNS } from "../controller/resources.ts";
import type { Cli } from "./context.ts";
import { CliError, EXIT, explain, notFound, usageError } from "./errors.ts";
import { findObject, getObject, listAll } from "./objects.ts";

export const FIELD_MANAGER = "kubectl-gt";

type Obj = {
  metadata: { name: string; resourceVersion?: string };
  spec: Record<string, unknown>;
  status?: Record<string, unknown>;
};

async function patch(cli: Cli, r: Resource, name: string, body: unknown): Promise<void> {
  try {
    await cli.http.json({
      method: "PATCH",
      path: apiPath(r, cli.namespace, name),
      query: { fieldManager: FIELD_MANAGER },
      contentType: "application/merge-patch+json",
      body,
    });
  } catch (e) {
    throw explain(e, `${r.kind.toLowerCase()}/${name}`);
  }
}

/** `bead/x`, `convoy/x` (also bd/, cv/, beads/…) or a bare name looked up as each kind in turn. */
export async function resolveTarget(
  cli: Cli,
  arg: string,
  kinds: Resource[],
): Promise<{ resource: Resource; object: Obj }> {
  const slash = arg.indexOf("/");
  if (slash >= 0) {
    const prefix = arg.slice(0, slash).toLowerCase();
    const name = arg.slice(slash + 1);
    const aliases: Record<string, Resource> = {
      bead: BEADS,
      beads: BEADS,
      bd: BEADS,
      convoy: CONVOYS,
      convoys: CONVOYS,
      cv: CONVOYS,
      agent: AGENTS,
      agents: AGENTS,
      ag: AGENTS,
      town: TOWNS,
      towns: TOWNS,
    };
    const r = aliases[prefix];
    if (!r || !kinds.includes(r)) {
      throw usageError(`"${arg}": expected ${kinds.map((k) => `${k.kind.toLowerCase()}/NAME`).join(" or ")}`);
    }
    return { resource: r, object: await getObject<Obj>(cli, r, name) };
  }
  const found = (
    await Promise.all(kinds.map(async (r) => ({ resource: r, object: await findObject<Obj>(cli, r, arg) })))
  ).filter((x): x is { resource: Resource; object: Obj } => x.object !== undefined);
  if (found.length === 1) return found[0]!;
  if (found.length > 1) {
    throw usageError(
      `"${arg}" names both a ${found.map((f) => f.resource.kind.toLowerCase()).join(" and a ")}`,
      `say which: ${found.map((f) => `${f.resource.kind.toLowerCase()}/${arg}`).join(" or ")}`,
    );
  }
  throw new CliError(
    `no ${kinds.map((k) => k.kind.toLowerCase()).join(" or ")} named "${arg}" in namespace "${cli.namespace}"`,
    {
      exitCode: EXIT.notFound,
      hint: `list them with: kubectl get ${kinds.map((k) => k.plural).join(",")} -n ${cli.namespace}`,
    },
  );
}

const TERMINAL = new Set(["Closed", "Failed"]);

export async function cancel(cli: Cli, target: string): Promise<string> {
  const { resource, object } = await resolveTarget(cli, target, [BEADS, CONVOYS]);
  const name = object.metadata.name;
  if (resource === CONVOYS) return cancelConvoy(cli, object as unknown as Convoy);
  const bead = object as unknown as Bead;
  if (bead.spec.cancel) return `bead/${name} unchanged: spec.cancel is already true (${bead.status?.phase ?? "Open"})`;
  const phase = bead.status?.phase ?? "Open";
  if (TERMINAL.has(phase)) {
    throw new CliError(`bead/${name} is already ${phase}: there is nothing left to cancel`, {
      hint: phase === "Failed" ? `to run it again instead: kubectl gt retry ${name}` : undefined,
    });
  }
  await patch(cli, BEADS, name, { spec: { cancel: true } });
  return `bead/${name} cancelled (spec.cancel=true): the operator stops its sessions and fails it with reason Cancelled`;
}

/** Fields the operator does not have yet (issue 8 / 11); the message says what the command waits for. */
function waitingFor(command: string, field: string, issue: number): CliError {
  return new CliError(
    `kubectl gt ${command} needs ${field}, which this operator API (gastown.dev/v1alpha1 as built into this CLI) does not have yet (issue ${issue})`,
    { hint: "upgrade the operator and this CLI together once it lands" },
  );
}

async function cancelConvoy(_cli: Cli, convoy: Convoy): Promise<string> {
  throw waitingFor(`cancel convoy/${convoy.metadata.name}`, "a convoy cancel field", 8);
}

export async function retry(cli: Cli, name: string): Promise<string> {
  const bead = await getObject<Bead>(cli, BEADS, name);
  const phase = bead.status?.phase ?? "Open";
  if (phase !== "Failed") {
    throw new CliError(`bead/${name} is ${phase}, not Failed: only a Failed bead can be retried`, {
      hint:
        phase === "Closed"
          ? "it was merged; create a new bead for more work (kubectl gt sling)"
          : "it is still in the operator's hands",
    });
  }
  throw waitingFor(`retry ${name}`, "the bead retry field", 8);
}

export async function nudge(cli: Cli, agent: string, message: string): Promise<string> {
  if (message.trim() === "")
    throw usageError("the nudge message is empty", `kubectl gt nudge ${agent} "what to do next"`);
  await getObject<Agent>(cli, AGENTS, agent);
  throw waitingFor(`nudge ${agent}`, "the user-nudge field on the Agent", 11);
}

export async function ack(cli: Cli, escalation: string, town?: string): Promise<string> {
  await townNamed(cli, town);
  throw waitingFor(
    `ack ${escalation}`,
    "durable escalations on the Town's status and their acknowledgement in its spec",
    8,
  );
}

export async function setStaged(cli: Cli, name: string, staged: boolean): Promise<string> {
  const convoy = await getObject<Convoy>(cli, CONVOYS, name);
  const phase = convoy.status?.phase ?? "Pending";
  if ((convoy.spec.staged === true) === staged) {
    return `convoy/${name} unchanged: already ${staged ? "staged" : "started"} (${phase})`;
  }
  if (staged && (phase === "Landed" || phase === "Failed")) {
    throw new CliError(`convoy/${name} is ${phase}: staging it would change nothing`);
  }
  await patch(cli, CONVOYS, name, { spec: { staged } });
  return staged
    ? `convoy/${name} staged (spec.staged=true): nothing new is dispatched; sessions already running go on`
    : `convoy/${name} started (spec.staged=false): its unblocked tasks are dispatched now`;
}

export async function setSuspended(cli: Cli, name: string, suspend: boolean): Promise<string> {
  const town = await getObject<Town>(cli, TOWNS, name);
  if ((town.spec.suspend === true) === suspend)
    return `town/${name} unchanged: already ${suspend ? "suspended" : "running"}`;
  await patch(cli, TOWNS, name, { spec: { suspend } });
  return suspend
    ? `town/${name} suspended (spec.suspend=true): no new dispatch; running sessions and all state are kept`
    : `town/${name} resumed (spec.suspend=false): dispatch starts again`;
}

/** The town an action is about: the named one, or the only one in the namespace. */
export async function townNamed(cli: Cli, name: string | undefined): Promise<Town> {
  if (name) return getObject<Town>(cli, TOWNS, name);
  const towns = await listAll<Town>(cli, TOWNS);
  if (towns.length === 1) return towns[0]!;
  if (towns.length === 0)
    throw notFound("Town", "(any)", cli.namespace, `create one, or pick another namespace with -n`);
  throw usageError(
    `namespace ${cli.namespace} has ${towns.length} towns: say which with --town`,
    `towns: ${towns.map((t) => t.metadata.name).join(", ")}`,
  );
}

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
    return `convoy/${created.metadata.name} created on town ${townName}, rig ${rig} (one task, ${o.staged ? "staged: start it with kubectl gt start " + created.metadata.name : "dispatched when a polecat is free"})`;
  }
  const created = await create<Bead>(cli, BEADS, {
    apiVersion: API_VERSION,
    kind: "Bead",
    metadata: { generateName: `${stem}-` },
    spec: { town: townName, rig, type: "Issue", ...common, ...(o.labels?.length ? { labels: o.labels } : {}) },
  });
  return `bead/${created.metadata.name} created on town ${townName}, rig ${rig}: dispatched when a polecat is free${town.spec.suspend ? " (the town is suspended: kubectl gt resume " + townName + ")" : ""}`;
}

async function create<T>(cli: Cli, r: Resource, body: unknown): Promise<T> {
  try {
    return await cli.http.json<T>({
      method: "POST",
      path: apiPath(r, cli.namespace),
      query: { fieldManager: FIELD_MANAGER },
      body,
    });
  } catch (e) {
    throw explain(e, `creating a ${r.kind.toLowerCase()}`);
  }
}
