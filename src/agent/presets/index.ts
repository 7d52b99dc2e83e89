// The presets by name. `custom` (and no preset) runs Town.spec.agents.command as it is.
// opencode and gemini would be one more file each and one more entry here.
import type { AgentCli } from "../../api/town.ts";
import { claudeCode } from "./claude-code.ts";
import { codex } from "./codex.ts";
import { pi } from "./pi.ts";
import type { Preset } from "./types.ts";

export const PRESETS: Record<Exclude<AgentCli, "custom">, Preset> = {
  "claude-code": claudeCode,
  codex,
  pi,
};

export function presetFor(cli: AgentCli): Preset | undefined {
  return cli === "custom" ? undefined : PRESETS[cli];
}
