// The environment contract of one session, assembled from the town and the StartSession action.
import { parseDuration } from "../api/meta.ts";
import { sessionEnvVars } from "../api/session.ts";
import type { Rig, Town } from "../api/town.ts";
import type { StartRequest } from "./session-runtime.ts";

/** Town.spec.agents' preset with the rig's overrides applied (a rig's field wins when set). */
export function agentPreset(town: Town, rig: Rig | undefined) {
  const t = town.spec.agents;
  const r = rig?.agents ?? {};
  return {
    cli: r.cli ?? t.cli ?? "custom",
    model: r.model ?? t.model,
    args: r.args ?? t.args,
    maxRetries: r.maxRetries ?? t.maxRetries,
    provider: { ...(t.provider ?? {}), ...(r.provider ?? {}) },
  };
}

/** Where the session's model API key comes from, if the town names one. */
export function modelKeyRef(town: Town, rigName: string): { name: string; key: string } | undefined {
  return agentPreset(
    town,
    town.spec.rigs.find((r) => r.name === rigName),
  ).provider.apiKeySecret;
}

export function sessionEnvFor(req: StartRequest, workspace: string): Record<string, string> {
  const { action, town } = req;
  const rig = town.spec.rigs.find((r) => r.name === action.rig);
  if (!rig) throw new Error(`town ${town.metadata.name} has no rig ${action.rig}`);
  const c = action.context;
  const preset = agentPreset(town, rig);
  const custom = preset.cli === "custom";
  const agentCommand = custom ? [...town.spec.agents.command, ...preset.args] : [];
  const key = preset.provider.apiKeySecret;
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
    ...(c.cliSession ? { cliSession: c.cliSession } : {}),
    heartbeatPeriodSeconds: parseDuration(town.spec.timeouts.heartbeatPeriod) / 1000,
    agentCommand: JSON.stringify(agentCommand),
    agentCli: preset.cli,
    ...(preset.model ? { agentModel: preset.model } : {}),
    ...(custom ? {} : { agentArgs: JSON.stringify(preset.args) }),
    ...(preset.maxRetries !== undefined ? { agentMaxRetries: preset.maxRetries } : {}),
    ...(preset.provider.baseURL ? { modelBaseURL: preset.provider.baseURL } : {}),
    ...(preset.provider.api ? { modelApi: preset.provider.api } : {}),
    ...(key ? { modelKeySecret: `${key.name}/${key.key}` } : {}),
    workspace,
  });
}
