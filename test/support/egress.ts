// The egress trap: agent sessions run under `strace -f`, tracing only the system calls that open a
// connection or send a datagram to an address (connect, sendto, sendmsg), through seccomp so the
// rest of the session runs at full speed. After the test, every address a session's process tree
// tried to reach must be loopback (or a Unix socket). That catches what a proxy variable or a DNS
// stub would miss: native binaries, DNS lookups to the resolver, a vendor's telemetry host.
// This module must not import vitest.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface EgressTrap {
  /** `command` run under the trap (the process runtime's gtCommand). */
  wrap(command: string[]): string[];
  /** Every non-loopback address tried, with the line strace wrote (empty: nothing escaped). */
  violations(): string[];
  /** How many connection attempts were traced in all (to show the trap saw something). */
  traced(): number;
}

const ADDRESS = /sa_family=(AF_INET6?)[^}]*?(?:inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)")/;

export function isLoopback(family: string, address: string): boolean {
  if (family === "AF_INET") return address.startsWith("127.");
  return address === "::1" || address.startsWith("::ffff:127.");
}

/** One trace file per traced process tree, under `dir` (one per session: strace -o is per command). */
export function createEgressTrap(dir: string): EgressTrap {
  let n = 0;
  const files = () =>
    existsSync(dir)
      ? readdirSync(dir)
          .filter((f) => f.startsWith("egress-"))
          .map((f) => join(dir, f))
      : [];
  const lines = () => files().flatMap((f) => readFileSync(f, "utf8").split("\n"));
  return {
    wrap(command) {
      // One file per wrapped command; strace's own -ff would split by pid, which we do not need.
      const out = join(dir, `egress-${process.pid}-${++n}-%p.trace`);
      return [
        "sh",
        "-c",
        `exec strace -f --seccomp-bpf -qq -e trace=connect,sendto,sendmsg -e signal=none -o "${out.replace("%p", "$$")}" "$@"`,
        "strace",
        ...command,
      ];
    },
    violations() {
      const out: string[] = [];
      for (const line of lines()) {
        const m = line.match(ADDRESS);
        if (!m) continue;
        const address = m[2] ?? m[3] ?? "";
        if (!isLoopback(m[1]!, address)) out.push(line.trim());
      }
      return out;
    },
    traced: () => lines().filter((l) => /\b(connect|sendto|sendmsg)\(/.test(l)).length,
  };
}
