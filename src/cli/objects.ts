// Reading Gas Town objects for a view. Objects are taken as the API returns them (no zod parse):
// a CLI one version apart from the operator must still show what it understands and pass the rest
// through to -o json untouched.
import type { Agent } from "../api/agent.ts";
import type { Bead } from "../api/bead.ts";
import type { Convoy } from "../api/convoy.ts";
import type { Town } from "../api/town.ts";
import { isNotFound } from "../controller/kube-http.ts";
import { AGENTS, apiPath, BEADS, CONVOYS, type Resource, TOWNS } from "../controller/resources.ts";
import type { Cli } from "./context.ts";
import { CliError, EXIT, explain, notFound, usageError } from "./errors.ts";

export interface TownObjects {
  towns: Town[];
  convoys: Convoy[];
  beads: Bead[];
  agents: Agent[];
}

interface List<T> {
  items?: T[];
  metadata?: { resourceVersion?: string };
}

export async function listAll<T>(cli: Cli, r: Resource, namespace: string | undefined = cli.namespace): Promise<T[]> {
  try {
    const list = await cli.http.json<List<T>>({ method: "GET", path: apiPath(r, namespace) });
    return list.items ?? [];
  } catch (e) {
    if (isNotFound(e) && r.group !== "") {
      throw new CliError(`the cluster does not serve ${r.plural}.${r.group}: the Gas Town CRDs are not installed`, {
        hint: "install them with: kubectl apply --server-side -f crds/ (kubectl gt doctor checks the whole setup)",
      });
    }
    throw explain(e, `listing ${r.plural}`);
  }
}

export async function getObject<T>(cli: Cli, r: Resource, name: string, namespace = cli.namespace): Promise<T> {
  try {
    return await cli.http.json<T>({ method: "GET", path: apiPath(r, namespace, name) });
  } catch (e) {
    if (isNotFound(e)) throw notFound(r.kind, name, namespace);
    throw explain(e, `${r.kind.toLowerCase()}/${name}`);
  }
}

export async function findObject<T>(
  cli: Cli,
  r: Resource,
  name: string,
  namespace = cli.namespace,
): Promise<T | undefined> {
  try {
    return await cli.http.json<T>({ method: "GET", path: apiPath(r, namespace, name) });
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw explain(e, `${r.kind.toLowerCase()}/${name}`);
  }
}

export async function readTownObjects(cli: Cli): Promise<TownObjects> {
  const [towns, convoys, beads, agents] = await Promise.all([
    listAll<Town>(cli, TOWNS),
    listAll<Convoy>(cli, CONVOYS),
    listAll<Bead>(cli, BEADS),
    listAll<Agent>(cli, AGENTS),
  ]);
  return { towns, convoys, beads, agents };
}

type Named = { metadata: { name: string } };

const KIND_ALIASES: Record<string, Resource> = {
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

/** `bead/x`, `convoy/x` (also bd/, cv/, beads/…) or a bare name looked up as each kind in turn. */
export async function resolveTarget<T extends Named = Named>(
  cli: Cli,
  arg: string,
  kinds: Resource[],
): Promise<{ resource: Resource; object: T }> {
  const slash = arg.indexOf("/");
  if (slash >= 0) {
    const r = KIND_ALIASES[arg.slice(0, slash).toLowerCase()];
    if (!r || !kinds.includes(r)) {
      throw usageError(`"${arg}": expected ${kinds.map((k) => `${k.kind.toLowerCase()}/NAME`).join(" or ")}`);
    }
    return { resource: r, object: await getObject<T>(cli, r, arg.slice(slash + 1)) };
  }
  const found = (
    await Promise.all(kinds.map(async (r) => ({ resource: r, object: await findObject<T>(cli, r, arg) })))
  ).filter((x): x is { resource: Resource; object: T } => x.object !== undefined);
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
