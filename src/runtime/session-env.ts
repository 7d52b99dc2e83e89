// The environment contract of one session, assembled from the town and the StartSession action.
import { parseDuration } from "../api/meta.ts";
import { sessionEnvVars } from "../api/session.ts";
import type { StartRequest } from "./session-runtime.ts";

export function sessionEnvFor(req: StartRequest, workspace: string): Record<string, string> {
  const { action, town } = req;
  const rig = town.spec.rigs.find((r) => r.name === action.rig);
  if (!rig) throw new Error(`town ${town.metadata.name} has no rig ${action.rig}`);
  const c = action.context;
  const agentCommand = [...town.spec.agents.command, ...town.spec.agents.args];
  return sessionEnvVars({
    namespace: req.namespace,
    town: town.metadata.name,
    rig: rig.name,
    agent: action.agent,
    role: action.role,
    session: action.session,
    bead: action.bead,
    beadTitle: c.beadTitle,
    beadDescription: c.beadDescription,
    branch: c.branch,
    baseBranch: c.baseBranch,
    targetBranch: c.targetBranch,
    repo: rig.repo,
    defaultBranch: rig.defaultBranch,
    mergeStrategy: c.mergeStrategy,
    gates: JSON.stringify(c.gates),
    ...(c.reworkOf ? { reworkOf: c.reworkOf } : {}),
    ...(c.feedback ? { feedback: c.feedback } : {}),
    files: JSON.stringify(c.files ?? []),
    ...(c.checkpoint ? { checkpoint: c.checkpoint } : {}),
    heartbeatPeriodSeconds: parseDuration(town.spec.timeouts.heartbeatPeriod) / 1000,
    agentCommand: JSON.stringify(agentCommand),
    workspace,
  });
}
