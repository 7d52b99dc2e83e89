-- Argo CD health of a gastown.dev Town. Runs in argocd-cm's sandbox (no string library).
-- spec.suspend: Suspended. Ready=False (reconciles failing, invariants violated, dispatch held
-- by the circuit breaker, sessions unable to start), Degraded=True or Stalled=True: Degraded.
-- Ready=True: Healthy. Not yet reconciled: Progressing.
local function condition(t)
  if obj.status == nil or obj.status.conditions == nil then return nil end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == t then return c end
  end
  return nil
end

local hs = { status = "Progressing", message = "Waiting for the operator" }
if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  hs.message = "Suspended: no new work is dispatched"
  return hs
end
if obj.status == nil then return hs end
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= obj.metadata.generation then
  hs.message = "Waiting for the operator to observe generation " .. obj.metadata.generation
  return hs
end
for _, t in ipairs({ "Stalled", "Degraded" }) do
  local c = condition(t)
  if c ~= nil and c.status == "True" then
    hs.status = "Degraded"
    hs.message = c.reason .. ": " .. c.message
    return hs
  end
end
local ready = condition("Ready")
if ready == nil then return hs end
if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message
  return hs
end
if ready.status == "False" then
  hs.status = "Degraded"
  hs.message = ready.reason .. ": " .. ready.message
  return hs
end
hs.message = ready.reason .. ": " .. ready.message
return hs
