#!/usr/bin/env bash
# Gives the change gate's webhooks (controller-gen has no marker for it) a namespaceSelector:
# only namespaces labelled itops.dev/change-control=enforced are gated, so that requests in
# every other namespace never reach the operator; kube-system and the default operator and
# cluster namespaces are never gated (the Helm chart substitutes its own). The scaling bounds
# webhooks skip the same three namespaces. Run by `make manifests` on
# config/webhook/manifests.yaml.
set -euo pipefail
FILE="${1:?usage: webhook-selectors.sh config/webhook/manifests.yaml}"
tmp="$(mktemp)"
awk '
  { print }
  /^  name: [mv]gate\.itops\.dev$/ {
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
  /^  name: vscaling(hpa)?\.itops\.dev$/ {
    print "  namespaceSelector:"
    print "    matchExpressions:"
    print "    - key: kubernetes.io/metadata.name"
    print "      operator: NotIn"
    print "      values:"
    print "      - kube-system"
    print "      - itops-system"
    print "      - itops-cluster"
  }
' "${FILE}" > "${tmp}"
mv "${tmp}" "${FILE}"
