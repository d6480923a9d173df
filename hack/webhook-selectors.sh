#!/usr/bin/env bash
# Adds to the generated webhook configurations what controller-gen has no marker for:
# - the change gate's webhooks (vgate, vgatepods, mgate) get a namespaceSelector: only
#   namespaces labelled itops.dev/change-control=enforced are gated, so that requests in every
#   other namespace never reach the operator; kube-system and the default operator and cluster
#   namespaces are never gated (the Helm chart substitutes its own);
# - and matchConditions that keep the control plane's own requests away from them: the
#   kube-controller-manager and its controllers' ServiceAccounts in kube-system (the namespace
#   controller's and garbage collector's deletes, the workload controllers' Pods, ReplicaSets
#   and Jobs) never wait for the operator, so an operator outage never blocks namespace deletion,
#   garbage collection or the rollout of admitted workloads. The list is gate.ControlPlaneUsers
#   (internal/gate/gate.go); the handler applies the same rule. vgatepods also lets the kubelet's
#   mirror pods through (a node's request for a Pod carrying the mirror annotation); vgatestatus
#   (workloads' status subresources) gets the same selector and conditions;
# - the scaling bounds webhooks (vscaling, vscalinghpa) get a namespaceSelector whose
#   `kubernetes.io/metadata.name In` list the operator maintains (controllers/webhookscope): the
#   namespaces holding a ServiceLevel with spec.scaling. The static default lists none.itops.dev,
#   which can never be a namespace's name (so nothing is intercepted until the operator
#   patches); kube-system and the operator and cluster namespaces are never checked. Deployment
#   and StatefulSet writes elsewhere never wait for the operator (issue 15); and matchConditions
#   that send only requests that can
#   change a replica count: a create, a scale subresource update, or an update whose
#   spec.replicas (HPA: minReplicas, maxReplicas, scaleTargetRef) differs from the old object's.
#   An image update, a label change or a rollout restart of a bounded workload is not sent
#   either. The handler applies the same rules (an unchanged count is allowed).
# Run by `make manifests` on config/webhook/manifests.yaml.
set -euo pipefail
FILE="${1:?usage: webhook-selectors.sh config/webhook/manifests.yaml}"
CONTROL_PLANE="'system:kube-controller-manager'"
for sa in namespace-controller generic-garbage-collector deployment-controller replicaset-controller \
  statefulset-controller daemon-set-controller job-controller cronjob-controller \
  ttl-after-finished-controller disruption-controller replication-controller; do
  CONTROL_PLANE="${CONTROL_PLANE}, 'system:serviceaccount:kube-system:${sa}'"
done
tmp="$(mktemp)"
awk -v cp="${CONTROL_PLANE}" '
  { print }
  /^  name: ([mv]gate|vgatepods|vgatestatus)\.itops\.dev$/ {
    print "  matchConditions:"
    print "  - name: not-the-control-plane"
    print "    expression: \"!(request.userInfo.username in [" cp "])\""
    if ($2 == "vgatepods.itops.dev") {
      print "  - name: not-a-mirror-pod"
      print "    expression: \"!(request.userInfo.username.startsWith(\x27system:node:\x27) && has(object.metadata.annotations) && \x27kubernetes.io/config.mirror\x27 in object.metadata.annotations)\""
    }
    print "  namespaceSelector:"
    print "    matchExpressions:"
    print "    - key: itops.dev/change-control"
    print "      operator: In"
    print "      values:"
    print "      - enforced"
    print "    - key: kubernetes.io/metadata.name"
    print "      operator: NotIn"
    print "      values:"
    print "      - kube-system"
    print "      - itops-system"
    print "      - itops-cluster"
  }
  /^  name: vscaling\.itops\.dev$/ {
    print "  matchConditions:"
    print "  - name: replicas-may-change"
    print "    expression: \"request.operation != \x27UPDATE\x27 || (has(object.spec) && has(object.spec.replicas) ? object.spec.replicas : -1) != (has(oldObject.spec) && has(oldObject.spec.replicas) ? oldObject.spec.replicas : -1)\""
  }
  /^  name: vscalinghpa\.itops\.dev$/ {
    print "  matchConditions:"
    print "  - name: bounds-may-change"
    print "    expression: \"request.operation != \x27UPDATE\x27 || object.spec.maxReplicas != oldObject.spec.maxReplicas || (has(object.spec.minReplicas) ? object.spec.minReplicas : 1) != (has(oldObject.spec.minReplicas) ? oldObject.spec.minReplicas : 1) || object.spec.scaleTargetRef.kind != oldObject.spec.scaleTargetRef.kind || object.spec.scaleTargetRef.name != oldObject.spec.scaleTargetRef.name\""
  }
  /^  name: vscaling(hpa)?\.itops\.dev$/ {
    print "  namespaceSelector:"
    print "    matchExpressions:"
    print "    - key: kubernetes.io/metadata.name"
    print "      operator: In"
    print "      values:"
    print "      - none.itops.dev"
    print "    - key: kubernetes.io/metadata.name"
    print "      operator: NotIn"
    print "      values:"
    print "      - kube-system"
    print "      - itops-system"
    print "      - itops-cluster"
  }
' "${FILE}" > "${tmp}"
mv "${tmp}" "${FILE}"
