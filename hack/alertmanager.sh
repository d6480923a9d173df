#!/usr/bin/env bash
# Builds Prometheus Alertmanager from source, through the Go module proxy only (no prebuilt
# downloads), for the e2e suite's "Alertmanager in" specs: a real Alertmanager delivers its
# webhook notifications to the operator.
#
# Output: bin/alertmanager/<ALERTMANAGER_VERSION>-<os>-<arch>/alertmanager. The built binary is
# also kept in the per-user cache (ITOPS_ASSETS_CACHE, default ~/.cache/itops-operator), like
# the control plane (hack/envtest-assets.sh), so that a fresh clone on the same machine (CI)
# reuses it instead of rebuilding.
#
# Usage: hack/alertmanager.sh
set -euo pipefail

ALERTMANAGER_VERSION="${ALERTMANAGER_VERSION:-0.35.0}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GOOS="$(go env GOOS)"; GOARCH="$(go env GOARCH)"
OUT="${ROOT}/bin/alertmanager/${ALERTMANAGER_VERSION}-${GOOS}-${GOARCH}"
CACHE="${ITOPS_ASSETS_CACHE:-${HOME}/.cache/itops-operator}/alertmanager/${ALERTMANAGER_VERSION}-${GOOS}-${GOARCH}"

log() { printf '[alertmanager %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

if [ -x "${OUT}/alertmanager" ]; then
  log "alertmanager v${ALERTMANAGER_VERSION}: up to date in ${OUT#"${ROOT}"/}"
  exit 0
fi
mkdir -p "${OUT}" "${CACHE}"

if [ -x "${CACHE}/alertmanager" ]; then
  log "alertmanager v${ALERTMANAGER_VERSION}: reusing the build cached in ${CACHE}"
else
  log "building github.com/prometheus/alertmanager/cmd/alertmanager@v${ALERTMANAGER_VERSION} from the Go module proxy (cold: a few minutes)"
  start=$SECONDS
  # Keep the build's progress visible while `go build` works silently for minutes.
  ( while sleep 30; do log "  ... still building alertmanager ($((SECONDS - start))s)"; done ) &
  ticker=$!
  trap 'kill "${ticker}" 2>/dev/null || true' EXIT
  # The module zip lacks the web UI's build output (ui/app/dist, made by npm in the release
  # process) that ui/web.go embeds: build from a copy of the module's source with a placeholder
  # UI. The API (/api/v2), the webhook notifier and everything the tests use are unaffected.
  src="${ROOT}/bin/.build/alertmanager-${ALERTMANAGER_VERSION}"
  rc=0
  if [ ! -f "${src}/.ready" ]; then
    log "downloading github.com/prometheus/alertmanager@v${ALERTMANAGER_VERSION} (module proxy)"
    moddir="$(go mod download -json "github.com/prometheus/alertmanager@v${ALERTMANAGER_VERSION}" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')"
    rm -rf "${src}" && mkdir -p "$(dirname "${src}")" && cp -r "${moddir}" "${src}" && chmod -R u+w "${src}"
    for ui in elm mantine; do
      mkdir -p "${src}/ui/app/dist/${ui}"
      echo '<!doctype html><title>Alertmanager</title><p>UI not built (itops-operator test build); use the API.' > "${src}/ui/app/dist/${ui}/index.html"
    done
    touch "${src}/.ready"
  fi
  # The module's own go.mod and go.sum pin the dependencies (fetched from the module proxy).
  ( cd "${src}" && GOFLAGS=-buildvcs=false go build -trimpath -o "${CACHE}/alertmanager.tmp" \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=${ALERTMANAGER_VERSION} \
-X github.com/prometheus/common/version.Branch=HEAD \
-X github.com/prometheus/common/version.BuildUser=itops-operator" \
    ./cmd/alertmanager ) || rc=$?
  kill "${ticker}" 2>/dev/null || true
  wait "${ticker}" 2>/dev/null || true
  if [ "${rc}" -ne 0 ]; then
    log "building alertmanager failed (exit ${rc})"
    exit "${rc}"
  fi
  mv "${CACHE}/alertmanager.tmp" "${CACHE}/alertmanager"
  log "built alertmanager in $((SECONDS - start))s"
fi
cp "${CACHE}/alertmanager" "${OUT}/alertmanager.tmp" && mv "${OUT}/alertmanager.tmp" "${OUT}/alertmanager"
log "alertmanager ready in ${OUT#"${ROOT}"/}"
