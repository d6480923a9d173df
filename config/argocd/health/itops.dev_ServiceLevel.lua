-- Argo CD health check for itops.dev/ServiceLevel.
-- Healthy while the objectives are met, Degraded when an objective is missed, the error budget
-- is exhausted or the spec is refused (Stalled=True), Progressing until the first measurement.
-- Argo CD opens only the base, table and package libraries: no string.* functions here.
local hs = {}
if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the itops-operator to measure the service"
  return hs
end
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= nil and obj.status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the itops-operator to evaluate the latest spec"
  return hs
end
local byType = {}
for _, c in ipairs(obj.status.conditions) do
  byType[c.type] = c
end
local function is(t, s)
  return byType[t] ~= nil and byType[t].status == s
end
if is("Stalled", "True") then
  hs.status = "Degraded"
  hs.message = byType["Stalled"].message or "Invalid ServiceLevel"
  return hs
end
if is("BudgetExhausted", "True") then
  hs.status = "Degraded"
  hs.message = byType["BudgetExhausted"].message or "Error budget exhausted"
  return hs
end
if is("ObjectiveMet", "False") then
  hs.status = "Degraded"
  hs.message = byType["ObjectiveMet"].message or "Objective missed"
  return hs
end
if is("Ready", "True") then
  hs.status = "Healthy"
  hs.message = byType["Ready"].message or ""
  return hs
end
hs.status = "Progressing"
hs.message = "Waiting for the itops-operator to measure the service"
return hs
