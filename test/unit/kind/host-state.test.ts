// The e2e-kind leak check: what counts as left behind between two snapshots of the host.
import { describe, expect, it } from "vitest";
import { engineDirs, type HostState, leftovers } from "../../e2e-kind/support/host-state.ts";

const STATE_DIR = "/w/kind/.run/docker";

const clean: HostState = {
  processes: { "100": "/usr/sbin/sshd" },
  mounts: ["/", "/proc", "/sys/fs/cgroup/memory"],
  interfaces: ["eth0", "lo"],
  routes: ["eth0 00000000 010200C0 0003 0 0 0 00000000 0 0 0"],
  firewall: [],
  sysctls: { "net/ipv4/ip_forward": "0" },
  paths: { "/lib/modules": false, "/run/containerd": false },
};

describe("leftovers", () => {
  it("finds nothing when the host is as it was", () => {
    expect(leftovers(clean, structuredClone(clean), STATE_DIR)).toEqual([]);
  });

  it("names each kind of thing a kind run can leave behind", () => {
    const after: HostState = {
      processes: { ...clean.processes, "200": `/usr/sbin/dockerd --data-root=${STATE_DIR}/data` },
      mounts: [...clean.mounts, `${STATE_DIR}/exec/netns/default`],
      interfaces: [...clean.interfaces, "br-3ebd23c279f2"],
      routes: [...clean.routes, "br-3ebd23c279f2 000012AC 00000000 0001 0 0 0 0000FFFF 0 0 0"],
      firewall: ["iptables-nft-save: -A FORWARD -j DOCKER-USER"],
      sysctls: { "net/ipv4/ip_forward": "1" },
      paths: { "/lib/modules": true, "/run/containerd": false },
    };
    expect(leftovers(clean, after, STATE_DIR)).toEqual([
      `process 200: /usr/sbin/dockerd --data-root=${STATE_DIR}/data`,
      `mount ${STATE_DIR}/exec/netns/default`,
      "network interface br-3ebd23c279f2",
      "route br-3ebd23c279f2 000012AC 00000000 0001 0 0 0 0000FFFF 0 0 0",
      "firewall rule iptables-nft-save: -A FORWARD -j DOCKER-USER",
      "sysctl net/ipv4/ip_forward: 0 → 1",
      "path /lib/modules was created",
    ]);
  });

  it("reports firewall rules removed, and leaves other checkouts' private engines out", () => {
    const before = { ...clean, firewall: ["iptables-nft-save: -A INPUT -j ACCEPT"] };
    const after = { ...clean, mounts: [...clean.mounts, "/w/other/.run/docker/data"] };
    expect(leftovers(before, after, STATE_DIR)).toEqual([
      "firewall rule removed: iptables-nft-save: -A INPUT -j ACCEPT",
    ]);
  });

  it("does not count a path a package installed meanwhile (docker.io ships /etc/docker)", () => {
    const before = { ...clean, paths: { ...clean.paths, "/etc/docker": false } };
    const after = {
      ...clean,
      paths: { ...clean.paths, "/lib/modules": true, "/etc/docker": true },
      packaged: ["/etc/docker"],
    };
    expect(leftovers(before, after, STATE_DIR)).toEqual(["path /lib/modules was created"]);
  });

  it("does not count what was there before, nor what went away", () => {
    const before = { ...clean, processes: { "300": "/usr/bin/containerd" }, paths: { "/lib/modules": true } };
    const after = { ...clean, processes: { "300": "/usr/bin/containerd" }, paths: { "/lib/modules": true } };
    expect(leftovers(before, after, STATE_DIR)).toEqual([]);
  });

  it("leaves out what another checkout's engine runs and creates meanwhile, but not our own bridge", () => {
    const other = "/w/other/.run/docker";
    const after: HostState = {
      ...clean,
      processes: {
        ...clean.processes,
        "400": `/usr/sbin/dockerd --data-root=${other}/data`,
        "401": "/usr/bin/docker-proxy -proto tcp -host-ip 127.0.0.1",
        "402": `/usr/sbin/dockerd --data-root=${STATE_DIR}/data`,
      },
      interfaces: [...clean.interfaces, "br-0ther0000001", "veth1a2b3c", "br-0ur000000001"],
      routes: [
        ...clean.routes,
        "br-0ther0000001 000017AC 00000000 0001 0 0 0 0000FFFF 0 0 0",
        "br-0ur000000001 000014AC 00000000 0001 0 0 0 0000FFFF 0 0 0",
      ],
      paths: { "/lib/modules": true, "/run/containerd": true },
      // 401 is the other dockerd's child; 402 is ours (still running: a leftover).
      foreign: {
        pids: ["400", "401"],
        bridges: ["br-0ther0000001", "br-0ur000000001"],
        masters: { veth1a2b3c: "br-0ther0000001" },
      },
    };
    expect(leftovers(clean, after, STATE_DIR, ["br-0ur000000001"])).toEqual([
      `process 402: /usr/sbin/dockerd --data-root=${STATE_DIR}/data`,
      "network interface br-0ur000000001",
      "route br-0ur000000001 000014AC 00000000 0001 0 0 0 0000FFFF 0 0 0",
    ]);
    // With no other engine running, an unknown bridge and the fixed paths are ours to explain.
    const alone = { ...after, processes: clean.processes, foreign: { ...after.foreign!, pids: [] } };
    expect(leftovers(clean, alone, STATE_DIR, [])).toEqual([
      "network interface br-0ther0000001",
      "network interface veth1a2b3c",
      "network interface br-0ur000000001",
      "route br-0ther0000001 000017AC 00000000 0001 0 0 0 0000FFFF 0 0 0",
      "route br-0ur000000001 000014AC 00000000 0001 0 0 0 0000FFFF 0 0 0",
      "path /lib/modules was created",
      "path /run/containerd was created",
    ]);
  });
});

describe("engineDirs", () => {
  it("finds the private engines a command line or DOCKER_HOST names", () => {
    expect(
      engineDirs("/usr/sbin/dockerd --data-root=/w/kind/.run/docker/data --exec-root=/w/kind/.run/docker/exec"),
    ).toEqual(["/w/kind/.run/docker", "/w/kind/.run/docker"]);
    expect(engineDirs("DOCKER_HOST=unix:///tmp/ci1/.run/docker/docker.sock")).toEqual(["/tmp/ci1/.run/docker"]);
    expect(engineDirs("/usr/bin/docker-proxy -proto tcp -host-ip 127.0.0.1 /w/kind/.run/dockerfile")).toEqual([]);
  });
});
