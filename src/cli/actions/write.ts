// How an action writes: one JSON merge patch of the field the operator reads (the same field a
// GitOps repository could set), under the field manager "kubectl-gt" so `kubectl get
// --show-managed-fields` says who set it. A write that depends on what it read (a counter to
// raise, a list to extend) carries the resourceVersion it read: a concurrent change makes it a
// conflict, and the decision is taken again on a fresh read instead of overwriting that change.
import { isConflict } from "../../controller/kube-http.ts";
import { apiPath, type Resource } from "../../controller/resources.ts";
import type { Cli } from "../context.ts";
import { CliError, explain } from "../errors.ts";
import { getObject } from "../objects.ts";

export const FIELD_MANAGER = "kubectl-gt";

/** What an action decided: a patch of spec and the line to print, or only the line (nothing to change). */
export type Decision = { spec?: Record<string, unknown>; result: string };

/** The one PATCH every action sends; `strict` makes the apiserver refuse fields its CRD does not have. */
function patch(cli: Cli, r: Resource, name: string, body: unknown, strict = false): Promise<unknown> {
  return cli.http.json({
    method: "PATCH",
    path: apiPath(r, cli.namespace, name),
    query: { fieldManager: FIELD_MANAGER, ...(strict ? { fieldValidation: "Strict" } : {}) },
    contentType: "application/merge-patch+json",
    body,
  });
}

/** A merge patch; `explainError` (default: the API's words, naming the object) may say it better. */
export async function mergePatch(
  cli: Cli,
  r: Resource,
  name: string,
  body: unknown,
  o: { strict?: boolean; explainError?: (e: unknown) => Error | undefined } = {},
): Promise<void> {
  try {
    await patch(cli, r, name, body, o.strict);
  } catch (e) {
    throw o.explainError?.(e) ?? explain(e, `${r.kind.toLowerCase()}/${name}`);
  }
}

export async function create<T>(cli: Cli, r: Resource, body: unknown): Promise<T> {
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

const ATTEMPTS = 3;

/**
 * Reads the object, lets `decide` refuse (throw), change nothing, or patch its spec guarded by the
 * resourceVersion it read. Resolves to the decision's line and whether it was written.
 */
export async function decideAndWrite<T extends { metadata: { resourceVersion?: string } }>(
  cli: Cli,
  r: Resource,
  name: string,
  decide: (object: T) => Decision | Promise<Decision>,
): Promise<{ line: string; written: boolean }> {
  for (let attempt = 1; ; attempt++) {
    const object = await getObject<T>(cli, r, name);
    const d = await decide(object);
    if (!d.spec) return { line: d.result, written: false };
    try {
      await patch(cli, r, name, { metadata: { resourceVersion: object.metadata.resourceVersion }, spec: d.spec });
      return { line: d.result, written: true };
    } catch (e) {
      if (isConflict(e) && attempt < ATTEMPTS) continue;
      if (isConflict(e)) {
        throw new CliError(
          `${r.kind.toLowerCase()}/${name} kept changing while this was written: nothing was changed`,
          {
            hint: "run the command again",
          },
        );
      }
      throw explain(e, `${r.kind.toLowerCase()}/${name}`);
    }
  }
}
