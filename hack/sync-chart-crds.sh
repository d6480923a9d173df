#!/usr/bin/env bash
# Copies the generated CRDs into the Helm chart so that the chart never drifts from config/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "${ROOT}/charts/itops-operator/crds"
rm -f "${ROOT}/charts/itops-operator/crds/"*.yaml
cp "${ROOT}/config/crd/bases/"*.yaml "${ROOT}/charts/itops-operator/crds/"
