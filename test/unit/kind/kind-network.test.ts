// The kind network's subnet: one that no host route and no other network covers, so that two
// checkouts' private engines never give the host two bridges with the same address.
import { describe, expect, it } from "vitest";
import { freeSubnet, hostRoutes, parseSubnet } from "../../e2e-kind/support/kind-network.ts";

// /proc/net/route as the kernel writes it: a default route, eth0's 192.0.2.0/24, a bridge on 172.20.0.0/16.
const TABLE = `Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
eth0	00000000	010200C0	0003	0	0	0	00000000	0	0	0
eth0	000200C0	00000000	0001	0	0	0	00FFFFFF	0	0	0
br-3ebd23c279f2	000014AC	00000000	0001	0	0	0	0000FFFF	0	0	0
`;

describe("the kind network's subnet", () => {
  it("reads the host's routes, leaving out the default one", () => {
    expect(hostRoutes(TABLE)).toEqual([parseSubnet("192.0.2.0/24"), parseSubnet("172.20.0.0/16")]);
  });

  it("never picks a routed or taken subnet, and depends on the checkout", () => {
    const taken = [...hostRoutes(TABLE), parseSubnet("172.21.0.0/16")!, parseSubnet("172.22.5.0/24")!];
    const picks = new Set<string>();
    for (const seed of ["/work/main", "/tmp/ci1", "/work/wt/kindcli", "/a", "/b", "/c"]) {
      const free = freeSubnet(seed, taken);
      expect(free?.subnet).toMatch(/^172\.(2[3-9]|3[01])\.0\.0\/16$/);
      expect(free?.gateway).toBe(free?.subnet.replace("0.0/16", "0.1"));
      picks.add(free!.subnet);
    }
    expect(picks.size).toBeGreaterThan(1);
  });

  it("gives up when every candidate is routed (a 172.16.0.0/12 route covers them all)", () => {
    expect(freeSubnet("/work/main", [parseSubnet("172.16.0.0/12")!])).toBeUndefined();
  });
});
