// The alert rules under promtool (check rules, and the unit tests in
// test/monitoring/prometheus-rules.test.yaml), the chart's PrometheusRule carrying exactly that
// file, and the Grafana dashboard's shape. That every metric they name is really exported is
// test/integration/monitoring.test.ts.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { metricNames } from "../support/promql.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const BIN = join(ROOT, "hack", "bin");
const RULES = join(ROOT, "charts", "gastown-operator", "files", "prometheus-rules.yaml");
const DASHBOARD = join(ROOT, "charts", "gastown-operator", "files", "grafana-dashboard.json");

function run(command: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) =>
    execFile(join(BIN, command), args, { cwd: ROOT }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    ),
  );
}

interface Rule {
  alert: string;
  expr: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules = () =>
  (parse(readFileSync(RULES, "utf8")) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);

describe("alert rules", () => {
  // promtool is a large binary; on a loaded two-core machine it can take seconds to start.
  it("pass promtool check rules", { timeout: 60_000 }, async () => {
    const { code, out } = await run("promtool", ["check", "rules", RULES]);
    expect(out).toMatch(/SUCCESS: \d+ rules found/);
    expect(code, out).toBe(0);
  });

  it("pass their promtool unit tests", { timeout: 60_000 }, async () => {
    const { code, out } = await run("promtool", ["test", "rules", "test/monitoring/prometheus-rules.test.yaml"]);
    expect(out).toContain("SUCCESS");
    expect(code, out).toBe(0);
  });

  it("cover what issue 14 asks to alert on, each with a severity, summary and description, and a unit test", () => {
    const tested = readFileSync(join(ROOT, "test", "monitoring", "prometheus-rules.test.yaml"), "utf8");
    const names = rules().map((r) => r.alert);
    for (const required of [
      "GastownInvariantViolated",
      "GastownEscalationUnacknowledged",
      "GastownCircuitBreakerOpen",
      "GastownReconcileErrors",
      "GastownReportLagHigh",
      "GastownSessionsFailingToStart",
    ])
      expect(names).toContain(required);
    for (const r of rules()) {
      expect(["warning", "critical"], r.alert).toContain(r.labels?.severity);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
      expect(r.annotations?.description, r.alert).toBeTruthy();
      expect(tested, `${r.alert} has no promtool test`).toContain(`alertname: ${r.alert}`);
    }
  });

  it("are what the chart's PrometheusRule carries", { timeout: 60_000 }, async () => {
    const { code, out } = await run("helm", [
      "template",
      "x",
      "charts/gastown-operator",
      "--set",
      "metrics.prometheusRule.enabled=true",
      "-s",
      "templates/monitoring.yaml",
    ]);
    expect(code, out).toBe(0);
    const rule = parseAllDocuments(out)
      .map((d) => d.toJS())
      .find((d) => d?.kind === "PrometheusRule");
    expect(rule.spec).toEqual(parse(readFileSync(RULES, "utf8")));
  });
});

describe("Grafana dashboard", () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as {
    uid: string;
    panels: { type: string; title: string; targets?: { expr: string }[]; datasource?: { uid: string } }[];
  };

  it("has a stable uid and a query in every graph panel, on the datasource variable", () => {
    expect(dashboard.uid).toBe("gastown-operator");
    const graphs = dashboard.panels.filter((p) => p.type !== "row");
    expect(graphs.length).toBeGreaterThan(10);
    for (const p of graphs) {
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a template.
      expect(p.datasource?.uid, p.title).toBe("${datasource}");
      for (const t of p.targets ?? []) expect(metricNames(t.expr).length, `${p.title}: ${t.expr}`).toBeGreaterThan(0);
    }
  });

  it("selects towns by namespace and town in every gastown_* query but the API writes", () => {
    for (const p of dashboard.panels) {
      for (const t of p.targets ?? []) {
        if (!/gastown_/.test(t.expr) || /gastown_api_writes_total/.test(t.expr)) continue;
        expect(t.expr, p.title).toContain('namespace=~"$namespace"');
        expect(t.expr, p.title).toContain('town=~"$town"');
      }
    }
  });
});

describe("metricNames (the PromQL reader the tests rely on)", () => {
  it.each([
    ['sum by (phase) (gastown_beads{namespace=~"$namespace"})', ["gastown_beads"]],
    [
      "histogram_quantile(0.99, sum by (le) (rate(gastown_report_lag_seconds_bucket[10m]))) > 60",
      ["gastown_report_lag_seconds_bucket"],
    ],
    ['max(a_total{x="or"}) < 1 or absent(b_status{name="y"})', ["a_total", "b_status"]],
    ["sum(rate(x_total[5m])) * 60 offset 1h", ["x_total"]],
  ])("%s", (expr, names) => {
    expect(metricNames(expr).sort()).toEqual([...names].sort());
  });
});
