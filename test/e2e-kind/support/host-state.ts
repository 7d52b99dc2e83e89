// What a kind run may change on the host, captured before and after: the e2e-kind teardown fails
// when anything is left (containers, clusters, our dockerd and its children, mounts, network
// interfaces, routes, firewall rules, forwarding sysctls, directories docker creates at fixed
// paths). Reading is shelled out where the kernel has no file for it (iptables).
//
// Another checkout may run its own private engine and kind cluster meanwhile (each checkout's
// engine lives under its .run/docker). What that engine accounts for is not ours: processes whose
// command line or DOCKER_HOST, or an ancestor's, names another .run/docker; bridges that our engine
// did not have and the interfaces enslaved to them, with their routes; and the fixed paths docker
// creates, while such an engine runs.
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
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
  /**
   * Watched paths a Debian package owns (dpkg-query -S): on a fresh machine the setup installs
   * docker.io, whose package ships /etc/docker. A package's files are the package's, installed on
   * purpose and kept like any other package, not something the run left behind.
   */
  packaged?: string[];
  /** What belongs to other checkouts' private engines, running at the capture. */
  foreign?: Foreign;
}

export interface Foreign {
  /** Processes of another checkout's engine (its daemons, shims, proxies, and clients of it). */
  pids: string[];
  /** Bridge interfaces on the host, and interface → the bridge it is enslaved to. */
  bridges: string[];
  masters: Record<string, string>;
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
    packaged: WATCHED_PATHS.filter((p) => existsSync(p) && ownedByPackage(p)),
    foreign: foreignState(stateDir),
  };
}

/** The private engines' state dirs (`<checkout>/.run/docker`) a command line or environment names. */
export function engineDirs(text: string): string[] {
  return [...text.matchAll(/(\/[^\s=:'"]*\/\.run\/docker)(?![\w.-])/g)].map((m) => m[1]!.replace(/^\/+/, "/"));
}

function foreignState(stateDir: string): Foreign {
  const procs = new Map<string, { ppid: string; foreign: boolean }>();
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const ppid = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1] ?? "0";
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      const dockerHost = readFileSync(`/proc/${pid}/environ`, "utf8")
        .split("\0")
        .filter((e) => e.startsWith("DOCKER_HOST="))
        .join(" ");
      const dirs = engineDirs(`${cmdline} ${dockerHost}`);
      procs.set(pid, { ppid, foreign: dirs.some((d) => d !== stateDir && !d.startsWith(`${stateDir}/`)) });
    } catch {
      // Gone meanwhile, or not readable: nothing to attribute.
    }
  }
  const isForeign = (pid: string): boolean => {
    for (let p: string | undefined = pid, depth = 0; p && p !== "0" && depth < 64; depth++) {
      const info = procs.get(p);
      if (!info) return false;
      if (info.foreign) return true;
      p = info.ppid;
    }
    return false;
  };
  const interfaces = readdirSync("/sys/class/net");
  const masters: Record<string, string> = {};
  for (const i of interfaces) {
    try {
      const target = readlinkSync(`/sys/class/net/${i}/master`);
      masters[i] = target.slice(target.lastIndexOf("/") + 1);
    } catch {
      // Not enslaved.
    }
  }
  return {
    pids: [...procs.keys()].filter(isForeign),
    bridges: interfaces.filter((i) => existsSync(`/sys/class/net/${i}/bridge`)).sort(),
    masters,
  };
}

/** Paths docker and kind create that another running engine may have created. */
const SHARED_PATHS = ["/lib/modules", "/run/containerd", "/run/docker", "/run/mount"];

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

function ownedByPackage(path: string): boolean {
  try {
    execFileSync("dpkg-query", ["-S", path], { stdio: "ignore", timeout: 10_000 });
    return true;
  } catch {
    return false; // no package owns it, or no dpkg here
  }
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
 * What `after` has that `before` had not, in words a person can act on. What other checkouts'
 * private engines account for (see the top of this file) is left out; `ourBridges` are the bridge
 * interfaces of our engine's networks, taken before it stopped.
 */
export function leftovers(before: HostState, after: HostState, stateDir: string, ourBridges: string[] = []): string[] {
  const added = (a: string[], b: string[]) => {
    const had = new Set(a);
    return b.filter((x) => !had.has(x));
  };
  const foreign = after.foreign;
  const foreignPids = new Set(foreign?.pids ?? []);
  const ours = new Set(ourBridges);
  const otherEngineRuns = foreignPids.size > 0;
  const foreignBridges = new Set(otherEngineRuns ? (foreign?.bridges ?? []).filter((b) => !ours.has(b)) : []);
  const foreignInterface = (i: string) => foreignBridges.has(i) || foreignBridges.has(foreign?.masters[i] ?? "");
  const found: string[] = [];
  for (const [pid, cmd] of Object.entries(after.processes)) {
    if (before.processes[pid] !== cmd && !foreignPids.has(pid)) found.push(`process ${pid}: ${cmd}`);
  }
  for (const m of added(before.mounts, after.mounts)) {
    if (m.includes("/.run/docker") && !m.startsWith(stateDir)) continue;
    found.push(`mount ${m}`);
  }
  for (const i of added(before.interfaces, after.interfaces)) {
    if (!foreignInterface(i)) found.push(`network interface ${i}`);
  }
  for (const r of added(before.routes, after.routes)) {
    // IPv4 rows start with the interface, IPv6 rows end with it.
    const fields = r.split(" ");
    if (foreignInterface(fields[0] ?? "") || foreignInterface(fields.at(-1) ?? "")) continue;
    found.push(`route ${r}`);
  }
  for (const r of added(before.firewall, after.firewall)) found.push(`firewall rule ${r}`);
  for (const r of added(after.firewall, before.firewall)) found.push(`firewall rule removed: ${r}`);
  for (const [s, v] of Object.entries(after.sysctls)) {
    // One that appeared belongs to a kernel module loaded meanwhile; modules are not unloaded.
    if (before.sysctls[s] !== undefined && before.sysctls[s] !== v)
      found.push(`sysctl ${s}: ${before.sysctls[s]} → ${v}`);
  }
  for (const [p, exists] of Object.entries(after.paths)) {
    if (exists && !before.paths[p] && !(otherEngineRuns && SHARED_PATHS.includes(p)) && !after.packaged?.includes(p))
      found.push(`path ${p} was created`);
  }
  return found;
}
