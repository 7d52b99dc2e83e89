// The docker network kind puts its node on, and the host's address on it. Two checkouts may each
// run a private engine side by side; each engine allocates bridge subnets on its own, so both
// would hand out the same first subnet (and kind the same IPv6 one, derived from the network's
// name), and the host would have two bridges with one address: replies to one cluster's node, and
// connections to a host service on the gateway, would go to whichever bridge the kernel routes
// first. So the network is created here, before kind would, on an IPv4 subnet no host route
// covers (kind uses a network that exists as it is).
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

export const KIND_NETWORK = "kind";

/** Subnets tried, 172.20–172.31.0.0/16: docker's own pools hand out 172.17–19 first. */
const SECOND_OCTETS = Array.from({ length: 12 }, (_, i) => 20 + i);

interface Route {
  dest: number;
  mask: number;
}

const ipv4 = (a: number, b: number, c: number, d: number) => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;

/** /proc/net/route: Destination and Mask are little-endian hex. */
export function hostRoutes(table = readFileSync("/proc/net/route", "utf8")): Route[] {
  const le = (hex: string) => {
    const n = Number.parseInt(hex, 16);
    return ipv4(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  };
  return table
    .split("\n")
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 8)
    .map((f) => ({ dest: le(f[1]!), mask: le(f[7]!) }))
    .filter((r) => r.mask !== 0); // the default route covers everything and says nothing
}

const overlaps = (a: Route, b: Route) => {
  const mask = (a.mask & b.mask) >>> 0;
  return (a.dest & mask) >>> 0 === (b.dest & mask) >>> 0;
};

/**
 * A 172.x.0.0/16 that overlaps none of `taken`; the first one tried depends on `seed` (the
 * checkout), so two checkouts starting at once do not pick the same.
 */
export function freeSubnet(seed: string, taken: Route[]): { subnet: string; gateway: string } | undefined {
  const start = createHash("sha256").update(seed).digest()[0]! % SECOND_OCTETS.length;
  for (let i = 0; i < SECOND_OCTETS.length; i++) {
    const b = SECOND_OCTETS[(start + i) % SECOND_OCTETS.length]!;
    const candidate = { dest: ipv4(172, b, 0, 0), mask: ipv4(255, 255, 0, 0) };
    if (!taken.some((r) => overlaps(r, candidate))) return { subnet: `172.${b}.0.0/16`, gateway: `172.${b}.0.1` };
  }
  return undefined;
}

/** "172.20.0.0/16" → a Route. */
export function parseSubnet(cidr: string): Route | undefined {
  const m = cidr.match(/^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/);
  if (!m) return undefined;
  const bits = Number(m[5]);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return { dest: (ipv4(Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])) & mask) >>> 0, mask };
}
