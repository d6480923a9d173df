-- Argo CD health check for itops.dev/Incident (for incidents kept in Git, and for the resource
-- tree of Applications that own workloads).
-- Healthy once Resolved or Closed, Suspended while a maintenance window suppresses it, Degraded
-- while Open or Acknowledged.
-- Argo CD opens only the base, table and package libraries: no string.* functions here.
local hs = {}
if obj.status == nil or obj.status.phase == nil or obj.status.phase == "" then
  hs.status = "Progressing"
  hs.message = "Waiting for the itops-operator to triage the incident"
  return hs
end
local phase = obj.status.phase
local priority = obj.status.priority or "?"
local title = ""
if obj.spec ~= nil and obj.spec.title ~= nil then
  title = ": " .. obj.spec.title
end
if phase == "Resolved" or phase == "Closed" then
  hs.status = "Healthy"
  hs.message = phase .. title
  return hs
end
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    if c.type == "Suppressed" and c.status == "True" then
      hs.status = "Suspended"
      hs.message = "Suppressed by a maintenance window" .. title
      return hs
    end
  end
end
hs.status = "Degraded"
hs.message = phase .. " " .. priority .. title
return hs
