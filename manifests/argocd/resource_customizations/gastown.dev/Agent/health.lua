-- Argo CD health of a gastown.dev Agent. Runs in argocd-cm's sandbox (no string library).
-- Agents are the operator's, not the user's: Idle and Working are both Healthy (a long
-- session is normal work); Stalled (stopped for inactivity) or Stalled=True: Degraded.
local function condition(t)
  if obj.status == nil or obj.status.conditions == nil then return nil end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == t then return c end
  end
  return nil
end

local hs = { status = "Progressing", message = "Waiting for the operator" }
if obj.status == nil or obj.status.phase == nil then return hs end
local phase = obj.status.phase
local stalled = condition("Stalled")
if phase == "Stalled" or (stalled ~= nil and stalled.status == "True") then
  hs.status = "Degraded"
  hs.message = "Stalled"
  if stalled ~= nil then hs.message = "Stalled: " .. stalled.reason .. ": " .. stalled.message end
  return hs
end
hs.status = "Healthy"
if phase == "Working" and obj.spec.hook ~= nil then
  hs.message = "Working on " .. obj.spec.hook
else
  hs.message = phase
end
return hs
