// Shell completion. kubectl (>= 1.26) completes `kubectl gt <TAB>` by running the executable
// kubectl_complete-gt with the words typed after "gt", and reads cobra's completion protocol: one
// candidate per line (value<TAB>description), then ":<directive>". `kubectl-gt __complete` answers
// in that protocol; the bash and zsh scripts below use the same answers for kubectl-gt typed directly.
// Subcommands and flags come from the commander program itself, object names from the cluster.
import type { Command, Option } from "commander";
import type { Agent } from "../api/agent.ts";
import type { Bead } from "../api/bead.ts";
import type { Convoy } from "../api/convoy.ts";
import type { Town } from "../api/town.ts";
import type { Resource } from "../controller/resources.ts";
import { type Cli, connect, type GlobalFlags, loadKubeConfig, type Output } from "./context.ts";
import { usageError } from "./errors.ts";

/** cobra's ShellCompDirectiveNoFileComp: never fall back to file names. */
const NO_FILES = 4;

type Candidate = [value: string, description?: string];

/** What each positional argument names; only these answers load the Kubernetes client. */
type Names = "Town" | "Convoy" | "Bead" | "Agent" | "Escalation";

const POSITIONAL: Record<string, Names[][]> = {
  status: [["Town"]],
  convoy: [["Convoy"]],
  logs: [["Bead", "Agent"]],
  retry: [["Bead", "Convoy"]],
  cancel: [["Bead", "Convoy"]],
  nudge: [["Agent"]],
  ack: [["Escalation"]],
  "reset-breaker": [["Town"]],
  stage: [["Convoy"]],
  start: [["Convoy"]],
  suspend: [["Town"]],
  resume: [["Town"]],
};

function optionsOf(cmd: Command): readonly Option[] {
  return cmd.options;
}

function findOption(cmd: Command, program: Command, word: string): Option | undefined {
  return [...optionsOf(cmd), ...optionsOf(program)].find((o) => o.long === word || o.short === word);
}

/** The global flags among the words typed so far, so names come from the cluster the user means. */
function globalsIn(words: string[]): GlobalFlags {
  const flags: GlobalFlags = {};
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const [name, inline] = w.includes("=") ? [w.slice(0, w.indexOf("=")), w.slice(w.indexOf("=") + 1)] : [w, undefined];
    const value = inline ?? words[i + 1];
    if (value === undefined) continue;
    if (name === "-n" || name === "--namespace") flags.namespace = value;
    else if (name === "--context") flags.context = value;
    else if (name === "--kubeconfig") flags.kubeconfig = value;
  }
  return flags;
}

/** Whether a command would act on this object: retry only Failed or held beads, cancel only live work. */
function offered(cmd: string, kind: Names, o: Town | Convoy | Bead | Agent): boolean {
  if (kind === "Bead") {
    const s = (o as Bead).status;
    const terminal = s?.phase === "Closed" || s?.phase === "Failed";
    if (cmd === "retry") return s?.phase === "Failed" || s?.hold !== undefined;
    if (cmd === "cancel") return !terminal && !(o as Bead).spec.cancel;
  }
  if (kind === "Convoy" && cmd === "cancel") return (o as Convoy).status?.phase !== "Landed";
  return true;
}

function describe(kind: Names, o: Town | Convoy | Bead | Agent): string {
  switch (kind) {
    case "Bead": {
      const b = o as Bead;
      return `${b.status?.hold ? `held (${b.status.hold.reason})` : (b.status?.phase ?? "Open")} ${b.spec.title}`;
    }
    case "Agent":
      return `${(o as Agent).status?.phase ?? "Idle"} ${(o as Agent).spec.role}`;
    case "Convoy":
      return `${(o as Convoy).status?.phase ?? ""} ${(o as Convoy).spec.title}`;
    default:
      return kind;
  }
}

async function objectNames(kinds: Names[], flags: GlobalFlags, io: Output, cmdName: string): Promise<Candidate[]> {
  const cli = await connect(flags, io);
  const [{ listAll }, r] = await Promise.all([import("./objects.ts"), import("../controller/resources.ts")]);
  const resources: Record<Exclude<Names, "Escalation">, Resource> = {
    Town: r.TOWNS,
    Convoy: r.CONVOYS,
    Bead: r.BEADS,
    Agent: r.AGENTS,
  };
  const out: Candidate[] = [];
  const qualify = kinds.length > 1;
  for (const kind of kinds) {
    if (kind === "Escalation") {
      for (const t of await listAll<Town>(cli, r.TOWNS)) {
        for (const e of t.status?.escalations ?? []) {
          if (!e.acknowledged) out.push([e.id, `${e.severity} ${e.reason} (town ${t.metadata.name})`]);
        }
      }
      continue;
    }
    for (const o of await listAll<Town | Convoy | Bead | Agent>(cli, resources[kind])) {
      if (!offered(cmdName, kind, o)) continue;
      const desc = describe(kind, o).trim();
      out.push([o.metadata.name, desc]);
      if (qualify) out.push([`${kind.toLowerCase()}/${o.metadata.name}`, desc]);
    }
  }
  return out;
}

async function flagValues(flag: string, words: string[], io: Output): Promise<Candidate[]> {
  const flags = globalsIn(words);
  if (flag === "--output") return [["json"], ["yaml"]];
  if (flag === "--context")
    return (await loadKubeConfig({ ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}) })).contexts.map(
      (c) => [c.name],
    );
  const cli: Cli = await connect(flags, io);
  const [{ listAll }, r] = await Promise.all([import("./objects.ts"), import("../controller/resources.ts")]);
  if (flag === "--namespace") {
    const list = await cli.http.json<{ items?: { metadata: { name: string } }[] }>({
      method: "GET",
      path: "/api/v1/namespaces",
    });
    return (list.items ?? []).map((n) => [n.metadata.name]);
  }
  if (flag === "--town") return (await listAll<Town>(cli, r.TOWNS)).map((t) => [t.metadata.name]);
  if (flag === "--convoy") return (await listAll<Convoy>(cli, r.CONVOYS)).map((c) => [c.metadata.name, c.spec.title]);
  if (flag === "--agent") return (await listAll<Agent>(cli, r.AGENTS)).map((a) => [a.metadata.name]);
  if (flag === "--rig")
    return (await listAll<Town>(cli, r.TOWNS)).flatMap((t) =>
      t.spec.rigs.map((rig): Candidate => [rig.name, `rig of ${t.metadata.name}`]),
    );
  return [];
}

async function candidates(program: Command, words: string[], io: Output): Promise<Candidate[]> {
  const current = words[words.length - 1] ?? "";
  const before = words.slice(0, -1);
  // Skip global flags (and their values) to find the subcommand.
  let i = 0;
  while (i < before.length && before[i]!.startsWith("-")) {
    const o = findOption(program, program, before[i]!.split("=")[0]!);
    i += o?.required || o?.optional ? (before[i]!.includes("=") ? 1 : 2) : 1;
  }
  const name = before[i];
  const cmd = name ? program.commands.find((c) => c.name() === name) : undefined;
  if (!cmd) {
    if (current.startsWith("-")) return optionsOf(program).map((o) => [o.long ?? "", o.description]);
    return program.commands
      .filter((c) => !(c as unknown as { _hidden?: boolean })._hidden)
      .map((c) => [c.name(), c.description()]);
  }
  const rest = before.slice(i + 1);
  const previous = rest[rest.length - 1];
  const flagTakingValue = previous?.startsWith("-") ? findOption(cmd, program, previous) : undefined;
  if (flagTakingValue && (flagTakingValue.required || flagTakingValue.optional)) {
    const choices = flagTakingValue.argChoices;
    if (choices) return choices.map((c) => [c]);
    return flagValues(flagTakingValue.long ?? "", words, io);
  }
  if (current.startsWith("-"))
    return [...optionsOf(cmd), ...optionsOf(program)].map((o) => [o.long ?? "", o.description]);
  // Which positional is being typed: words after the command that are neither flags nor their values.
  let position = 0;
  for (let k = 0; k < rest.length; k++) {
    const w = rest[k]!;
    if (w.startsWith("-")) {
      const o = findOption(cmd, program, w.split("=")[0]!);
      if ((o?.required || o?.optional) && !w.includes("=")) k++;
      continue;
    }
    position++;
  }
  const kinds = POSITIONAL[cmd.name()]?.[position];
  if (!kinds) return [];
  return objectNames(kinds, globalsIn(words), io, cmd.name());
}

/** The answer to `__complete WORDS…` in cobra's protocol. Errors yield no candidates, never a trace. */
export async function complete(program: Command, words: string[], io: Output): Promise<string> {
  const current = words[words.length - 1] ?? "";
  let found: Candidate[] = [];
  try {
    found = await candidates(program, words.length === 0 ? [""] : words, io);
  } catch {
    // an unreachable cluster must not print errors into the user's command line
  }
  const lines = found
    .filter(([v]) => v?.startsWith(current))
    .map(([v, d]) => (d ? `${v}\t${d.replace(/\s+/g, " ")}` : v));
  return `${[...lines, `:${NO_FILES}`].join("\n")}\n`;
}

const BASH = `# bash completion for kubectl-gt (kubectl gt <TAB> works through kubectl's own completion
# and the kubectl_complete-gt executable next to kubectl-gt).
_kubectl_gt() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" out line
  local -a candidates=()
  out=$(kubectl-gt __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return
  while IFS= read -r line; do
    [[ -z "$line" || "$line" == :* ]] && continue
    candidates+=("\${line%%$'\\t'*}")
  done <<<"$out"
  COMPREPLY=($(compgen -W "\${candidates[*]}" -- "$cur"))
}
complete -F _kubectl_gt kubectl-gt
`;

const ZSH = `#compdef kubectl-gt
# zsh completion for kubectl-gt (kubectl gt <TAB> works through kubectl's own completion and the
# kubectl_complete-gt executable next to kubectl-gt).
_kubectl_gt() {
  local -a lines described
  local line value desc
  lines=("\${(@f)$(kubectl-gt __complete "\${(@)words[2,$CURRENT]}" 2>/dev/null)}")
  for line in "\${lines[@]}"; do
    [[ -z "$line" || "$line" == :* ]] && continue
    value="\${line%%$'\\t'*}"
    desc="\${line#*$'\\t'}"
    [[ "$desc" == "$line" ]] && desc=""
    described+=("\${value//:/\\\\:}\${desc:+:$desc}")
  done
  _describe -t values 'kubectl gt' described
}
if [[ "$funcstack[1]" == "_kubectl_gt" ]]; then _kubectl_gt "$@"; else compdef _kubectl_gt kubectl-gt; fi
`;

export function completionScript(shell: string): string {
  if (shell === "bash") return BASH;
  if (shell === "zsh") return ZSH;
  throw usageError(`no completion for shell "${shell}"`, "use bash or zsh");
}
