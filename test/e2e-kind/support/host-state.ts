// What a kind run may change on the host, captured before and after: the e2e-kind teardown fails
// when anything is left (containers, clusters, our dockerd and its children, mounts, network
// interfaces, routes, firewall rules, forwarding sysctls, directories docker creates at fixed
// paths). Reading is shelled out where the kernel has no file for it (iptables).
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface HostState {
  /** pid → command line, for processes of the Docker/kind family or under our state dir. */
  processes: Record<string, string>;
  mounts: string[];
  interfaces: string[];
  routes: string[];
  firewall: string[];
  sysctls: Record<string, string>;
  paths: Record<string, boolean>;
}

/** Paths docker or kind create on the host when they are missing (bind-mount sources, sockets). */
export const WATCHED_PATHS = [
  "/lib/modules",
  "/run/containerd",
  "/run/docker",
  "/run/mount",
  "/var/lib/docker",
  "/etc/docker",
];
const SYSCTLS = [
  "net/ipv4/ip_forward",
  "net/ipv6/conf/all/forwarding",
  "net/bridge/bridge-nf-call-iptables",
  "net/bridge/bridge-nf-call-ip6tables",
];
const FAMILY = /(^|\/)(dockerd|containerd|containerd-shim[\w-]*|docker-proxy|runc|kind)$/;

export function captureHostState(stateDir: string): HostState {
  return {
    processes: ourProcesses(stateDir),
    mounts: readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .map((l) => l.split(" ")[4])
      .filter((m): m is string => m !== undefined && m !== ""),
    interfaces: readdirSync("/sys/class/net").sort(),
    routes: [
      // Iface Destination Gateway Flags RefCnt Use Metric Mask MTU Window IRTT
      ...lines("/proc/net/route")
        .slice(1)
        .map((r) => withoutColumns(r, [4, 5])),
      // dest plen src plen next-hop metric refcnt use flags iface
      ...lines("/proc/net/ipv6_route").map((r) => withoutColumns(r, [6, 7])),
    ],
    firewall: firewallRules(),
    sysctls: Object.fromEntries(
      SYSCTLS.filter((s) => existsSync(join("/proc/sys", s))).map((s) => [
        s,
        readFileSync(join("/proc/sys", s), "utf8").trim(),
      ]),
    ),
    paths: Object.fromEntries(WATCHED_PATHS.map((p) => [p, existsSync(p)])),
  };
}

/** A /proc table row without its usage counters, which change by themselves. */
function withoutColumns(row: string, drop: number[]): string {
  return row
    .trim()
    .split(/\s+/)
    .filter((_, i) => !drop.includes(i))
    .join(" ");
}

function lines(path: string): string[] {
  try {
    return readFileSync(path, "utf8").split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

function ourProcesses(stateDir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
      const exe = cmdline[0] ?? "";
      const text = cmdline.join(" ");
      if (FAMILY.test(exe) || text.includes(stateDir)) out[pid] = text;
    } catch {
      // Gone between readdir and read.
    }
  }
  return out;
}

/** Every rule of every iptables backend installed (counters dropped: they change by themselves). */
function firewallRules(): string[] {
  const rules: string[] = [];
  for (const save of ["iptables-legacy-save", "iptables-nft-save", "ip6tables-legacy-save", "ip6tables-nft-save"]) {
    try {
      const out = execFileSync(save, [], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 10_000 });
      for (const line of out.split("\n")) {
        if (line.startsWith("#") || line.trim() === "") continue;
        rules.push(`${save}: ${line.replace(/\[\d+:\d+\]/g, "")}`);
      }
    } catch {
      // Not installed, or the kernel lacks that backend: nothing of ours can be there either.
    }
  }
  return rules;
}

/**
 * What `after` has that `before` had not, in words a person can act on. Mounts of other private
 * engines (another checkout's .run/docker) are not ours and are left out.
 */
export function leftovers(before: HostState, after: HostState, stateDir: string): string[] {
  const added = (a: string[], b: string[]) => {
    const had = new Set(a);
    return b.filter((x) => !had.has(x));
  };
  const found: string[] = [];
  for (const [pid, cmd] of Object.entries(after.processes)) {
    if (before.processes[pid] !== cmd) found.push(`process ${pid}: ${cmd}`);
  }
  for (const m of added(before.mounts, after.mounts)) {
    if (m.includes("/.run/docker") && !m.startsWith(stateDir)) continue;
    found.push(`mount ${m}`);
  }
  for (const i of added(before.interfaces, after.interfaces)) found.push(`network interface ${i}`);
  for (const r of added(before.routes, after.routes)) found.push(`route ${r}`);
  for (const r of added(before.firewall, after.firewall)) found.push(`firewall rule ${r}`);
  for (const r of added(after.firewall, before.firewall)) found.push(`firewall rule removed: ${r}`);
  for (const [s, v] of Object.entries(after.sysctls)) {
    // One that appeared belongs to a kernel module loaded meanwhile; modules are not unloaded.
    if (before.sysctls[s] !== undefined && before.sysctls[s] !== v)
      found.push(`sysctl ${s}: ${before.sysctls[s]} → ${v}`);
  }
  for (const [p, exists] of Object.entries(after.paths)) {
    if (exists && !before.paths[p]) found.push(`path ${p} was created`);
  }
  return found;
}
