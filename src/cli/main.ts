#!/usr/bin/env node
// kubectl-gt: the `kubectl gt` plugin. kubectl runs it through the launcher in bin/ (which finds the
// project's Node 24). Start-up time is what a person waits for on every command and every <TAB>:
// V8's compile cache is enabled before anything else loads (it roughly halves the CPU spent
// compiling client-node, zod and our own modules on later runs), and every command loads only the
// modules it uses (see program.ts), so --help, version and completion of commands and flags never
// load the Kubernetes client at all.
import { enableCompileCache } from "node:module";

enableCompileCache();
const { run } = await import("./run.ts");
// A finished command (watches end on a signal) exits at once: kept-alive API connections and
// stopped informers' timers must not hold the process. Writes to pipes and files are synchronous on Linux.
process.exit(await run(process.argv.slice(2)));
