// `kubectl gt nudge AGENT MESSAGE`: a person's nudge, delivered to the running session like the
// operator's GUPP nudges. It needs a field on the Agent the operator and `gt run` both read; until
// that field is in the API this CLI speaks, the command says so instead of writing something the
// operator would ignore.
import type { Agent } from "../../api/agent.ts";
import { AGENTS } from "../../controller/resources.ts";
import type { Cli } from "../context.ts";
import { CliError, usageError } from "../errors.ts";
import { getObject } from "../objects.ts";

export async function nudge(cli: Cli, agent: string, message: string): Promise<string> {
  if (message.trim() === "")
    throw usageError("the nudge message is empty", `kubectl gt nudge ${agent} "what to do next"`);
  await getObject<Agent>(cli, AGENTS, agent);
  throw new CliError(
    "kubectl gt nudge needs Agent.spec.nudge (a person's nudge to the running session, issue 11), which the operator API this CLI speaks (gastown.dev/v1alpha1) does not have yet: nothing was sent",
    { hint: "upgrade the operator and this CLI together once it lands" },
  );
}
