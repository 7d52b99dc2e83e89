// Actions on a town: suspend and resume dispatch, acknowledge an escalation, close the circuit
// breaker. Each is one merge patch of Town.spec (spec.suspend, spec.acknowledgedEscalations,
// spec.circuitBreakerReset); deciding what to write is pure, so the refusals are unit-tested.
import type { Town } from "../../api/town.ts";
import { TOWNS } from "../../controller/resources.ts";
import type { Cli } from "../context.ts";
import { CliError, EXIT, notFound, usageError } from "../errors.ts";
import { getObject, listAll } from "../objects.ts";
import { type Decision, decideAndWrite, mergePatch } from "./write.ts";

/** spec.acknowledgedEscalations holds at most this many ids (the CRD's maxItems). */
export const MAX_ACKNOWLEDGED = 100;

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

export async function setSuspended(cli: Cli, name: string, suspend: boolean): Promise<string> {
  const town = await getObject<Town>(cli, TOWNS, name);
  if ((town.spec.suspend === true) === suspend)
    return `town/${name} unchanged: already ${suspend ? "suspended" : "running"}`;
  await mergePatch(cli, TOWNS, name, { spec: { suspend } });
  return suspend
    ? `town/${name} suspended (spec.suspend=true): no new dispatch; running sessions and all state are kept`
    : `town/${name} resumed (spec.suspend=false): dispatch starts again`;
}

const openIds = (t: Town) =>
  (t.status?.escalations ?? [])
    .filter((e) => !e.acknowledged)
    .map((e) => e.id)
    .sort();

/** Adds the id to spec.acknowledgedEscalations, or says why not. */
export function decideAck(town: Town, id: string): Decision {
  const name = town.metadata.name;
  const escalations = town.status?.escalations ?? [];
  if (!escalations.some((e) => e.id === id)) {
    const open = openIds(town);
    throw new CliError(`town/${name} has no escalation "${id}"`, {
      exitCode: EXIT.notFound,
      hint:
        open.length > 0
          ? `open escalations: ${open.join(", ")}`
          : `town/${name} has no open escalation (kubectl gt status ${name})`,
    });
  }
  const acknowledged = town.spec.acknowledgedEscalations ?? [];
  if (acknowledged.includes(id)) return { result: `escalation ${id} unchanged: already acknowledged on town/${name}` };
  // Full: forget ids of escalations the operator no longer lists (resolved ones), oldest first.
  const listed = new Set(escalations.map((e) => e.id));
  let kept = [...acknowledged];
  while (kept.length >= MAX_ACKNOWLEDGED) {
    const stale = kept.findIndex((k) => !listed.has(k));
    if (stale < 0) {
      throw new CliError(
        `town/${name}: spec.acknowledgedEscalations is full (${MAX_ACKNOWLEDGED} ids of escalations still listed)`,
        { hint: "retry or cancel the beads they are about; their escalations are resolved with them" },
      );
    }
    kept = kept.filter((_, i) => i !== stale);
  }
  const stillOpen = openIds(town).filter((e) => e !== id).length;
  return {
    spec: { acknowledgedEscalations: [...kept, id] },
    result: `escalation ${id} acknowledged on town/${name} (spec.acknowledgedEscalations): it is not raised again; ${
      stillOpen === 0 ? "it was the last open one, so the town's Escalated condition clears" : `${stillOpen} still open`
    }`,
  };
}

/** `kubectl gt ack ID [--town T]`: without --town, the town whose status lists the id. */
export async function ack(cli: Cli, id: string, townName?: string): Promise<string> {
  let name = townName;
  if (!name) {
    const towns = await listAll<Town>(cli, TOWNS);
    const having = towns.filter((t) => (t.status?.escalations ?? []).some((e) => e.id === id));
    if (having.length > 1) {
      throw usageError(
        `escalation "${id}" is on ${having.length} towns: say which with --town`,
        `towns: ${having.map((t) => t.metadata.name).join(", ")}`,
      );
    }
    if (having.length === 0) {
      const open = towns.flatMap((t) =>
        openIds(t).map((e) => (towns.length > 1 ? `${e} (town ${t.metadata.name})` : e)),
      );
      throw new CliError(`no town in namespace "${cli.namespace}" has an escalation "${id}"`, {
        exitCode: EXIT.notFound,
        hint:
          open.length > 0 ? `open escalations: ${open.join(", ")}` : "there is no open escalation (kubectl gt status)",
      });
    }
    name = having[0]!.metadata.name;
  }
  return (await decideAndWrite<Town>(cli, TOWNS, name, (t) => decideAck(t, id))).line;
}

/**
 * Sets spec.circuitBreakerReset so that every failed session counted now stops counting. The
 * instant is this machine's clock, but never before the newest counted failure: a clock behind
 * the operator's must not leave the breaker open.
 */
export function decideBreakerReset(town: Town, now: number): Decision {
  const name = town.metadata.name;
  const cb = town.status?.circuitBreaker;
  const failures = cb?.recentFailures ?? [];
  if (!cb?.open && failures.length === 0) {
    return { result: `town/${name} unchanged: its circuit breaker is closed and counts no failed session` };
  }
  const newest = Math.max(...failures.map((f) => Date.parse(f.time)).filter(Number.isFinite));
  const at = new Date(Math.max(now, Number.isFinite(newest) ? newest + 1 : now)).toISOString();
  const n = `${failures.length} failed session${failures.length === 1 ? "" : "s"}`;
  return {
    spec: { circuitBreakerReset: at },
    result: cb?.open
      ? `town/${name} circuit breaker reset (spec.circuitBreakerReset=${at}): the ${n} before it no longer count; ${town.spec.suspend ? "dispatch starts again once the town is resumed (kubectl gt resume " + name + ")" : "dispatch starts again"}`
      : `town/${name} circuit breaker reset (spec.circuitBreakerReset=${at}): it was closed; the ${n} counted so far no longer count`,
  };
}

export async function resetBreaker(cli: Cli, name: string): Promise<string> {
  return (await decideAndWrite<Town>(cli, TOWNS, name, (t) => decideBreakerReset(t, cli.now()))).line;
}
