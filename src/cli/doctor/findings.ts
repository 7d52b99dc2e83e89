// What a doctor check returns: one finding per claim, saying what is wrong and how to fix it.
// Checks only read; a check that cannot look (no access) says so as a warning instead of passing.
import { KubeApiError } from "../../controller/kube-http.ts";
import type { Cli } from "../context.ts";

export type Severity = "ok" | "warn" | "fail";

export interface Finding {
  check: string;
  severity: Severity;
  message: string;
  fix?: string;
}

export const get = <T>(cli: Cli, path: string, query?: Record<string, string>) =>
  cli.http.json<T>({ method: "GET", path, ...(query ? { query } : {}), timeoutMs: 15_000 });

export const statusCode = (e: unknown) => (e instanceof KubeApiError ? e.statusCode : undefined);
