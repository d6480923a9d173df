# itops-operator Makefile. Every tool it needs is installed into bin/ at a pinned version.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

K8S_VERSION ?= 1.37.2
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

.PHONY: test
test: test-unit test-envtest test-e2e ## All tests: unit, envtest suites and the end-to-end suite.

.PHONY: test-unit
test-unit: ## Unit tests of the pure packages (no API server).
	go test $(GO_TEST_FLAGS) $$(go list ./... | grep -v -e /test/ -e /controllers/ -e /internal/webhook$$)

.PHONY: test-envtest
test-envtest: envtest-assets manifests generate ## Envtest suites (real kube-apiserver and etcd).
	go test $(GO_TEST_FLAGS) $$(go list ./... | grep -e /controllers/ -e /internal/webhook$$ -e /test/ | grep -v /test/e2e)

.PHONY: test-e2e
test-e2e: envtest-assets build plugin ## End-to-end suite: the built binaries against the simulated cluster.
	ITOPS_OPERATOR_BINARY=$(LOCALBIN)/itops-operator ITOPS_PLUGIN_BINARY=$(LOCALBIN)/kubectl-itops go test $(GO_TEST_FLAGS) -timeout 20m ./test/e2e/... -ginkgo.v

.PHONY: bench
bench: ## Benchmarks of the pure packages.
	go test -run '^$$' -bench . -benchmem ./internal/...

.PHONY: bench-detection
bench-detection: envtest-assets build ## Detection latency and operator memory with 5000 pods on the simulated cluster.
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
	go build -o $(LOCALBIN)/itops-operator ./cmd

PLUGIN_VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: plugin
plugin: ## Build the kubectl plugin bin/kubectl-itops (put bin/ on PATH, then: kubectl itops status).
	go build -ldflags "-X github.com/itops-dev/itops-operator/internal/cli.Version=$(PLUGIN_VERSION)" -o $(LOCALBIN)/kubectl-itops ./cmd/kubectl-itops
	printf '#!/usr/bin/env sh\n# kubectl (1.26+) runs this for: kubectl itops <TAB>\nexec kubectl-itops __complete "$$@"\n' > $(LOCALBIN)/kubectl_complete-itops
	chmod +x $(LOCALBIN)/kubectl_complete-itops

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
