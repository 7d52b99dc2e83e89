// Runs one command and ties its life to ours and to our parent's. Usage:
//   node lifeline.ts <grace-ms> <cleanup-dir|-> <command> [args...]
// The parent spawns us with a pipe on stdin and never writes to it. When the parent dies, however
// it dies (SIGKILL included, which no handler sees), the kernel closes that pipe and we read EOF:
// the one death notice that always arrives. Node has no PR_SET_PDEATHSIG, hence this wrapper.
// On EOF, SIGTERM or SIGINT we send the child SIGTERM, then SIGKILL after the grace period.
// A cleanup dir is removed after the child exits, only when the parent died: a parent that is
// alive cleans up itself, after all its processes are gone (etcd's data alone is >100 MB).
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { constants } from "node:os";

const [graceArg, cleanupArg, command, ...args] = process.argv.slice(2);
if (!command || !cleanupArg) {
  process.stderr.write("usage: lifeline.ts <grace-ms> <cleanup-dir|-> <command> [args...]\n");
  process.exit(2);
}
const graceMs = Number(graceArg);
const cleanupDir = cleanupArg === "-" ? undefined : cleanupArg;
let orphaned = false;

// Handlers first: a signal that came before them would kill us by default and orphan the child.
process.on("SIGTERM", () => terminate("SIGTERM"));
process.on("SIGINT", () => terminate("SIGINT"));
process.on("SIGHUP", () => terminate("SIGHUP"));

const child = spawn(command, args, { stdio: ["ignore", "inherit", "inherit"] });

let terminating = false;
function terminate(why: string): void {
  if (terminating) return;
  terminating = true;
  process.stderr.write(`lifeline: ${why}; sending SIGTERM to ${command} (pid ${child.pid})\n`);
  child.kill("SIGTERM");
  setTimeout(() => {
    process.stderr.write(`lifeline: ${command} still running after ${graceMs}ms; sending SIGKILL\n`);
    child.kill("SIGKILL");
  }, graceMs).unref();
}

function parentGone(why: string): void {
  orphaned = true;
  terminate(why);
}

process.stdin.on("end", () => parentGone("parent went away"));
process.stdin.on("error", () => parentGone("parent pipe failed"));
process.stdin.resume();

child.on("error", (err) => {
  process.stderr.write(`lifeline: cannot start ${command}: ${err.message}\n`);
  process.exit(127);
});
child.on("exit", (code, signal) => {
  if (orphaned && cleanupDir) rmSync(cleanupDir, { recursive: true, force: true });
  if (signal) {
    process.stderr.write(`lifeline: ${command} killed by ${signal}\n`);
    process.exit(128 + (constants.signals[signal] ?? 0));
  }
  if (!terminating) process.stderr.write(`lifeline: ${command} exited with code ${code}\n`);
  process.exit(code ?? 1);
});
