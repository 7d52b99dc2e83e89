// The e2e-kind leak check: what counts as left behind between two snapshots of the host.
import { describe, expect, it } from "vitest";
import { type HostState, leftovers } from "../../e2e-kind/support/host-state.ts";

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

  it("does not count what was there before, nor what went away", () => {
    const before = { ...clean, processes: { "300": "/usr/bin/containerd" }, paths: { "/lib/modules": true } };
    const after = { ...clean, processes: { "300": "/usr/bin/containerd" }, paths: { "/lib/modules": true } };
    expect(leftovers(before, after, STATE_DIR)).toEqual([]);
  });
});
