-- Argo CD health check for itops.dev/ChangeRequest.
-- Progressing until the change is authorised, Healthy once Approved or Completed, Progressing
-- while its rollout runs, Degraded when Rejected, Expired or Failed (Stalled=True). An earlier
-- sync wave holding a ChangeRequest therefore holds the workloads of later waves until approval.
-- Argo CD opens only the base, table and package libraries: no string.* functions here.
local hs = {}
if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the itops-operator to evaluate the change"
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
local function msg(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return fallback
end
local phase = obj.status.phase or ""
if byType["Stalled"] ~= nil and byType["Stalled"].status == "True" then
  hs.status = "Degraded"
  hs.message = msg(byType["Stalled"], "Change " .. phase)
  return hs
end
if phase == "Approved" or phase == "Completed" then
  hs.status = "Healthy"
  hs.message = msg(byType["Ready"], "Change " .. phase)
  if byType["Reviewed"] ~= nil and byType["Reviewed"].status == "False" then
    hs.message = hs.message .. " (emergency change awaiting review)"
  end
  return hs
end
hs.status = "Progressing"
if phase == "Pending" then
  local summary = obj.status.approvalSummary or "0/?"
  hs.message = msg(byType["Ready"], "Pending: " .. summary .. " approvals")
else
  hs.message = msg(byType["Ready"], "Change " .. phase)
end
return hs
