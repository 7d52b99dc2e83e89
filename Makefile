# Every target sets up what it needs: npm packages (which bring Node 24), and the local control
# plane binaries built from hack/controlplane. Nothing here needs Docker or a cluster.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/hack/bin:$(PATH)

NPM_STAMP := node_modules/.installed

.PHONY: all deps controlplane tools manifests lint test test-unit test-integration test-e2e bench run cluster cluster-down clean images deploy undeploy install-yaml test-e2e-kind

all: test

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@node --version | grep -q '^v24\.' || { echo "error: node_modules/.bin/node is not Node 24" >&2; exit 1; }
	touch $@

deps: $(NPM_STAMP)

controlplane:
	hack/build-controlplane.sh

# helm, promtool, kstatus and health-lua from the pinned module in hack/tools (the chart, alert
# rules and GitOps health tests run them).
tools:
	hack/build-tools.sh

manifests: deps
	node hack/generate-crds.ts

lint: deps
	biome check .
	tsc --noEmit -p tsconfig.json

test-unit: deps tools
	vitest run --project unit --coverage

test-integration: deps controlplane tools
	vitest run --project integration

test-e2e: deps controlplane tools
	vitest run --project e2e

test: lint test-unit test-integration test-e2e

bench: deps controlplane
	node bench/run.ts

run: deps controlplane
	node hack/run.ts

cluster: deps controlplane
	node hack/cluster.ts up

cluster-down: deps
	node hack/cluster.ts down

clean:
	rm -rf node_modules coverage .run hack/bin

# Images and deployment to a real cluster ($KUBECONFIG or the current context). These need
# Docker, or a cluster of yours; the targets above do not.
IMG ?= gastown-operator:dev
AGENT_IMG ?= gastown-agent:dev
# npm package of a coding-agent CLI to bake into the agent image; empty: the demo agent only.
AGENT_CLI_NPM_PACKAGE ?=
DOCKER ?= docker

images:
	$(DOCKER) build -t $(IMG) -f Dockerfile .
	$(DOCKER) build -t $(AGENT_IMG) -f images/agent/Dockerfile --build-arg AGENT_CLI_NPM_PACKAGE=$(AGENT_CLI_NPM_PACKAGE) .

# Applies manifests/base with the operator image set to IMG, then waits for the rollout. Uses the
# kubectl on PATH; only without one is the local control plane's kubectl built.
KUBECTL_OR_BUILD = command -v kubectl >/dev/null || hack/build-controlplane.sh
deploy: deps
	@$(KUBECTL_OR_BUILD)
	node hack/deploy.ts apply --image $(IMG)

# Also deletes the CRDs, and with them every Gas Town object in the cluster.
undeploy: deps
	@$(KUBECTL_OR_BUILD)
	node hack/deploy.ts delete

# One file to `kubectl apply -f`: manifests/base (namespace, CRDs, RBAC, Deployment, policies) with IMG.
install-yaml: deps
	@$(KUBECTL_OR_BUILD)
	mkdir -p dist
	node hack/deploy.ts render --image $(IMG) > dist/install.yaml
	@echo "wrote dist/install.yaml (operator image $(IMG))"

test-e2e-kind: deps controlplane
	IMG=$(IMG) AGENT_IMG=$(AGENT_IMG) DOCKER=$(DOCKER) hack/e2e-kind.sh
