# itops-operator Makefile. Every tool it needs is installed into bin/ at a pinned version.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

K8S_VERSION ?= 1.37.2
ALERTMANAGER_VERSION ?= 0.35.0
# Prometheus 3.16.0 (its module version on the Go module proxy).
PROMETHEUS_VERSION ?= 0.316.0
comma := ,
GOOS := $(shell go env GOOS)
GOARCH := $(shell go env GOARCH)
LOCALBIN ?= $(CURDIR)/bin
ENVTEST_ASSETS ?= $(LOCALBIN)/k8s/$(K8S_VERSION)-$(GOOS)-$(GOARCH)

# Tool versions (go install, through the Go module proxy).
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
HELM_VERSION ?= v3.22.0

CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
HELM ?= $(LOCALBIN)/helm-$(HELM_VERSION)

# Build identity, linked into the binary (internal/version) and written into the image labels.
# VERSION is the git tag (v-prefix dropped) or, untagged, the chart's appVersion plus "-dev.<commit>";
# BUILD_DATE is the commit time (SOURCE_DATE_EPOCH), so that rebuilding a commit is reproducible.
GIT_COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
BUILD_DATE ?= $(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ)
VERSION ?= $(shell git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null | sed 's/^v//' || true)
ifeq ($(VERSION),)
VERSION := $(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$$/\1/p' charts/itops-operator/Chart.yaml)-dev.$(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
endif
VERSION_PKG := github.com/itops-dev/itops-operator/internal/version
LDFLAGS ?= -X $(VERSION_PKG).version=$(VERSION) -X $(VERSION_PKG).commit=$(GIT_COMMIT) -X $(VERSION_PKG).date=$(BUILD_DATE)
# The image's binary is static (CGO_ENABLED=0), path-free (-trimpath) and stripped (-s -w), as in the Dockerfile.
IMAGE_LDFLAGS ?= -s -w $(LDFLAGS)

# Image: `make image` writes an OCI layout without a Docker daemon (hack/image, docs/image.md).
PLATFORMS ?= linux/$(GOARCH)
IMAGE_DIR ?= $(LOCALBIN)/image
IMAGE_REPOSITORY ?= ghcr.io/itops-dev/itops-operator
IMAGE_TAG ?= $(VERSION)
CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt

# Tests: unit and envtest suites share the race-free default; e2e runs the built binary.
GO_TEST_FLAGS ?= -count=1
export KUBEBUILDER_ASSETS := $(ENVTEST_ASSETS)

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs, RBAC and webhook manifests.
	$(CONTROLLER_GEN) rbac:roleName=itops-operator crd webhook paths="./..." output:crd:artifacts:config=config/crd/bases
	@hack/webhook-selectors.sh config/webhook/manifests.yaml
	@hack/sync-chart.sh
	@hack/argocd-cm.sh

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate DeepCopy code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## go fmt.
	go fmt ./...

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## golangci-lint.
	$(GOLANGCI_LINT) run ./...

.PHONY: verify
verify: generate manifests vet lint helm-lint ## Generated code and manifests are current, go.mod tidy, vet, lint and helm lint clean.
	go mod tidy -diff
	@if [ -n "$$(git status --porcelain -- api config charts)" ]; then \
		echo "generated files are out of date; run 'make generate manifests' and commit:"; \
		git status --porcelain -- api config charts; git --no-pager diff --stat -- api config charts; exit 1; fi
	@echo "verify: generated code and manifests are up to date"

##@ Test

.PHONY: envtest-assets
envtest-assets: ## Build etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok from source into bin/k8s.
	@K8S_VERSION=$(K8S_VERSION) hack/envtest-assets.sh

.PHONY: alertmanager
alertmanager: ## Build Prometheus Alertmanager from source (module proxy) into bin/alertmanager, for the e2e suite.
	@ALERTMANAGER_VERSION=$(ALERTMANAGER_VERSION) hack/alertmanager.sh

.PHONY: prometheus
prometheus: ## Build Prometheus from source (module proxy) into bin/prometheus, for the e2e suite's SLIs from Prometheus.
	@PROMETHEUS_VERSION=$(PROMETHEUS_VERSION) hack/prometheus.sh

.PHONY: test
test: test-unit test-envtest test-image test-install test-e2e ## All tests: unit, envtest suites, the image, the chart installed for real and the end-to-end suite.

.PHONY: test-unit
test-unit: ## Unit tests of the pure packages (no API server).
	go test $(GO_TEST_FLAGS) $$(go list ./... | grep -v -e /test/ -e /controllers/ -e /internal/webhook$$)

.PHONY: test-envtest
test-envtest: envtest-assets manifests generate ## Envtest suites (real kube-apiserver and etcd).
	go test $(GO_TEST_FLAGS) $$(go list ./... | grep -e /controllers/ -e /internal/webhook$$ -e /test/ | grep -v -e /test/e2e -e /test/install -e /test/image)

.PHONY: test-install
test-install: envtest-assets manifests build $(HELM) ## The Helm chart installed, upgraded and uninstalled on the simulated cluster; values schema; kustomize server-side apply.
	ITOPS_HELM=$(HELM) ITOPS_OPERATOR_BINARY=$(LOCALBIN)/itops-operator go test $(GO_TEST_FLAGS) -timeout 10m ./test/install/...

.PHONY: test-e2e
test-e2e: envtest-assets alertmanager prometheus build plugin ## End-to-end suite: the built binaries (operator, plugin), a real Alertmanager and a real Prometheus against the simulated cluster.
	ITOPS_OPERATOR_BINARY=$(LOCALBIN)/itops-operator ITOPS_PLUGIN_BINARY=$(LOCALBIN)/kubectl-itops ITOPS_ALERTMANAGER_BINARY=$(LOCALBIN)/alertmanager/$(ALERTMANAGER_VERSION)-$(shell go env GOOS)-$(shell go env GOARCH)/alertmanager ITOPS_PROMETHEUS_BINARY=$(LOCALBIN)/prometheus/$(PROMETHEUS_VERSION)-$(shell go env GOOS)-$(shell go env GOARCH)/prometheus go test $(GO_TEST_FLAGS) -timeout 20m ./test/e2e/... -ginkgo.v

.PHONY: test-image
test-image: envtest-assets image ## The image: config, contents and SBOM checked, its entrypoint run as 65532 against a local control plane.
	ITOPS_IMAGE_DIR=$(IMAGE_DIR) go test $(GO_TEST_FLAGS) -timeout 5m ./test/image/...

.PHONY: bench
bench: ## Benchmarks of the pure packages.
	go test -run '^$$' -bench . -benchmem ./internal/...

.PHONY: bench-detection
bench-detection: envtest-assets build ## Detection latency (CrashLoopBackOff, PodUnschedulable) and operator memory next to a bare informer, 10000 realistic pods on the simulated cluster.
	go run ./test/bench/detection $(BENCH_ARGS)

.PHONY: bench-gate
bench-gate: envtest-assets build ## Change gate admission latency of Deployment updates against a no-op webhook floor, with 1000 ChangeRequests.
	go run ./test/bench/gate $(BENCH_ARGS)

.PHONY: noise-budget
noise-budget: envtest-assets build ## Fault scenarios on the simulated cluster: incidents opened and pages per fault (docs/incidents.md, "Noise budget").
	go run ./test/noise $(NOISE_ARGS)

##@ Build

.PHONY: build
build: generate ## Build bin/itops-operator.
	go build -ldflags "$(LDFLAGS)" -o $(LOCALBIN)/itops-operator ./cmd

.PHONY: image
image: ## Build the image as an OCI layout and oci-archive in bin/image (PLATFORMS=linux/amd64,linux/arm64 for an index of several), with SBOMs.
	rm -rf $(IMAGE_DIR)/build
	for p in $(subst $(comma), ,$(PLATFORMS)); do \
		os=$${p%%/*}; rest=$${p#*/}; arch=$${rest%%/*}; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch go build -trimpath -ldflags "$(IMAGE_LDFLAGS)" -o $(IMAGE_DIR)/build/$${os}_$${arch}/itops-operator ./cmd; \
	done
	go run ./hack/image build --bin-dir $(IMAGE_DIR)/build --out $(IMAGE_DIR) --platforms $(PLATFORMS) --ca-bundle $(CA_BUNDLE) \
		--version $(VERSION) --revision $(GIT_COMMIT) --created $(BUILD_DATE) --name $(IMAGE_REPOSITORY):$(IMAGE_TAG)

.PHONY: image-push
image-push: ## Push the image built by `make image` to IMAGE (default IMAGE_REPOSITORY:IMAGE_TAG) with its SBOMs as OCI referrers.
	go run ./hack/image push --out $(IMAGE_DIR) $(or $(IMAGE),$(IMAGE_REPOSITORY):$(IMAGE_TAG))

.PHONY: docker-build
docker-build: ## With Docker (BuildKit): the same image from the Dockerfile, tagged IMAGE_REPOSITORY:IMAGE_TAG (not needed here: see make image).
	docker buildx build --platform $(PLATFORMS) --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(GIT_COMMIT) \
		--build-arg BUILD_DATE=$(BUILD_DATE) --sbom=true -t $(IMAGE_REPOSITORY):$(IMAGE_TAG) .

.PHONY: version
version: ## Print the version, commit and build date that builds link in.
	@echo "version=$(VERSION) commit=$(GIT_COMMIT) date=$(BUILD_DATE)"

PLUGIN_VERSION ?= $(VERSION)

.PHONY: plugin
plugin: ## Build the kubectl plugin bin/kubectl-itops (put bin/ on PATH, then: kubectl itops status).
	go build -ldflags "-X github.com/itops-dev/itops-operator/internal/cli.Version=$(PLUGIN_VERSION)" -o $(LOCALBIN)/kubectl-itops ./cmd/kubectl-itops
	printf '#!/usr/bin/env sh\n# kubectl (1.26+) runs this for: kubectl itops <TAB>\nexec kubectl-itops __complete "$$@"\n' > $(LOCALBIN)/kubectl_complete-itops
	chmod +x $(LOCALBIN)/kubectl_complete-itops

.PHONY: plugin-dist
plugin-dist: ## Cross-build kubectl-itops archives for krew (linux, darwin, windows; amd64, arm64) into bin/plugin-dist, with sha256 sums and the filled krew manifest bin/plugin-dist/itops.yaml (slow: not part of make test).
	go run ./hack/plugin-dist -version $(PLUGIN_VERSION) -out $(LOCALBIN)/plugin-dist

.PHONY: run
run: manifests generate ## Run the operator against the current kubeconfig.
	go run ./cmd --enable-webhooks=false

.PHONY: demo
demo: envtest-assets build plugin ## Start a local simulated cluster, run the operator and narrate what it does (people act with bin/kubectl-itops).
	ITOPS_PLUGIN_BINARY=$(LOCALBIN)/kubectl-itops go run ./hack/demo

.PHONY: helm-lint
helm-lint: $(HELM) ## Lint the Helm chart.
	$(HELM) lint charts/itops-operator

##@ Tools

$(LOCALBIN):
	mkdir -p $(LOCALBIN)

$(CONTROLLER_GEN): | $(LOCALBIN)
	@echo "installing controller-gen $(CONTROLLER_TOOLS_VERSION) into bin/"
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $(CONTROLLER_GEN)

$(GOLANGCI_LINT): | $(LOCALBIN)
	@echo "installing golangci-lint $(GOLANGCI_LINT_VERSION) into bin/ (a few minutes the first time)"
	GOBIN=$(LOCALBIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(LOCALBIN)/golangci-lint $(GOLANGCI_LINT)

$(HELM): | $(LOCALBIN)
	@echo "installing helm $(HELM_VERSION) into bin/"
	GOBIN=$(LOCALBIN) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(LOCALBIN)/helm $(HELM)
