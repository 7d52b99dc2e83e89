import { describe, expect, it } from "vitest";
import { createLogger, forObject, forTown, scrub } from "../../../src/controller/logger.ts";

function capture(options: Parameters<typeof createLogger>[0] = {}) {
  const lines: string[] = [];
  const logger = createLogger({ ...options, destination: { write: (line: string) => lines.push(line) } });
  return { logger, lines, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const TOKEN = "eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXRva2Vu.sig";

describe("logger", () => {
  it("never writes a token, password, authorization header or Secret payload, at any depth", () => {
    const { logger, lines } = capture();
    logger.info({ token: TOKEN }, "top level");
    logger.info({ request: { headers: { authorization: `Bearer ${TOKEN}` } } }, "nested header");
    logger.info({ kubeconfig: { users: [{ user: { bearerToken: TOKEN } }] } }, "inside an array");
    logger.info({ action: { target: { spec: { password: TOKEN } } } }, "deep");
    logger.info({
      object: { apiVersion: "v1", kind: "Secret", data: { token: btoa(TOKEN) }, stringData: { k: TOKEN } },
    });
    forTown(logger, "t").child({ authorization: TOKEN }).warn("binding");
    expect(lines).toHaveLength(6);
    for (const line of lines) {
      expect(line).not.toContain(TOKEN);
      expect(line).not.toContain(btoa(TOKEN));
    }
    expect(lines.join("\n")).toContain("[REDACTED]");
  });

  it("keeps ordinary data, including a ConfigMap's data, and does not modify the logged object", () => {
    const { logger, records } = capture();
    const configMap = { kind: "ConfigMap", data: { mode: "fast" } };
    logger.info({ configMap, count: 3 }, "kept");
    expect(records()[0]).toMatchObject({ configMap: { data: { mode: "fast" } }, count: 3, msg: "kept" });
    const secret = { kind: "Secret", data: { a: "b" } };
    scrub({ secret });
    expect(secret.data).toEqual({ a: "b" });
  });

  it("writes JSON with the component, level label and child bindings for town and object", () => {
    const { logger, records } = capture({ component: "reconciler" });
    forObject(forTown(logger, "gastown"), { kind: "Bead", namespace: "ns", name: "gt-1" }).info("dispatched");
    expect(records()[0]).toMatchObject({
      level: "info",
      component: "reconciler",
      town: "gastown",
      object: "Bead/ns/gt-1",
      msg: "dispatched",
    });
  });

  it("takes the level from the option, then LOG_LEVEL, and falls back to info on nonsense", () => {
    const fromEnv = capture({ env: { LOG_LEVEL: "warn" } });
    fromEnv.logger.info("hidden");
    fromEnv.logger.warn("shown");
    expect(fromEnv.records().map((r) => r.msg)).toEqual(["shown"]);

    const fromOption = capture({ level: "debug", env: { LOG_LEVEL: "error" } });
    fromOption.logger.debug("debug shown");
    expect(fromOption.records().map((r) => r.msg)).toEqual(["debug shown"]);

    const nonsense = capture({ env: { LOG_LEVEL: "loud" } });
    nonsense.logger.info("info shown");
    expect(nonsense.records()).toEqual([
      expect.objectContaining({ level: "warn", requested: "loud" }),
      expect.objectContaining({ msg: "info shown" }),
    ]);
  });
});
