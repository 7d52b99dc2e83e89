-- Argo CD health of a gastown.dev Bead. Runs in argocd-cm's sandbox (no string library).
-- Closed: Healthy. Failed, or held with Stalled=True: Degraded. Waiting in a staged convoy:
-- Suspended. Open, InProgress, InReview: Progressing, with what it waits for.
local function condition(t)
  if obj.status == nil or obj.status.conditions == nil then return nil end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == t then return c end
  end
  return nil
end

local hs = { status = "Progressing", message = "Waiting for the operator" }
if obj.status == nil or obj.status.phase == nil then return hs end
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= obj.metadata.generation then
  hs.message = "Waiting for the operator to observe generation " .. obj.metadata.generation
  return hs
end
local phase = obj.status.phase
local stalled = condition("Stalled")
local ready = condition("Ready")
if phase == "Closed" then
  hs.status = "Healthy"
  hs.message = "Closed"
  if obj.status.resolution ~= nil then hs.message = "Closed: " .. obj.status.resolution end
  return hs
end
if phase == "Failed" or (stalled ~= nil and stalled.status == "True") then
  hs.status = "Degraded"
  hs.message = phase
  if stalled ~= nil then hs.message = phase .. ": " .. stalled.reason .. ": " .. stalled.message end
  return hs
end
if ready ~= nil and ready.reason == "Staged" then
  hs.status = "Suspended"
  hs.message = ready.message
  return hs
end
hs.message = phase
if ready ~= nil and ready.message ~= nil and ready.message ~= "" then hs.message = phase .. ": " .. ready.message end
return hs
