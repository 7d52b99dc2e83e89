// Label selectors in their string form (`kubectl -l`, `labelSelector=`): equality (a=b, a==b,
// a!=b), set-based (a in (x,y), a notin (x), a, !a), comma-separated requirements that must all
// hold. Parsed to check a flag at startup with a message that names the mistake, and matched
// locally where the API cannot select for us.

type Requirement = { key: string; op: "in" | "notin"; values: string[] } | { key: string; op: "exists" | "!exists" };

export interface Selector {
  readonly text: string;
  matches(labels: Record<string, string> | undefined): boolean;
}

const KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Splits on commas that are not inside parentheses. */
function requirementsOf(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = "";
  for (const c of text) {
    if (c === "(") depth++;
    if (c === ")") depth--;
    if (c === "," && depth === 0) {
      out.push(current.trim());
      current = "";
    } else current += c;
  }
  out.push(current.trim());
  return out;
}

function parseRequirement(part: string, text: string): Requirement {
  const bad = (why: string) => new Error(`invalid label selector ${JSON.stringify(text)}: ${why} in "${part}"`);
  const key = (k: string) => {
    if (!KEY.test(k)) throw bad(`${JSON.stringify(k)} is not a label key`);
    return k;
  };
  const value = (v: string) => {
    if (!VALUE.test(v) || v.length > 63) throw bad(`${JSON.stringify(v)} is not a label value`);
    return v;
  };
  const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(part);
  if (set) {
    const values = (set[3] as string).split(",").map((v) => value(v.trim()));
    return { key: key(set[1] as string), op: set[2] as "in" | "notin", values };
  }
  const eq = /^([^!=\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part);
  if (eq) {
    const values = [value(eq[3] as string)];
    return { key: key(eq[1] as string), op: eq[2] === "!=" ? "notin" : "in", values };
  }
  if (part.startsWith("!")) return { key: key(part.slice(1).trim()), op: "!exists" };
  if (part !== "") return { key: key(part), op: "exists" };
  throw bad("an empty requirement");
}

export function parseSelector(text: string): Selector {
  const requirements = text.trim() === "" ? [] : requirementsOf(text).map((p) => parseRequirement(p, text));
  return {
    text: text.trim(),
    matches(labels) {
      const l = labels ?? {};
      return requirements.every((r) => {
        const has = Object.hasOwn(l, r.key);
        if (!("values" in r)) return r.op === "exists" ? has : !has;
        const listed = has && r.values.includes(l[r.key] as string);
        return r.op === "in" ? listed : !listed;
      });
    },
  };
}
