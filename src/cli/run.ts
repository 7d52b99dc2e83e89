// What kubectl-gt does with its arguments: completion, or a command; errors end as one line on
// stderr, with a hint, and a documented exit code.
import { CommanderError } from "commander";
import { complete } from "./completion.ts";
import { processOutput } from "./context.ts";
import { CliError, EXIT, explain } from "./errors.ts";
import { buildProgram } from "./program.ts";

export async function run(argv: string[]): Promise<number> {
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
