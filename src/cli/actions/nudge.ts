// `kubectl gt nudge AGENT MESSAGE`: a person's nudge, delivered to the running session like the
// operator's GUPP nudges. One declarative write: Agent.spec.nudge = {id, message} with a fresh id
// (the time), which the agent's `gt run` delivers once. Written with strict field validation, so
// against an operator whose Agent CRD has no spec.nudge the apiserver refuses it and this says
// so, instead of the field being pruned and the nudge silently lost.
import type { Agent } from "../../api/agent.ts";
import { KubeApiError } from "../../controller/kube-http.ts";
import { AGENTS } from "../../controller/resources.ts";
import type { Cli } from "../context.ts";
import { CliError, usageError } from "../errors.ts";
import { getObject } from "../objects.ts";
import { mergePatch } from "./write.ts";

/** The CRD's limit on a nudge's message. */
export const MAX_NUDGE_MESSAGE = 1024;

/** A fresh id: the time, made unique against the nudge already there (two in one millisecond). */
export function nudgeId(now: number, current: string | undefined): string {
  const id = new Date(now).toISOString();
  return id === current ? `${id}-2` : id;
}

/** What a person is told once the nudge is written: when it arrives, or why it waits. */
export function nudgeResult(agent: Agent, id: string): string {
  const name = agent.metadata.name;
  const s = agent.status;
  return s?.phase === "Working"
    ? `agent/${name} nudged (spec.nudge.id=${id}): its running session${s?.sessionBead ? ` on ${s.sessionBead}` : ""} gets the message within one heartbeat`
    : `agent/${name} nudged (spec.nudge.id=${id}): it has no running session (${s?.phase ?? "Idle"}); its next session gets the message`;
}

export async function nudge(cli: Cli, name: string, message: string): Promise<string> {
  const text = message.trim();
  if (text === "") throw usageError("the nudge message is empty", `kubectl gt nudge ${name} "what to do next"`);
  if (text.length > MAX_NUDGE_MESSAGE)
    throw usageError(`the nudge message has ${text.length} characters; at most ${MAX_NUDGE_MESSAGE} fit`);
  const agent = await getObject<Agent>(cli, AGENTS, name);
  const current = (agent.spec as { nudge?: { id?: string } }).nudge?.id;
  const id = nudgeId(cli.now(), current);
  await mergePatch(
    cli,
    AGENTS,
    name,
    { spec: { nudge: { id, message: text } } },
    {
      strict: true,
      // The apiserver answers 422 (Invalid) with "strict decoding error: unknown field "spec.nudge"".
      explainError: (e) =>
        e instanceof KubeApiError && /unknown field "spec\.nudge"/.test(e.message)
          ? new CliError(`the Agent CRD in this cluster has no spec.nudge: nothing was sent to agent/${name}`, {
              hint: "a person's nudges need an operator release whose Agent CRD has spec.nudge; install its CRDs with kubectl apply --server-side -f crds/",
            })
          : undefined,
    },
  );
  return nudgeResult(agent, id);
}
