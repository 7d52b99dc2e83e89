-- Argo CD health of a gastown.dev Convoy. Runs in argocd-cm's sandbox (no string library).
-- Landed: Healthy. Staged: Suspended (nothing runs until spec.staged is false). Failed, or held
-- with Stalled=True (a failed task waiting for a retry or cancel), or tasks the operator refused:
-- Degraded. Anything else (Active, Complete, Landing): Progressing, with the progress.
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
local progress = ""
if obj.status.progress ~= nil and obj.status.progress.summary ~= nil then
  progress = " (" .. obj.status.progress.summary .. " tasks closed)"
end
local stalled = condition("Stalled")
local ready = condition("Ready")
if phase == "Failed" then
  hs.status = "Degraded"
  hs.message = "Failed" .. progress
  if stalled ~= nil then hs.message = "Failed: " .. stalled.message end
  return hs
end
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.reason .. ": " .. stalled.message
  return hs
end
if ready ~= nil and ready.status == "False" and ready.reason == "InvalidTasks" then
  hs.status = "Degraded"
  hs.message = "InvalidTasks: " .. ready.message
  return hs
end
if phase == "Landed" then
  hs.status = "Healthy"
  hs.message = "Landed" .. progress
  return hs
end
if phase == "Staged" then
  hs.status = "Suspended"
  hs.message = "Staged: nothing is dispatched until spec.staged is false"
  return hs
end
hs.message = phase .. progress
return hs
