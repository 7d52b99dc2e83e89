// How gt run says why a session failed: git's own message classified, one JSON line written.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { gitFailure, writeTermination } from "../../../src/agent/termination.ts";
import { parseTermination } from "../../../src/runtime/session-termination.ts";

describe("gitFailure", () => {
  it.each([
    {
      message: "fatal: Authentication failed for 'https://git.example.com/app.git/'",
      reason: "GitAuthFailed",
      kind: "Configuration",
    },
    {
      message: "fatal: could not read Username for 'https://git.example.com': terminal prompts disabled",
      reason: "GitAuthFailed",
      kind: "Configuration",
    },
    {
      message: "fatal: repository 'https://git.example.com/nope.git/' not found",
      reason: "RepositoryNotFound",
      kind: "Configuration",
    },
    {
      message: "fatal: repository '/nonexistent/app.git' does not exist",
      reason: "RepositoryNotFound",
      kind: "Configuration",
    },
    {
      message: "fatal: '/repos/app.git' does not appear to be a git repository",
      reason: "RepositoryNotFound",
      kind: "Configuration",
    },
    { message: "fatal: couldn't find remote ref convoy/c", reason: "BranchNotFound", kind: "Configuration" },
    {
      message: "fatal: unable to access 'https://git.example.com/': Could not resolve host: git.example.com",
      reason: "GitUnreachable",
      kind: "Transient",
    },
    { message: "fatal: the remote end hung up unexpectedly", reason: "GitFailed", kind: "Transient" },
  ])("$reason: $message", ({ message, reason, kind }) => {
    expect(gitFailure(message)).toEqual({ reason, kind, message });
  });
});

describe("writeTermination", () => {
  it("writes one JSON line the runtimes read back", () => {
    const path = join(mkdtempSync(join(tmpdir(), "gt-term-")), "termination-log");
    writeTermination({ reason: "GitAuthFailed", kind: "Configuration", message: "no" }, { GT_TERMINATION_LOG: path });
    expect(parseTermination(readFileSync(path, "utf8"))).toEqual({
      reason: "GitAuthFailed",
      kind: "Configuration",
      message: "no",
    });
  });

  it("outside a pod or the process runtime it writes nothing and does not throw", () => {
    expect(() =>
      writeTermination({ reason: "X", kind: "Transient", message: "m" }, { GT_TERMINATION_LOG: "/nonexistent/dir/f" }),
    ).not.toThrow();
  });
});
