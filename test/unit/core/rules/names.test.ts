// names.ts: deterministic names, so a repeated create is an AlreadyExists, never a duplicate.
import { describe, expect, it } from "vitest";
import {
  featureBranch,
  issueBranch,
  landingName,
  mergeRequestName,
  POLECAT_POOL,
  polecatName,
  refineryName,
  reworkName,
  sessionPodName,
  taskBeadName,
} from "../../../../src/core/names.ts";

describe("polecat names: the themed pool, then numbered rounds", () => {
  it.each([
    [0, "gt-app-toast"],
    [1, "gt-app-maple"],
    [29, "gt-app-reed"],
    [30, "gt-app-toast-2"],
    [31, "gt-app-maple-2"],
    [61, "gt-app-maple-3"],
  ])("index %i → %s", (index, name) => {
    expect(polecatName("gt", "app", index)).toBe(name);
  });

  it("the pool has 30 distinct DNS-1123 names", () => {
    expect(new Set(POLECAT_POOL).size).toBe(30);
    for (const n of POLECAT_POOL) expect(n).toMatch(/^[a-z]+$/);
  });
});

describe("other names", () => {
  it.each([
    ["refinery", refineryName("gt", "app"), "gt-app-refinery"],
    ["merge request", mergeRequestName("x", 2), "x-mr-2"],
    ["rework", reworkName("x-mr-2", 1), "x-mr-2-rework-1"],
    ["landing", landingName("c", 3), "c-landing-3"],
    ["task bead", taskBeadName("c", "a"), "c-a"],
    ["session pod", sessionPodName("gt-app-toast", 4), "gt-app-toast-4"],
    ["issue branch", issueBranch("app", "x"), "gt/app/x"],
    ["feature branch", featureBranch("c"), "convoy/c"],
  ])("%s: %s", (_what, actual, expected) => {
    expect(actual).toBe(expected);
  });
});
