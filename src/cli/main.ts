#!/usr/bin/env node
// kubectl-gt: the `kubectl gt` plugin. kubectl runs it through the launcher in bin/ (which finds the
// project's Node 24); errors end as one line on stderr, with a hint, and a documented exit code.
import { CommanderError } from "commander";
import { complete } from "./completion.ts";
import { processOutput } from "./context.ts";
import { CliError, EXIT, explain } from "./errors.ts";
import { buildProgram } from "./program.ts";

async function main(argv: string[]): Promise<number> {
  const io = processOutput();
  const program = buildProgram(io);
  // Completion answers the raw words (flags included, half-typed): commander must not parse them.
  if (argv[0] === "__complete") {
    io.out(await complete(program, argv.slice(1), io));
    return EXIT.ok;
  }
  try {
    await program.parseAsync(argv, { from: "user" });
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      // commander already printed the message (or the help / version).
      return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const err = e instanceof CliError ? e : explain(e);
    io.err(`error: ${err.message}\n`);
    if (err.hint) io.err(`hint: ${err.hint}\n`);
    return err.exitCode;
  }
}

// A finished command (watches end on a signal) exits at once: kept-alive API connections and
// stopped informers' timers must not hold the process. Writes to pipes and files are synchronous on Linux.
process.exit(await main(process.argv.slice(2)));
