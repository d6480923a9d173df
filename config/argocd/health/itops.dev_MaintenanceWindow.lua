-- Argo CD health check for itops.dev/MaintenanceWindow.
-- Healthy once the operator has evaluated the schedules (Scheduled, Active or Expired: a window
-- doing its job is healthy), Degraded when the spec cannot be evaluated (Stalled=True).
-- Argo CD opens only the base, table and package libraries: no string.* functions here.
local hs = {}
if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the itops-operator to evaluate the schedules"
  return hs
end
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= nil and obj.status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the itops-operator to evaluate the latest spec"
  return hs
end
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Stalled" and c.status == "True" then
    hs.status = "Degraded"
    hs.message = c.message or "Invalid schedule"
    return hs
  end
end
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Ready" and c.status == "True" then
    hs.status = "Healthy"
    hs.message = c.message or ""
    return hs
  end
end
hs.status = "Progressing"
hs.message = "Waiting for the itops-operator to evaluate the schedules"
return hs
