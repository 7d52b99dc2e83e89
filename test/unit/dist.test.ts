// The operator image's compile step (hack/dist.ts): src/ as plain JavaScript, which runs without
// Node's type stripper ever loading.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDist, compileModule, files } from "../../hack/dist.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const SRC = join(ROOT, "src");

describe("compileModule", () => {
  it("renames relative .ts specifiers of static, side-effect, re-export and dynamic imports", () => {
    const out = compileModule(
      [
        'import { a } from "./a.ts";',
        "import b from '../b/b.ts';",
        'import "./side.ts";',
        'export { c } from "./c.ts";',
        'export * from "../d.ts";',
        'const e = await import("./e.ts");',
        "const f = await import( './f/index.ts' );",
      ].join("\n"),
    );
    expect(out.split("\n")).toEqual([
      'import { a } from "./a.js";',
      "import b from '../b/b.js';",
      'import "./side.js";',
      'export { c } from "./c.js";',
      'export * from "../d.js";',
      'const e = await import("./e.js");',
      "const f = await import( './f/index.js' );",
    ]);
  });

  it("leaves packages, node: modules and .ts names that are not import specifiers as they are", () => {
    const source = [
      'import { z } from "zod";',
      'import { join } from "node:path";',
      'const main = join(import.meta.dirname, "main.ts");',
      'const note = "see from ./x.ts later";',
    ].join("\n");
    expect(compileModule(source)).toBe(source);
  });

  it("erases types in place: type-only imports, annotations and interfaces become blanks, lines stay", () => {
    const source = [
      'import type { T } from "./t.ts";',
      "interface P { x: number }",
      "export const f = (p: P): number => p.x as number;",
    ].join("\n");
    const out = compileModule(source);
    expect(out.split("\n")).toHaveLength(3);
    expect(out).not.toContain("./t.ts");
    expect(out.split("\n")[2]).toMatch(/^export const f = \(p\s*\)\s*=> p\.x\s*;$/);
    expect(out.split("\n").map((l) => l.length)).toEqual(source.split("\n").map((l) => l.length));
  });
});

describe("buildDist over src/", () => {
  // The compiled modules resolve packages as in the image: ROOT's package.json ("type":
  // "module") and node_modules must be their ancestors, so the build goes under ROOT/.run.
  const out = join(ROOT, ".run", "test-dist");
  beforeAll(() => buildDist(SRC, out));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it("compiles every module of src/ to the .js beside its place, and nothing else", () => {
    const want = files(SRC)
      .filter((f) => f.endsWith(".ts"))
      .map((f) => relative(SRC, f).replace(/\.ts$/, ".js"));
    const got = files(out).map((f) => relative(out, f));
    expect(got.sort()).toEqual(want.sort());
  });

  it("leaves no relative import of a .ts file, and every relative import names a file that exists", () => {
    const specifier = /\b(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"'\n]+)["']/g;
    const problems: string[] = [];
    for (const file of files(out).filter((f) => f.endsWith(".js"))) {
      for (const m of readFileSync(file, "utf8").matchAll(specifier)) {
        const target = resolve(dirname(file), m[1] as string);
        // A relative import of a file outside src/ (the CLI reads ../../package.json) resolves
        // from dist/ as from src/: both sit at the top of the tree.
        const inside = !relative(out, target).startsWith("..");
        const resolved = inside ? target : join(ROOT, relative(dirname(out), target));
        if (resolved.endsWith(".ts") || !existsSync(resolved)) problems.push(`${relative(out, file)}: ${m[1]}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it("runs the operator, including its lazily loaded modules, without loading the type stripper", () => {
    const probe = [
      `await import(${JSON.stringify(pathToFileURL(join(out, "controller", "serving-cert.js")).href)});`,
      `await import(${JSON.stringify(pathToFileURL(join(out, "runtime", "process-runtime.js")).href)});`,
      'process.on("exit", () => process.stderr.write(`stripper loaded: ${process.moduleLoadList.some((m) => m.includes("amaro"))}\\n`));',
    ].join("\n");
    const r = spawnSync(
      process.execPath,
      ["--import", `data:text/javascript,${encodeURIComponent(probe)}`, join(out, "main.js"), "--help"],
      { encoding: "utf8" },
    );
    expect(r.stderr).toBe("stripper loaded: false\n");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("Usage: node src/main.ts [flags]");
  });

  it("runs gt, as the agent image does, without loading the type stripper", () => {
    const probe =
      'process.on("exit", () => process.stderr.write("stripper loaded: " + process.moduleLoadList.some((m) => m.includes("amaro")) + "\\n"));';
    const gt = (args: string[], input = "") =>
      spawnSync(
        process.execPath,
        ["--import", `data:text/javascript,${encodeURIComponent(probe)}`, join(out, "agent", "main.js"), ...args],
        { encoding: "utf8", input, env: { PATH: process.env.PATH } },
      );
    const help = gt(["help"]);
    expect(help.stderr).toBe("stripper loaded: false\n");
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("  prime ");
    const hook = gt(["hook", "PostToolUse"], "{}");
    expect(hook.stderr).toBe("stripper loaded: false\n");
    expect(hook.status).toBe(0);
  });
});
