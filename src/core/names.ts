// Deterministic names. Wherever a lost cache update could make the controller create something
// twice, the name is derived from durable state, so the second create is an AlreadyExists rather
// than a duplicate (docs/resources.md).

/** Polecat names read like a crew list in `kubectl get agents`. */
export const POLECAT_POOL = [
  "toast",
  "maple",
  "birch",
  "cedar",
  "fern",
  "flint",
  "hazel",
  "juniper",
  "moss",
  "pepper",
  "quill",
  "rook",
  "sage",
  "thistle",
  "willow",
  "wren",
  "acorn",
  "basil",
  "clover",
  "ember",
  "fig",
  "garnet",
  "heron",
  "ivy",
  "jasper",
  "lark",
  "nettle",
  "olive",
  "plum",
  "reed",
] as const;

/** The i-th polecat name of a rig: toast, maple, …, then toast-2, maple-2, … */
export function polecatName(town: string, rig: string, index: number): string {
  const base = POLECAT_POOL[index % POLECAT_POOL.length];
  const round = Math.floor(index / POLECAT_POOL.length);
  return `${town}-${rig}-${base}${round === 0 ? "" : `-${round + 1}`}`;
}

export function refineryName(town: string, rig: string): string {
  return `${town}-${rig}-refinery`;
}

/** One merge request per dispatch attempt of an issue: a repeated Done cannot create a second. */
export function mergeRequestName(issue: string, attempt: number): string {
  return `${issue}-mr-${attempt}`;
}

/** One rework per refinery session on a merge request. */
export function reworkName(mergeRequest: string, attempt: number): string {
  return `${mergeRequest}-rework-${attempt}`;
}

export function landingName(convoy: string, attempt: number): string {
  return `${convoy}-landing-${attempt}`;
}

export function taskBeadName(convoy: string, task: string): string {
  return `${convoy}-${task}`;
}

export function sessionPodName(agent: string, session: number): string {
  return `${agent}-${session}`;
}

export function issueBranch(rig: string, bead: string): string {
  return `gt/${rig}/${bead}`;
}

export function featureBranch(convoy: string): string {
  return `convoy/${convoy}`;
}
