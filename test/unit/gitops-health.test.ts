// The Argo CD health scripts against their fixtures, in Argo CD's own layout
// (manifests/argocd/resource_customizations/<group>/<kind>/{health.lua,health_test.yaml,testdata/}),
// run by health-lua in the sandbox Argo CD gives argocd-cm scripts. The fixtures are real objects
// captured from the local control plane (test/integration/gitops-health.test.ts). The same objects
// through kstatus: what Flux's `wait: true` would conclude about each.
import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const ROOT = join(import.meta.dirname, "..", "..");
const DIR = join(ROOT, "manifests", "argocd", "resource_customizations");
const BIN = join(ROOT, "hack", "bin");

function run(command: string, args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) =>
    execFile(join(BIN, command), args, (err, stdout) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout }),
    ),
  );
}

interface HealthTest {
  inputPath: string;
  healthStatus: { status: string; message: string };
}
const kinds = ["Town", "Convoy", "Bead", "Agent"] as const;
const tests = (kind: string) =>
  (parse(readFileSync(join(DIR, "gastown.dev", kind, "health_test.yaml"), "utf8")) as { tests: HealthTest[] }).tests;

describe("Argo CD health scripts", () => {
  it("pass every fixture of every kind under health-lua", { timeout: 60_000 }, async () => {
    const { code, stdout } = await run("health-lua", ["test", DIR]);
    expect(stdout).toMatch(/\n\d+ passed, 0 failed\n$/);
    expect(code, stdout).toBe(0);
  });

  it("exist for the four kinds, with no fixture left out of health_test.yaml", () => {
    expect(readdirSync(join(DIR, "gastown.dev")).sort()).toEqual([...kinds].sort());
    for (const kind of kinds) {
      const listed = tests(kind).map((t) => t.inputPath);
      const files = readdirSync(join(DIR, "gastown.dev", kind, "testdata")).map((f) => `testdata/${f}`);
      expect(files.sort(), kind).toEqual([...listed].sort());
    }
  });

  it.each([
    ["Convoy", ["Healthy", "Degraded", "Progressing", "Suspended"]],
    ["Bead", ["Healthy", "Degraded", "Progressing", "Suspended"]],
    ["Town", ["Healthy", "Suspended"]],
    ["Agent", ["Healthy", "Degraded"]],
  ])("cover the phases of a %s: %j", (kind, statuses) => {
    const seen = new Set(tests(kind).map((t) => t.healthStatus.status));
    for (const s of statuses) expect(seen, `${kind} has no ${s} fixture`).toContain(s);
  });

  it("do not rely on libraries argocd-cm scripts lack (string, os, io)", () => {
    for (const kind of kinds) {
      const script = readFileSync(join(DIR, "gastown.dev", kind, "health.lua"), "utf8");
      expect(script, kind).not.toMatch(/\b(string|os|io|require)\s*[.(]/);
      expect(script, kind).not.toMatch(/:\s*(format|find|match|sub|gsub|len|upper|lower)\s*\(/);
    }
  });
});

describe("kstatus on the same objects (Flux wait)", () => {
  // Healthy objects are Current and Degraded ones Failed, so Flux agrees with Argo CD there; but a
  // Progressing or Suspended convoy is InProgress to kstatus for as long as it runs, which is why
  // docs/gitops.md gives Flux healthCheckExprs for convoys.
  const expected: Record<string, string[]> = {
    Healthy: ["Current"],
    Degraded: ["Failed"],
    Progressing: ["InProgress"],
    Suspended: ["InProgress", "Current"],
  };
  it.each(kinds.flatMap((k) => tests(k).map((t) => [`${k} ${t.inputPath}`, k, t] as const)))(
    "%s",
    { timeout: 30_000 },
    async (_, kind, t) => {
      const { code, stdout } = await run("kstatus", [join(DIR, "gastown.dev", kind, t.inputPath)]);
      expect(code, stdout).toBe(0);
      const verdict = JSON.parse(stdout) as { status: string };
      expect(expected[t.healthStatus.status]).toContain(verdict.status);
    },
  );
});
