// What Flux (and every cli-utils applier) would show for an object: the kstatus verdict, computed by
// hack/bin/kstatus, a small program on sigs.k8s.io/cli-utils built from hack/tools.
import { execFile } from "node:child_process";
import { join } from "node:path";

const KSTATUS = join(import.meta.dirname, "..", "..", "hack", "bin", "kstatus");

export type KstatusStatus = "InProgress" | "Failed" | "Current" | "Terminating" | "NotFound" | "Unknown";

export function kstatusOf(obj: unknown): Promise<{ status: KstatusStatus; message: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(KSTATUS, ["-"], (err, stdout, stderr) => {
      if (err) return reject(new Error(`kstatus: ${stderr || err.message}`));
      resolve(JSON.parse(stdout.trim()) as { status: KstatusStatus; message: string });
    });
    child.stdin?.end(JSON.stringify(obj));
  });
}
