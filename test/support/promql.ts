// The metric names a PromQL expression reads, for checking dashboards and alert rules against
// what /metrics really exports. Not a PromQL parser: it removes what cannot be a metric name
// (strings, label matchers, grouping clauses, ranges, functions, keywords, numbers) and keeps the
// identifiers left over. Shared by the monitoring tests.

const KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "and",
  "or",
  "unless",
  "offset",
  "inf",
  "nan",
]);

export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\boffset\s+\S+/g, " ")
    .replace(/(?<![A-Za-z0-9_:])[0-9][0-9.e+-]*[a-z]*/g, " ");
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = m[0];
    const after = stripped.slice((m.index ?? 0) + word.length).trimStart();
    if (after.startsWith("(")) continue; // a function
    if (KEYWORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return [...names];
}

/** The metric families of a Prometheus text exposition (its # TYPE lines), with their types. */
export function exportedFamilies(exposition: string): Map<string, string> {
  const families = new Map<string, string>();
  for (const m of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) families.set(m[1] as string, m[2] as string);
  return families;
}

/** Whether a sample name belongs to an exported family (histograms: _bucket, _sum, _count). */
export function isExported(name: string, families: Map<string, string>): boolean {
  if (families.has(name)) return true;
  const base = name.replace(/_(bucket|sum|count)$/, "");
  return base !== name && (families.get(base) === "histogram" || families.get(base) === "summary");
}
