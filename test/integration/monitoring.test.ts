// What the dashboard and the alert rules query is what the operator exports: the operator runs a
// convoy on the real apiserver, /metrics is scraped, and every metric name in every dashboard
// query and every alert expression is one of the exported families. The scrape also shows the
// labels stock dashboards and multi-namespace setups rely on.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { Operator } from "../../src/controller/operator.ts";
import { Crew } from "../support/crew.ts";
import { adminHttp, convoyManifest, create, startTestOperator, townManifest } from "../support/gastown.ts";
import { createNamespace, kubeConfig, waitFor } from "../support/kube.ts";
import { exportedFamilies, isExported, metricNames } from "../support/promql.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const FILES = join(ROOT, "charts", "gastown-operator", "files");
const http = adminHttp();
let ns: string;
let operator: Operator;
let crew: Crew;
let exposition: string;

beforeAll(async () => {
  ns = await createNamespace("monitoring");
  operator = await startTestOperator(ns);
  crew = new Crew(kubeConfig(), ns).start();
  await create(http, ns, townManifest("gt"));
  await create(http, ns, convoyManifest("c", "gt", [{ name: "a" }]));
  await waitFor(
    kubeConfig(),
    { apiVersion: "gastown.dev/v1alpha1", kind: "Convoy", namespace: ns, name: "c" },
    (c) => (c as { status?: { phase?: string } } | undefined)?.status?.phase === "Landed",
    { description: "convoy c to land", timeoutMs: 90_000 },
  );
  const res = await fetch(`http://127.0.0.1:${operator.port}/metrics`);
  exposition = await res.text();
});

afterAll(async () => {
  await crew?.stop();
  await operator?.stop();
});

const dashboard = JSON.parse(readFileSync(join(FILES, "grafana-dashboard.json"), "utf8")) as {
  panels: { title: string; targets?: { expr: string }[] }[];
  templating: { list: { name: string; definition?: string }[] };
};
const queries: [string, string][] = [
  ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => [`panel "${p.title}"`, t.expr] as [string, string])),
  ...dashboard.templating.list
    .filter((v) => v.definition)
    .map(
      (v) =>
        [`variable ${v.name}`, (v.definition as string).replace(/^label_values\((.*),\s*\w+\)$/, "$1")] as [
          string,
          string,
        ],
    ),
];
const alerts = (
  parse(readFileSync(join(FILES, "prometheus-rules.yaml"), "utf8")) as {
    groups: { rules: { alert: string; expr: string }[] }[];
  }
).groups.flatMap((g) => g.rules.map((r) => [`alert ${r.alert}`, r.expr] as [string, string]));

describe("every metric the dashboard and the alerts name is exported", () => {
  it.each([...queries, ...alerts])("%s", (_, expr) => {
    const families = exportedFamilies(exposition);
    const names = metricNames(expr);
    expect(names.length, expr).toBeGreaterThan(0);
    for (const name of names) expect(isExported(name, families), `${name} in ${expr}`).toBe(true);
  });
});

describe("the scrape", () => {
  const lines = () => exposition.split("\n").filter((l) => l.startsWith("gastown_"));

  it("labels every per-town gastown_* series with its namespace", () => {
    const perTown = lines().filter((l) => l.includes('town="'));
    expect(perTown.length).toBeGreaterThan(10);
    for (const l of perTown) expect(l, l).toContain(`namespace="${ns}"`);
  });

  it("sets gastown_agents by phase and the town's conditions", () => {
    expect(exposition).toMatch(new RegExp(`gastown_agents\\{namespace="${ns}",town="gt",phase="Idle"\\} [1-9]`));
    expect(exposition).toContain(
      `gastown_town_condition{namespace="${ns}",town="gt",type="Ready",status="True",reason="Reconciled"} 1`,
    );
  });

  it("labels workqueue_* with controller and exports the panic and terminal-error counters at 0", () => {
    expect(exposition).toMatch(/workqueue_adds_total\{name="town",controller="town"\} [1-9]/);
    expect(exposition).toContain('controller_runtime_reconcile_panics_total{controller="town"} 0');
    expect(exposition).toContain('controller_runtime_terminal_reconcile_errors_total{controller="town"} 0');
  });

  it("counts the API client's requests as client-go does (rest_client_requests_total by code, method, host)", () => {
    const host = new URL(kubeConfig().getCurrentCluster()?.server ?? "").host;
    const series = (code: string, method: string) =>
      new RegExp(`^rest_client_requests_total\\{code="${code}",method="${method}",host="${host}"\\} ([0-9]+)$`, "m");
    // Lists and watches of the caches, the convoy's status and its bead's creation.
    const expected: [string, string][] = [
      ["200", "GET"],
      ["200", "PATCH"],
      ["201", "POST"],
    ];
    for (const [code, method] of expected)
      expect(Number(series(code, method).exec(exposition)?.[1] ?? 0), `${code} ${method}`).toBeGreaterThan(0);
  });
});
