// The process runtime's per-agent HOME: kept across one agent's sessions, its own to each agent
// and namespace, and emptied for an Agent created again under the same name (a new uid), as a
// deleted Agent's home claim goes with it.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { agentHome } from "../../../src/runtime/process-runtime.ts";

const root = mkdtempSync(join(tmpdir(), "gt-homes-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("the process runtime's agent HOME", () => {
  it("is the same directory for every session of one agent, and keeps what the CLI left there", async () => {
    const first = await agentHome(root, "ns", { name: "gt-app-toast", uid: "u1" });
    writeFileSync(join(first, "transcript.jsonl"), "{}\n");
    const second = await agentHome(root, "ns", { name: "gt-app-toast", uid: "u1" });
    expect(second).toBe(first);
    expect(existsSync(join(second, "transcript.jsonl"))).toBe(true);
  });

  it("is another directory for another agent or namespace: agents never share one", async () => {
    const toast = await agentHome(root, "ns", { name: "gt-app-toast", uid: "u1" });
    const nux = await agentHome(root, "ns", { name: "gt-app-nux", uid: "u2" });
    const elsewhere = await agentHome(root, "other", { name: "gt-app-toast", uid: "u3" });
    expect(new Set([toast, nux, elsewhere]).size).toBe(3);
    for (const d of [nux, elsewhere]) expect(d.startsWith(toast)).toBe(false);
    expect(existsSync(join(nux, "transcript.jsonl"))).toBe(false);
  });

  it("starts empty for an Agent created again under the same name, and the old one's goes", async () => {
    const old = await agentHome(root, "ns", { name: "gt-app-toast", uid: "u1" });
    const renewed = await agentHome(root, "ns", { name: "gt-app-toast", uid: "u9" });
    expect(renewed).not.toBe(old);
    expect(existsSync(old)).toBe(false);
    expect(existsSync(join(renewed, "transcript.jsonl"))).toBe(false);
  });
});
