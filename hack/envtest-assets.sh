#!/usr/bin/env bash
# Builds the control-plane binaries used by envtest, the e2e suite and `make demo`
# from source, through the Go module proxy only (no prebuilt downloads):
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, and a kubectl of
#   the same release for the demo and the e2e suite.
#
# Output: bin/k8s/<K8S_VERSION>-linux-amd64/. Built binaries are also kept in a
# per-user cache (ITOPS_ASSETS_CACHE, default ~/.cache/itops-operator) so that a
# fresh clone on the same machine (CI) reuses them instead of relinking.
#
# Usage: hack/envtest-assets.sh [component ...]   (default: all)
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-0.8.0}"
STAGING_VERSION="v0.${K8S_VERSION#1.}"   # k8s.io/kubernetes v1.37.2 -> staging modules v0.37.2

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GOOS="$(go env GOOS)"; GOARCH="$(go env GOARCH)"
OUT="${ROOT}/bin/k8s/${K8S_VERSION}-${GOOS}-${GOARCH}"
CACHE="${ITOPS_ASSETS_CACHE:-${HOME}/.cache/itops-operator}/k8s/${K8S_VERSION}-${GOOS}-${GOARCH}-etcd${ETCD_VERSION}-kwok${KWOK_VERSION}"
WORK="${ROOT}/bin/.build"

components=("$@")
if [ ${#components[@]} -eq 0 ]; then
  components=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok kubectl)
fi

log() { printf '[envtest-assets %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

mkdir -p "${OUT}" "${CACHE}" "${WORK}"

# Keep the build's progress visible while `go build` works silently for minutes.
with_ticker() {
  local label="$1"; shift
  local start=$SECONDS
  ( while sleep 30; do log "  ... still building ${label} ($((SECONDS - start))s)"; done ) &
  local ticker=$!
  local rc=0
  "$@" || rc=$?
  kill "${ticker}" 2>/dev/null || true
  wait "${ticker}" 2>/dev/null || true
  return "${rc}"
}

# prepare_module DIR PKG...: a throwaway module that imports the given main packages
# through a tools file (the caller adds the require).
prepare_module() {
  local dir="$1"; shift
  mkdir -p "${dir}"
  ( cd "${dir}"
    if [ ! -f go.mod ]; then
      go mod init itops.dev/envtest-assets/"$(basename "${dir}")" >/dev/null 2>&1
    fi
    {
      echo '//go:build tools'
      echo
      echo 'package tools'
      echo
      echo 'import ('
      for p in "$@"; do echo "	_ \"${p}\""; done
      echo ')'
    } > tools.go
  )
}

k8s_module() {
  local dir="${WORK}/kubernetes-${K8S_VERSION}"
  if [ -f "${dir}/.ready-2" ]; then echo "${dir}"; return; fi
  log "preparing a module that requires k8s.io/kubernetes v${K8S_VERSION}" >&2
  prepare_module "${dir}" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kubectl \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler
  ( cd "${dir}"
    # k8s.io/kubernetes points its staging modules at ./staging/src/...; replace
    # each with the published version of the same release.
    local gomod
    gomod="$(go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
    go mod edit -require="k8s.io/kubernetes@v${K8S_VERSION}"
    local n=0
    for m in $(sed -n 's#^[[:space:]]*\(k8s.io/[^[:space:]]*\) => ./staging/src/.*#\1#p' "${gomod}"); do
      go mod edit -replace="${m}=${m}@${STAGING_VERSION}"
      n=$((n + 1))
    done
    log "replaced ${n} staging modules with ${STAGING_VERSION}; go mod tidy" >&2
    go mod tidy >&2
  )
  touch "${dir}/.ready-2"
  echo "${dir}"
}

build() {
  local name="$1" dir="$2" pkg="$3" ldflags="${4:-}"
  log "building ${name} (${pkg})"
  local start=$SECONDS
  ( cd "${dir}" && with_ticker "${name}" go build -trimpath -ldflags "-s -w ${ldflags}" -o "${CACHE}/${name}.tmp" "${pkg}" )
  mv "${CACHE}/${name}.tmp" "${CACHE}/${name}"
  log "built ${name} in $((SECONDS - start))s"
}

k8s_ldflags="-X k8s.io/component-base/version.gitVersion=v${K8S_VERSION} \
-X k8s.io/component-base/version.gitMajor=1 \
-X k8s.io/component-base/version.gitMinor=$(echo "${K8S_VERSION}" | cut -d. -f2) \
-X k8s.io/component-base/version.gitTreeState=clean \
-X k8s.io/client-go/pkg/version.gitVersion=v${K8S_VERSION}"

for c in "${components[@]}"; do
  if [ -x "${OUT}/${c}" ]; then
    log "${c}: up to date in ${OUT#${ROOT}/}"
    continue
  fi
  if [ ! -x "${CACHE}/${c}" ]; then
    case "${c}" in
      etcd)
        dir="${WORK}/etcd-${ETCD_VERSION}"
        if [ ! -f "${dir}/.ready-2" ]; then
          log "preparing a module that requires go.etcd.io/etcd/server/v3 v${ETCD_VERSION}"
          prepare_module "${dir}" go.etcd.io/etcd/server/v3
          ( cd "${dir}" && go mod edit -require="go.etcd.io/etcd/server/v3@v${ETCD_VERSION}" && go mod tidy )
          touch "${dir}/.ready-2"
        fi
        build etcd "${dir}" go.etcd.io/etcd/server/v3
        ;;
      kube-apiserver|kube-controller-manager|kube-scheduler|kubectl)
        dir="$(k8s_module)"
        build "${c}" "${dir}" "k8s.io/kubernetes/cmd/${c}" "${k8s_ldflags}"
        ;;
      kwok)
        dir="${WORK}/kwok-${KWOK_VERSION}"
        if [ ! -f "${dir}/.ready-2" ]; then
          log "preparing a module that requires sigs.k8s.io/kwok v${KWOK_VERSION}"
          prepare_module "${dir}" sigs.k8s.io/kwok/cmd/kwok
          ( cd "${dir}" && go mod edit -require="sigs.k8s.io/kwok@v${KWOK_VERSION}" && go mod tidy )
          touch "${dir}/.ready-2"
        fi
        build kwok "${dir}" sigs.k8s.io/kwok/cmd/kwok
        ;;
      *) echo "unknown component ${c}" >&2; exit 2 ;;
    esac
  else
    log "${c}: reusing the build cached in ${CACHE}"
  fi
  cp "${CACHE}/${c}" "${OUT}/${c}.tmp" && mv "${OUT}/${c}.tmp" "${OUT}/${c}"
done
log "control plane ready in ${OUT#${ROOT}/}"
