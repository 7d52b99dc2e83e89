// Linux capabilities by number (linux/capability.h), and which of them a process may never hold.
import { readFileSync } from "node:fs";

const NAMES = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_DAC_READ_SEARCH",
  "CAP_FOWNER",
  "CAP_FSETID",
  "CAP_KILL",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETPCAP",
  "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST",
  "CAP_NET_ADMIN",
  "CAP_NET_RAW",
  "CAP_IPC_LOCK",
  "CAP_IPC_OWNER",
  "CAP_SYS_MODULE",
  "CAP_SYS_RAWIO",
  "CAP_SYS_CHROOT",
  "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN",
  "CAP_SYS_BOOT",
  "CAP_SYS_NICE",
  "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG",
  "CAP_MKNOD",
  "CAP_LEASE",
  "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE",
  "CAP_MAC_ADMIN",
  "CAP_SYSLOG",
  "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND",
  "CAP_AUDIT_READ",
  "CAP_PERFMON",
  "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
];

/** Names of capabilities 0..cap_last_cap of the running kernel (numbers for ones newer than this table). */
export function capabilityNames(
  lastCap = Number(readFileSync("/proc/sys/kernel/cap_last_cap", "utf8").trim()),
): string[] {
  return Array.from({ length: lastCap + 1 }, (_, i) => NAMES[i] ?? `CAP_${i}`);
}

/**
 * The capabilities the kernel knows that are outside this process's bounding set (`CapBnd:` of
 * /proc/<pid>/status): no process we start can hold them, so a spec that asks for them fails.
 */
export function missingCapabilities(procStatus: string, names: string[]): string[] {
  const hex = procStatus.match(/^CapBnd:\s*([0-9a-f]+)$/m)?.[1];
  if (!hex) throw new Error("no CapBnd line in the process status");
  const bounding = BigInt(`0x${hex}`);
  return names.filter((_, i) => (bounding & (1n << BigInt(i))) === 0n);
}
