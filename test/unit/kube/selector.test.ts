// Label selectors as kubectl and the API write them, parsed and matched locally.
import { describe, expect, it } from "vitest";
import { parseSelector } from "../../../src/kube/selector.ts";

describe("label selectors", () => {
  it.each([
    { selector: "team=a", labels: { team: "a" }, match: true },
    { selector: "team==a", labels: { team: "b" }, match: false },
    { selector: "team!=a", labels: {}, match: true },
    { selector: "team in (a, b),tier", labels: { team: "b", tier: "x" }, match: true },
    { selector: "team in (a,b), tier", labels: { team: "b" }, match: false },
    { selector: "team notin (a)", labels: { team: "c" }, match: true },
    { selector: "!legacy", labels: { legacy: "" }, match: false },
    { selector: "gastown.dev/shard=eu-1", labels: { "gastown.dev/shard": "eu-1" }, match: true },
    { selector: "", labels: { any: "thing" }, match: true },
  ] as { selector: string; labels: Record<string, string>; match: boolean }[])(
    "$selector on $labels: $match",
    ({ selector, labels, match }) => {
      expect(parseSelector(selector).matches(labels)).toBe(match);
    },
  );

  it("names the mistake", () => {
    expect(() => parseSelector("team=a,=b")).toThrow('invalid label selector "team=a,=b"');
    expect(() => parseSelector("Team Name=a")).toThrow("is not a label key");
    expect(() => parseSelector("team=a b")).toThrow();
    expect(() => parseSelector("team in (a,-b)")).toThrow('"-b" is not a label value');
  });
});
