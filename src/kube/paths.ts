// Where a resource lives in the API: /api/v1/… for the core group, /apis/<group>/<version>/…
// otherwise, with the namespace, the name and a subresource as needed.

export interface Resource {
  /** "" for the core group. */
  group: string;
  version: string;
  plural: string;
  kind: string;
}

export function apiPath(
  r: Pick<Resource, "group" | "version" | "plural">,
  namespace?: string,
  name?: string,
  sub?: string,
): string {
  const base = r.group === "" ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  const ns = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  return `${base}${ns}/${r.plural}${name ? `/${encodeURIComponent(name)}` : ""}${sub ? `/${sub}` : ""}`;
}

/** The collection path of a resource (what lists and watches read). */
export function collectionPath(resource: { group: string; version: string; plural: string; namespace?: string }) {
  return apiPath(resource, resource.namespace);
}

export interface PathParts {
  group: string;
  version: string;
  resource: string;
  subresource: string;
  namespace?: string;
  name?: string;
}

/** The parts of an API path (/api/v1/namespaces/ns/pods/p/status → core, pods, status, ns, p). */
export function parsePath(pathname: string): PathParts {
  const parts = pathname.split("?")[0]?.split("/").filter(Boolean) ?? [];
  let rest: string[];
  let group = "";
  let version: string;
  if (parts[0] === "api") {
    version = parts[1] ?? "";
    rest = parts.slice(2);
  } else {
    group = parts[1] ?? "";
    version = parts[2] ?? "";
    rest = parts.slice(3);
  }
  let namespace: string | undefined;
  if (rest[0] === "namespaces" && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  return {
    group,
    version,
    resource: rest[0] ?? "",
    subresource: rest[2] ?? "",
    ...(namespace ? { namespace } : {}),
    ...(rest[1] ? { name: decodeURIComponent(rest[1]) } : {}),
  };
}
