// The command tree of `kubectl gt`, on commander (subcommands, typed options, generated --help,
// usage errors). Each action connects with the global kubectl flags and calls one module, which it
// imports only then: building the tree loads nothing but commander, so --help and completion of
// commands and flags answer at once.
import { Command, Option } from "commander";
import pkg from "../../package.json" with { type: "json" };
import { completionScript } from "./completion.ts";
import { type Cli, connect, type GlobalFlags, type Output } from "./context.ts";
import { usageError } from "./errors.ts";
import type { OutputFormat } from "./output.ts";

export const EXIT_CODES_HELP = `Exit codes:
  0  done (or nothing to change)      3  the named object does not exist
  1  failed: refused, or problems     4  the cluster cannot be reached or refused the credentials
  2  bad flags or arguments (nothing was sent)`;

const examples = (lines: string[]) => `\nExamples:\n${lines.map((l) => `  ${l}`).join("\n")}\n`;

function int(name: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n)) throw usageError(`${name} must be an integer, got "${value}"`);
    return n;
  };
}

export function buildProgram(io: Output): Command {
  const program = new Command("kubectl gt");
  const globals = (cmd: Command): GlobalFlags => cmd.optsWithGlobals() as GlobalFlags;
  const cli = (cmd: Command) => connect(globals(cmd), io);
  const say = (line: string) => io.out(`${line}\n`);

  program
    .description("Gas Town at a glance, and every action a person takes on it (a kubectl plugin)")
    .option("-n, --namespace <namespace>", "namespace of the town (default: the context's, else default)")
    .option("--context <name>", "kubeconfig context to use")
    .option("--kubeconfig <path>", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    // Before any subcommand is added, so they inherit it: usage errors come back as exceptions.
    .exitOverride()
    .showSuggestionAfterError(true)
    .addHelpText(
      "after",
      `${examples([
        "kubectl gt status --watch                # the town, redrawn as it changes",
        "kubectl gt convoy login-feature          # a convoy's dependency tree",
        'kubectl gt sling "Fix the login redirect" --rig app',
        "kubectl gt logs login-feature-api -f     # the bead's session log",
        "kubectl gt retry login-feature-api       # run a Failed or held bead again",
        "kubectl gt doctor                        # what is wrong with this setup",
      ])}\n${EXIT_CODES_HELP}\n`,
    );

  program
    .command("status")
    .argument("[town]", "only this town (default: every town in the namespace)")
    .description("one screen per town: rigs, agents, convoys, beads needing attention, escalations")
    .option("-w, --watch", "redraw on every change (plain lines when stdout is not a terminal)", false)
    .addOption(new Option("-o, --output <format>", "print a document for scripts instead").choices(["json", "yaml"]))
    .addHelpText(
      "after",
      examples([
        "kubectl gt status",
        "kubectl gt status demo --watch",
        "kubectl gt status -o json | jq '.towns[0].beads'",
      ]),
    )
    .action(async (town: string | undefined, o: { watch: boolean; output?: OutputFormat }, cmd: Command) => {
      const { status } = await import("./status/command.ts");
      await status(await cli(cmd), {
        ...(town ? { town } : {}),
        watch: o.watch,
        ...(o.output ? { output: o.output } : {}),
      });
    });

  program
    .command("convoy")
    .argument("<name>", "the convoy")
    .description("the convoy's tasks as a dependency tree: phase, assignee, merge request, landing")
    .option("--dot", "print it as Graphviz dot", false)
    .option("--mermaid", "print it as a Mermaid flowchart", false)
    .addOption(new Option("-o, --output <format>", "print the graph as a document").choices(["json", "yaml"]))
    .addHelpText(
      "after",
      examples(["kubectl gt convoy login-feature", "kubectl gt convoy login-feature --dot | dot -Tsvg > convoy.svg"]),
    )
    .action(async (name: string, o: { dot: boolean; mermaid: boolean; output?: OutputFormat }, cmd: Command) => {
      const { convoy } = await import("./convoy/command.ts");
      await convoy(await cli(cmd), name, {
        dot: o.dot,
        mermaid: o.mermaid,
        ...(o.output ? { output: o.output } : {}),
      });
    });

  program
    .command("feed")
    .description("a live stream of the operator's Events and every phase change, until Ctrl-C")
    .option("--town <town>", "only this town")
    .option("--convoy <convoy>", "only this convoy and its beads")
    .option("--agent <agent>", "only this agent and the beads assigned to it")
    .option("--since <duration>", "also print Events from this far back", "10m")
    .addOption(new Option("-o, --output <format>", "one JSON object per line").choices(["json"]))
    .addHelpText(
      "after",
      examples([
        "kubectl gt feed",
        "kubectl gt feed --convoy login-feature --since 1h",
        "kubectl gt feed -o json | jq -r .message",
      ]),
    )
    .action(
      async (o: { town?: string; convoy?: string; agent?: string; since: string; output?: "json" }, cmd: Command) => {
        const { feed } = await import("./feed.ts");
        await feed(await cli(cmd), o);
      },
    );

  program
    .command("logs")
    .argument(
      "<bead-or-agent>",
      "a bead (its latest session) or an agent (its latest session); bead/NAME or agent/NAME when both exist",
    )
    .description("a session's log: the agent container of its pod, or the process runtime's session.log")
    .option("-f, --follow", "keep printing until the session ends", false)
    .option("--session <n>", "this session number instead of the latest", int("--session"))
    .option(
      "--sessions-dir <dir>",
      "where the process runtime keeps sessions (default: $GASTOWN_SESSIONS_DIR, then make run's .run/demo/sessions)",
    )
    .addHelpText(
      "after",
      examples([
        "kubectl gt logs login-feature-api",
        "kubectl gt logs demo-app-refinery -f",
        "kubectl gt logs agent/demo-app-toast --session 2",
      ]),
    )
    .action(async (target: string, o: { follow: boolean; session?: number; sessionsDir?: string }, cmd: Command) => {
      const { logs } = await import("./logs.ts");
      await logs(await cli(cmd), target, o);
    });

  program
    .command("doctor")
    .description(
      "check this setup and say what to fix: CRDs, operator, admission policy, Secrets, forge hosts, kubectl",
    )
    .addOption(new Option("-o, --output <format>", "print the findings as a document").choices(["json", "yaml"]))
    .addHelpText("after", examples(["kubectl gt doctor", "kubectl gt doctor -n team-a -o json"]))
    .action(async (o: { output?: "json" | "yaml" }, cmd: Command) => {
      const { doctor } = await import("./doctor/command.ts");
      await doctor(await cli(cmd), o);
    });

  program
    .command("sling")
    .argument("<title>", "what to do, in a few words")
    .description("create a bead (or, with --convoy, a one-task convoy) on a rig")
    .option("-d, --description <text>", "the details the agent reads", "")
    .option("--town <town>", "the town (default: the only one in the namespace)")
    .option("--rig <rig>", "the rig (default: the town's only rig)")
    .option("-p, --priority <n>", "0 (most urgent) to 4", int("--priority"))
    .option("--convoy", "make a one-task convoy (ReviewThenLand) instead of a bare bead", false)
    .option("--staged", "with --convoy: create it staged (start it with kubectl gt start)", false)
    .option("-l, --label <label...>", "labels for the bead")
    .addHelpText(
      "after",
      examples([
        'kubectl gt sling "Fix the login redirect" --rig app -d "Users land on /home after login"',
        'kubectl gt sling "Upgrade the parser" --convoy --staged',
      ]),
    )
    .action(
      async (
        title: string,
        o: {
          description: string;
          town?: string;
          rig?: string;
          priority?: number;
          convoy: boolean;
          staged: boolean;
          label?: string[];
        },
        cmd: Command,
      ) => {
        if (o.staged && !o.convoy) throw usageError("--staged needs --convoy (a bare bead cannot be staged)");
        const { sling } = await import("./actions/sling.ts");
        say(
          await sling(await cli(cmd), {
            title,
            description: o.description,
            ...(o.town ? { town: o.town } : {}),
            ...(o.rig ? { rig: o.rig } : {}),
            ...(o.priority !== undefined ? { priority: o.priority } : {}),
            convoy: o.convoy,
            staged: o.staged,
            ...(o.label ? { labels: o.label } : {}),
          }),
        );
      },
    );

  const action = (
    name: string,
    args: string,
    description: string,
    run: (c: Cli, ...a: string[]) => Promise<string>,
    ex: string[],
  ) =>
    program
      .command(name)
      .arguments(args)
      .description(description)
      .addHelpText("after", examples(ex))
      .action(async (...all: unknown[]) => {
        const cmd = all[all.length - 1] as Command;
        const positional = all.slice(0, -2) as string[];
        say(await run(await cli(cmd), ...positional));
      });

  action(
    "retry",
    "<bead-or-convoy>",
    "run a Failed or held bead again with fresh budgets (raises spec.retry); convoy/NAME retries a convoy's failed and held tasks and its landing",
    async (c, t) => (await import("./actions/retry.ts")).retry(c, t!),
    ["kubectl gt retry login-feature-api", "kubectl gt retry convoy/login-feature"],
  );
  action(
    "cancel",
    "<bead-or-convoy>",
    "stop the work and fail it (spec.cancel); convoy/NAME cancels a whole convoy",
    async (c, t) => (await import("./actions/cancel.ts")).cancel(c, t!),
    ["kubectl gt cancel login-feature-docs", "kubectl gt cancel convoy/login-feature"],
  );
  action(
    "nudge",
    "<agent> <message>",
    "send an agent a message, delivered like the operator's own nudges",
    async (c, a, m) => (await import("./actions/nudge.ts")).nudge(c, a!, m!),
    ['kubectl gt nudge demo-app-toast "the API moved to v2; rebase on main"'],
  );
  program
    .command("ack")
    .argument("<escalation>", "the escalation's id, as kubectl gt status lists it")
    .option("--town <town>", "the town (default: the one whose status lists the id)")
    .description(
      "acknowledge an escalation (adds its id to spec.acknowledgedEscalations): it is not raised again and leaves the open list",
    )
    .addHelpText("after", examples(["kubectl gt ack max-dispatch-attempts-login-feature-api"]))
    .action(async (e: string, o: { town?: string }, cmd: Command) => {
      const { ack } = await import("./actions/town.ts");
      say(await ack(await cli(cmd), e, o.town));
    });
  action(
    "reset-breaker",
    "<town>",
    "close an open circuit breaker once its cause is fixed: sessions failed so far stop counting (spec.circuitBreakerReset)",
    async (c, n) => (await import("./actions/town.ts")).resetBreaker(c, n!),
    ["kubectl gt reset-breaker demo"],
  );
  action(
    "stage",
    "<convoy>",
    "hold a convoy: nothing new is dispatched (spec.staged=true)",
    async (c, n) => (await import("./actions/stage.ts")).setStaged(c, n!, true),
    ["kubectl gt stage login-feature"],
  );
  action(
    "start",
    "<convoy>",
    "start a staged convoy (spec.staged=false)",
    async (c, n) => (await import("./actions/stage.ts")).setStaged(c, n!, false),
    ["kubectl gt start login-feature"],
  );
  action(
    "suspend",
    "<town>",
    "stop all new dispatch in a town; running work and state are kept (spec.suspend=true)",
    async (c, n) => (await import("./actions/town.ts")).setSuspended(c, n!, true),
    ["kubectl gt suspend demo"],
  );
  action(
    "resume",
    "<town>",
    "let a suspended town dispatch again (spec.suspend=false)",
    async (c, n) => (await import("./actions/town.ts")).setSuspended(c, n!, false),
    ["kubectl gt resume demo"],
  );

  program
    .command("completion")
    .argument("<shell>", "bash or zsh")
    .description("print a completion script for kubectl-gt (kubectl gt <TAB> works through kubectl_complete-gt)")
    .addHelpText(
      "after",
      examples([
        "source <(kubectl-gt completion bash)",
        "kubectl-gt completion zsh > ~/.zsh/completions/_kubectl-gt  # a directory in $fpath",
      ]),
    )
    .action((shell: string) => io.out(completionScript(shell)));

  program
    .command("version")
    .description("print the version of this plugin and of the API it speaks")
    .action(async () => {
      const { API_VERSION } = await import("../api/meta.ts");
      say(`kubectl-gt ${pkg.version} (API ${API_VERSION})`);
    });

  return program;
}
