// The private Docker engine's pure parts: which capabilities a host lacks, the runc wrapper that
// drops them (run for real against a stand-in runc), and finding mounts left under a directory.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { capabilityNames, missingCapabilities } from "../../../hack/docker/capabilities.ts";
import { dockerdArgs, runcWrapperScript } from "../../../hack/docker/daemon-config.ts";
import { mountsUnder } from "../../../hack/docker/engine.ts";

const NAMES = capabilityNames(40);

describe("missingCapabilities", () => {
  it("names the capabilities outside the bounding set", () => {
    // This kind of machine: every capability up to 40 but CAP_SYS_RESOURCE (24).
    expect(missingCapabilities("Name:\tx\nCapBnd:\t000001fffeffffff\n", NAMES)).toEqual(["CAP_SYS_RESOURCE"]);
    expect(missingCapabilities("CapBnd:\t000001ffffffffff\n", NAMES)).toEqual([]);
    expect(missingCapabilities("CapBnd:\t000001fffefffffe\n", NAMES)).toEqual(["CAP_CHOWN", "CAP_SYS_RESOURCE"]);
  });

  it("counts only the capabilities the kernel has", () => {
    expect(capabilityNames(40)).toHaveLength(41);
    expect(capabilityNames(40)[40]).toBe("CAP_CHECKPOINT_RESTORE");
    expect(capabilityNames(42)[42]).toBe("CAP_42");
    expect(missingCapabilities("CapBnd:\t0000000000ffffff\n", capabilityNames(25))).toEqual([
      "CAP_SYS_RESOURCE",
      "CAP_SYS_TIME",
    ]);
  });

  it("fails on a status without CapBnd", () => {
    expect(() => missingCapabilities("Name:\tx\n", NAMES)).toThrow(/CapBnd/);
  });
});

describe("the runc wrapper", () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** The wrapper in front of a stand-in runc that records its arguments; run() returns them. */
  function wrapper(dropped: string[]): (args: string[]) => string {
    dir = mkdtempSync(join(tmpdir(), "runc-wrapper-"));
    const runc = join(dir, "runc");
    writeFileSync(runc, `#!/bin/sh\necho "$@" > '${dir}/args'\n`);
    writeFileSync(join(dir, "wrapper"), runcWrapperScript(runc, dropped));
    chmodSync(runc, 0o755);
    chmodSync(join(dir, "wrapper"), 0o755);
    return (args) => {
      execFileSync(join(dir, "wrapper"), args);
      return readFileSync(join(dir, "args"), "utf8").trim();
    };
  }

  it("drops the capabilities from the bundle's config.json on create, wherever they are in a list", () => {
    const run = wrapper(["CAP_SYS_RESOURCE", "CAP_SYS_TIME"]);
    const caps = ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_KILL", "CAP_SYS_TIME"];
    mkdirSync(join(dir, "bundle"));
    writeFileSync(
      join(dir, "bundle", "config.json"),
      JSON.stringify({
        process: {
          env: ["CAP_SYS_RESOURCE=keep-this-env-value"],
          capabilities: { bounding: caps, effective: caps, ambient: [], inheritable: ["CAP_SYS_RESOURCE"] },
        },
      }),
    );
    // A global flag's value that looks like a subcommand must not fool it.
    const args = ["--root", "/run/x", "--log", "create", "--log-format", "json", "create"];
    const passed = run([...args, "--bundle", join(dir, "bundle"), "ctr-1"]);
    const edited = JSON.parse(readFileSync(join(dir, "bundle", "config.json"), "utf8"));
    expect(edited.process.capabilities).toEqual({
      bounding: ["CAP_CHOWN", "CAP_KILL"],
      effective: ["CAP_CHOWN", "CAP_KILL"],
      ambient: [],
      inheritable: [],
    });
    // Only capability list elements change; runc gets the arguments as they were.
    expect(edited.process.env).toEqual(["CAP_SYS_RESOURCE=keep-this-env-value"]);
    expect(passed).toBe([...args, "--bundle", join(dir, "bundle"), "ctr-1"].join(" "));
  });

  it("drops them from the process spec on exec, and passes other subcommands straight through", () => {
    const run = wrapper(["CAP_SYS_RESOURCE"]);
    const process = join(dir, "process.json");
    writeFileSync(process, JSON.stringify({ capabilities: { bounding: ["CAP_SYS_RESOURCE"] } }));
    run(["exec", "--process", process, "--detach", "ctr-1"]);
    expect(JSON.parse(readFileSync(process, "utf8"))).toEqual({ capabilities: { bounding: [] } });
    expect(run(["--root", dir, "state", "ctr-1"])).toBe(`--root ${dir} state ctr-1`);
  });
});

describe("the private dockerd", () => {
  it("changes nothing on the host's network", () => {
    const args = dockerdArgs({ data: "/d", exec: "/e", socket: "/s.sock", pid: "/p", config: "/c.json" });
    for (const flag of ["--iptables=false", "--ip-forward=false", "--ip-masq=false", "--bridge=none"]) {
      expect(args).toContain(flag);
    }
    expect(args).toContain("--host=unix:///s.sock");
  });
});

describe("mountsUnder", () => {
  it("finds mount points at or below a directory, decoding mountinfo's octal escapes", () => {
    const info = [
      "22 1 0:21 / / rw - ext4 /dev/vda rw",
      "47 27 0:4 net:[4026531833] /w/.run/docker/exec/netns/default rw - nsfs nsfs rw",
      "48 27 0:4 / /w/.run/docker/data rw - ext4 /dev/vda rw",
      "49 27 0:4 / /w/.run/docker-other rw - ext4 /dev/vda rw",
      "50 27 0:4 / /w/.run/docker/with\\040space rw - tmpfs tmpfs rw",
    ].join("\n");
    expect(mountsUnder("/w/.run/docker", info)).toEqual([
      "/w/.run/docker/exec/netns/default",
      "/w/.run/docker/data",
      "/w/.run/docker/with space",
    ]);
  });
});
