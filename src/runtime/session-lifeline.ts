// The process runtime's wrapper around one session. Usage:
//   node session-lifeline.ts <grace-ms> <command> [args...]
// The runtime starts it as the leader of a new process group (detached), with a pipe on stdin that
// it never writes to. When the operator dies, however it dies (SIGKILL included, which no handler
// sees), the kernel closes that pipe and we read EOF: then the whole group gets SIGTERM, and SIGKILL
// after the grace period. Node has no PR_SET_PDEATHSIG, hence this wrapper (the same technique as
// hack/local-cluster/lifeline.ts, but for a whole process group, since agents spawn shells).
// The command's exit is mirrored: same exit code, or the same signal re-raised on ourselves, so the
// runtime sees what a kubelet would report.
import { type ChildProcess, spawn } from "node:child_process";

const [graceArg, command, ...args] = process.argv.slice(2);
if (!command || !Number.isFinite(Number(graceArg))) {
  process.stderr.write("usage: session-lifeline.ts <grace-ms> <command> [args...]\n");
  process.exit(2);
}
const graceMs = Number(graceArg);
const group = -process.pid;

const signalGroup = (signal: NodeJS.Signals) => {
  try {
    process.kill(group, signal);
  } catch {}
};

let orphaned = false;
function parentGone(): void {
  if (orphaned) return;
  orphaned = true;
  process.stderr.write("session-lifeline: the operator went away; stopping the session\n");
  signalGroup("SIGTERM");
  // Kills us too: by then nobody is left to read our exit status.
  setTimeout(() => signalGroup("SIGKILL"), graceMs).unref();
}
process.stdin.on("end", parentGone);
process.stdin.on("error", parentGone);
process.stdin.resume();

// The runtime stops a session by signalling the whole group, so the command has the signal
// already; a signal sent to us alone is passed on. Either way we stay to report its exit. The
// handlers go in before the command starts: a signal that came in between would kill us with the
// default action and leave the command running with no one to report it. (Handlers run from the
// event loop, so by the time one runs, `child` is set.)
let child: ChildProcess | undefined;
const relay = (signal: NodeJS.Signals) => () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill(signal);
};
const handlers = { SIGTERM: relay("SIGTERM"), SIGINT: relay("SIGINT"), SIGHUP: relay("SIGHUP") } as const;
for (const [signal, handler] of Object.entries(handlers)) process.on(signal, handler);

child = spawn(command, args, { stdio: ["ignore", "inherit", "inherit"] });

child.on("error", (err) => {
  process.stderr.write(`session-lifeline: cannot start ${command}: ${err.message}\n`);
  process.exit(127);
});
child.on("exit", (code, signal) => {
  // Orphaned: whatever the command left running in the group has no one to stop it but us.
  if (orphaned) signalGroup("SIGKILL");
  if (signal) {
    for (const [s, handler] of Object.entries(handlers)) process.off(s, handler);
    process.kill(process.pid, signal);
    // A signal whose default action is not to terminate (none of the usual ones) falls through.
    setTimeout(() => process.exit(128), 1000).unref();
    return;
  }
  process.exit(code ?? 1);
});
