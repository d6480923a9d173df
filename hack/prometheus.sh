#!/usr/bin/env bash
# Builds Prometheus from source, through the Go module proxy only (no prebuilt downloads), for
# the e2e suite's "SLIs from Prometheus" specs (a real Prometheus scrapes an exporter the test
# controls, and the operator queries it) and for checking generated PrometheusRules
# (ITOPS_PROMETHEUS_BINARY).
#
# Prometheus 3.x is published on the module proxy as github.com/prometheus/prometheus
# v0.3xx.y (v0.316.0 is Prometheus 3.16.0).
#
# Output: bin/prometheus/<PROMETHEUS_VERSION>-<os>-<arch>/prometheus. The built binary is also
# kept in the per-user cache (ITOPS_ASSETS_CACHE, default ~/.cache/itops-operator), like the
# control plane (hack/envtest-assets.sh) and Alertmanager (hack/alertmanager.sh), so that a
# fresh clone on the same machine (CI) reuses it instead of rebuilding.
#
# Usage: hack/prometheus.sh
set -euo pipefail

PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-0.316.0}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GOOS="$(go env GOOS)"; GOARCH="$(go env GOARCH)"
OUT="${ROOT}/bin/prometheus/${PROMETHEUS_VERSION}-${GOOS}-${GOARCH}"
CACHE="${ITOPS_ASSETS_CACHE:-${HOME}/.cache/itops-operator}/prometheus/${PROMETHEUS_VERSION}-${GOOS}-${GOARCH}"

log() { printf '[prometheus %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

if [ -x "${OUT}/prometheus" ]; then
  log "prometheus v${PROMETHEUS_VERSION}: up to date in ${OUT#"${ROOT}"/}"
  exit 0
fi
mkdir -p "${OUT}" "${CACHE}"

if [ -x "${CACHE}/prometheus" ]; then
  log "prometheus v${PROMETHEUS_VERSION}: reusing the build cached in ${CACHE}"
else
  log "building github.com/prometheus/prometheus/cmd/prometheus@v${PROMETHEUS_VERSION} from the Go module proxy (cold: about 4 minutes on 2 cores)"
  start=$SECONDS
  # Keep the build's progress visible while `go build` works silently for minutes.
  ( while sleep 30; do log "  ... still building prometheus ($((SECONDS - start))s)"; done ) &
  ticker=$!
  trap 'kill "${ticker}" 2>/dev/null || true' EXIT
  # The source tree lives in the cache, outside the repository: its go.work would break tools
  # that walk the tree for nested modules (controller-gen paths=./...).
  src="${CACHE%/*}/src-${PROMETHEUS_VERSION}"
  rc=0
  if [ ! -f "${src}/.ready" ]; then
    log "downloading github.com/prometheus/prometheus@v${PROMETHEUS_VERSION} (module proxy)"
    moddir="$(go mod download -json "github.com/prometheus/prometheus@v${PROMETHEUS_VERSION}" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')"
    rm -rf "${src}" && mkdir -p "$(dirname "${src}")" && cp -r "${moddir}" "${src}" && chmod -R u+w "${src}"
    touch "${src}/.ready"
  fi
  # GOWORK=off: the module ships a go.work naming directories (compliance, internal/tools,
  # the UI's tools) that are not in the module zip. No builtinassets tag: the React UI's
  # built assets are not in the module zip either (npm builds them in the release process),
  # so the UI is not embedded; the HTTP API (/api/v1), scraping, rules and the TSDB, all the
  # tests use, are unaffected. The module's own go.mod and go.sum pin the dependencies.
  # remove_all_sd: Prometheus' own build tag (plugins/) that leaves out every service discovery
  # but file and http (no cloud SDKs, no client-go): the tests scrape with static_configs, and
  # the cold build takes about 4 minutes on 2 cores instead of over 8.
  ( cd "${src}" && GOWORK=off GOFLAGS=-buildvcs=false go build -tags remove_all_sd -trimpath -o "${CACHE}/prometheus.tmp" \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=$(cat "${src}/VERSION" 2>/dev/null || echo "${PROMETHEUS_VERSION}") \
-X github.com/prometheus/common/version.Branch=HEAD \
-X github.com/prometheus/common/version.BuildUser=itops-operator" \
    ./cmd/prometheus ) || rc=$?
  kill "${ticker}" 2>/dev/null || true
  wait "${ticker}" 2>/dev/null || true
  if [ "${rc}" -ne 0 ]; then
    log "building prometheus failed (exit ${rc})"
    exit "${rc}"
  fi
  mv "${CACHE}/prometheus.tmp" "${CACHE}/prometheus"
  log "built prometheus in $((SECONDS - start))s"
fi
cp "${CACHE}/prometheus" "${OUT}/prometheus.tmp" && mv "${OUT}/prometheus.tmp" "${OUT}/prometheus"
log "prometheus ready in ${OUT#"${ROOT}"/}"
