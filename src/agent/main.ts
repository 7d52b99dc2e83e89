#!/usr/bin/env node
// `gt`: the agent runtime and the agent's tools, inside one session (docs/agent-contract.md).
//   gt run                      the session's main process (what the pod or the process runtime starts)
//   gt done | request-changes | review-failed | escalate | checkpoint | handoff | prime
//   gt demo                     the scripted demo agent (what `gt run` starts without an agent command)
//
// Each command loads only its own modules: gt starts for every tool call and, under Claude Code,
// twice per tool the model calls (`gt hook`), so what it loads is paid on every one of them.

const help = async () => {
  const { toolSummaries } = await import("./tools.ts");
  return `gt — the Gas Town agent runtime and tools

Usage: gt <command> [flags]     (gt <command> --help for its flags)

Session:
  run                 clone the rig, check out the branch, write the prompt, renew the heartbeat,
                      run the agent command (GT_AGENT_COMMAND; none = the demo agent), exit with its status
  demo                the scripted demo agent (no LLM): a deterministic change, or a --no-ff merge
  hook EVENT          what a coding-agent CLI's hooks run: tool boundaries, and nudges into the session

Tools (called by the agent during its session):
${toolSummaries()
  .map(([name, summary]) => `  ${name.padEnd(18)}  ${summary}`)
  .join("\n")}

Every command reads the session from the GT_* environment that the runtime sets.`;
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    (command === undefined ? process.stderr : process.stdout).write(`${await help()}\n`);
    return command === undefined ? 2 : 0;
  }
  if (command === "run" || command === "demo") {
    if (rest.includes("--help") || rest.includes("-h")) {
      process.stdout.write(`${await help()}\n`);
      return 0;
    }
    if (rest.length > 0) {
      process.stderr.write(`gt ${command}: takes no arguments, got ${JSON.stringify(rest.join(" "))}\n`);
      return 2;
    }
    const { runDemoCommand, runSession } = await import("./run.ts");
    return command === "run" ? runSession() : runDemoCommand();
  }
  if (command === "hook") {
    const [{ runHook }, { readStdin }] = await Promise.all([import("./hook.ts"), import("./stdin.ts")]);
    return runHook(rest[0], process.env, readStdin, (t) => process.stdout.write(t));
  }
  const { processToolContext, runTool, TOOL_NAMES } = await import("./tools.ts");
  if (TOOL_NAMES.includes(command)) return runTool(command, rest, processToolContext());
  process.stderr.write(`gt: unknown command ${JSON.stringify(command)}\n\n${await help()}\n`);
  return 2;
}

process.exitCode = await main(process.argv.slice(2));
