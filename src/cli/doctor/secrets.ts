// The Secrets a town names, and the keys each must hold, checked before a session needs them: a
// missing one holds the work (SessionCannotStart) until it exists. Each finding names the field
// that references the Secret, what cannot run without it, and the command that creates it (or
// adds the key), ready to paste.
import type { Town } from "../../api/town.ts";
import type { Cli } from "../context.ts";
import { type Finding, get, statusCode } from "./findings.ts";

type Purpose = "git" | "forge" | "env" | "envFrom" | "pull" | "model";

export interface SecretReference {
  secret: string;
  /** The field of the Town that names it. */
  where: string;
  purpose: Purpose;
  /** What cannot run without it. */
  needed: string;
  /** The key it must have, or (anyOf) one of these keys. */
  key?: string;
  anyOf?: string[];
  /** The Secret type it must be (image pull secrets). */
  type?: string;
}

/** What the API returns for a Secret, as much as doctor reads (never the values). */
export interface SecretObject {
  type?: string;
  data?: Record<string, string>;
}

/** The git credential files gt run understands (src/agent/git.ts). */
const GIT_KEYS = ["token", "password", "ssh-privatekey"];
const DOCKER_CONFIG = "kubernetes.io/dockerconfigjson";

/** The model provider's API key (Town.spec.agents.provider, and a rig's override); read loosely so a CLI older or newer than the CRD still checks it. */
type KeyRef = { name?: string; key?: string };
const providerKey = (agents: unknown): KeyRef | undefined =>
  (agents as { provider?: { apiKeySecret?: KeyRef } } | undefined)?.provider?.apiKeySecret;

/** Every Secret (and key) a town names: rig git credentials, forge tokens, model keys, agent env, image pulls. */
export function secretReferences(t: Town): SecretReference[] {
  const refs: SecretReference[] = [];
  const agents = t.spec.agents;
  const allSessions = "no agent session can start";
  for (const r of t.spec.rigs) {
    if (r.gitCredentialsSecret)
      refs.push({
        secret: r.gitCredentialsSecret,
        where: `spec.rigs[${r.name}].gitCredentialsSecret`,
        purpose: "git",
        needed: `sessions of rig ${r.name} cannot clone or push`,
        anyOf: GIT_KEYS,
      });
    if (r.forge?.tokenSecret)
      refs.push({
        secret: r.forge.tokenSecret,
        where: `spec.rigs[${r.name}].forge.tokenSecret`,
        purpose: "forge",
        needed: `the pull requests of rig ${r.name} are not polled`,
        key: "token",
      });
    const model = providerKey((r as { agents?: unknown }).agents);
    if (model?.name && model.key)
      refs.push({
        secret: model.name,
        where: `spec.rigs[${r.name}].agents.provider.apiKeySecret`,
        purpose: "model",
        needed: `sessions of rig ${r.name} cannot call the model`,
        key: model.key,
      });
  }
  const model = providerKey(agents);
  if (model?.name && model.key)
    refs.push({
      secret: model.name,
      where: "spec.agents.provider.apiKeySecret",
      purpose: "model",
      needed: "sessions cannot call the model",
      key: model.key,
    });
  (agents?.envFrom ?? []).forEach((e, i) => {
    if (e.secretRef)
      refs.push({
        secret: e.secretRef.name,
        where: `spec.agents.envFrom[${i}].secretRef`,
        purpose: "envFrom",
        needed: allSessions,
      });
  });
  for (const e of agents?.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    if (ref)
      refs.push({
        secret: ref.name,
        where: `spec.agents.env[${e.name}].valueFrom.secretKeyRef`,
        purpose: "env",
        needed: allSessions,
        key: ref.key,
      });
  }
  (agents?.imagePullSecrets ?? []).forEach((p, i) => {
    refs.push({
      secret: p.name,
      where: `spec.agents.imagePullSecrets[${i}]`,
      purpose: "pull",
      needed: `the agent image ${agents?.image ?? "(default)"} cannot be pulled, so no session starts`,
      type: DOCKER_CONFIG,
    });
  });
  return refs;
}

const PLACEHOLDER: Record<Purpose, string> = {
  git: "<a token that can push>",
  forge: "<a forge API token>",
  model: "<your API key>",
  env: "<value>",
  envFrom: "<value>",
  pull: "",
};

function createCommand(ref: SecretReference, namespace: string): string {
  const create = (type: string) => `kubectl create secret ${type} ${ref.secret} -n ${namespace}`;
  switch (ref.purpose) {
    case "pull":
      return `${create("docker-registry")} --docker-server=<registry> --docker-username=<user> --docker-password=<token>`;
    case "git":
      return `${create("generic")} --from-literal=token=${PLACEHOLDER.git}`;
    case "envFrom":
      return `${create("generic")} --from-literal=ANTHROPIC_API_KEY=<your key>`;
    default:
      return `${create("generic")} --from-literal=${ref.key}=${PLACEHOLDER[ref.purpose]}`;
  }
}

/** What doctor says of one reference, given the Secret as read (undefined: it does not exist). */
export function secretFindings(
  town: string,
  namespace: string,
  ref: SecretReference,
  secret: SecretObject | undefined | "forbidden",
): Finding[] {
  const what = `town ${town} ${ref.where}`;
  if (secret === "forbidden")
    return [
      {
        check: "secrets",
        severity: "warn",
        message: `${what}: cannot read Secret ${ref.secret} to check it (no access)`,
        fix: `ask for get on secrets in ${namespace}, or check it with: kubectl describe secret ${ref.secret} -n ${namespace}`,
      },
    ];
  if (secret === undefined)
    return [
      {
        check: "secrets",
        severity: "fail",
        message: `${what}: Secret ${ref.secret} does not exist in ${namespace}: ${ref.needed}`,
        fix: createCommand(ref, namespace),
      },
    ];
  const keys = Object.keys(secret.data ?? {});
  if (ref.type && secret.type !== ref.type)
    return [
      {
        check: "secrets",
        severity: "fail",
        message: `${what}: Secret ${ref.secret} is of type ${secret.type ?? "Opaque"}, not ${ref.type}: ${ref.needed}`,
        fix: `kubectl delete secret ${ref.secret} -n ${namespace} && ${createCommand(ref, namespace)}`,
      },
    ];
  const missing = ref.key
    ? keys.includes(ref.key)
      ? undefined
      : `has no key "${ref.key}"`
    : ref.anyOf && !ref.anyOf.some((k) => keys.includes(k))
      ? `has none of the keys ${ref.anyOf.map((k) => `"${k}"`).join(", ")}`
      : undefined;
  if (missing) {
    const key = ref.key ?? ref.anyOf?.[0] ?? "";
    return [
      {
        check: "secrets",
        severity: "fail",
        message: `${what}: Secret ${ref.secret} ${missing}: ${ref.needed}`,
        fix: `kubectl patch secret ${ref.secret} -n ${namespace} --type=merge -p '{"stringData":{"${key}":"${PLACEHOLDER[ref.purpose] || "<value>"}"}}'`,
      },
    ];
  }
  if (ref.purpose === "envFrom" && keys.length === 0)
    return [
      {
        check: "secrets",
        severity: "warn",
        message: `${what}: Secret ${ref.secret} is empty: it gives the agent no variables`,
        fix: `kubectl patch secret ${ref.secret} -n ${namespace} --type=merge -p '{"stringData":{"ANTHROPIC_API_KEY":"<your key>"}}'`,
      },
    ];
  return [];
}

export async function checkSecrets(cli: Cli, towns: Town[]): Promise<Finding[]> {
  const out: Finding[] = [];
  const read = new Map<string, Promise<SecretObject | undefined | "forbidden">>();
  const secretIn = (namespace: string, name: string) => {
    const key = `${namespace}/${name}`;
    let p = read.get(key);
    if (!p) {
      p = get<SecretObject>(cli, `/api/v1/namespaces/${namespace}/secrets/${name}`).catch((e: unknown) => {
        if (statusCode(e) === 404) return undefined;
        if (statusCode(e) === 403) return "forbidden" as const;
        throw e;
      });
      read.set(key, p);
    }
    return p;
  };
  let count = 0;
  for (const t of towns) {
    const namespace = t.metadata.namespace ?? cli.namespace;
    for (const ref of secretReferences(t)) {
      count++;
      out.push(...secretFindings(t.metadata.name, namespace, ref, await secretIn(namespace, ref.secret)));
    }
  }
  if (out.length === 0) {
    out.push({
      check: "secrets",
      severity: "ok",
      message: count === 0 ? "no town references a Secret" : `all ${count} Secret references of the towns resolve`,
    });
  }
  return out;
}
