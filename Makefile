# Every target sets up what it needs: npm packages (which bring Node 24), and the local control
# plane binaries built from hack/controlplane. Nothing here needs Docker or a cluster.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/hack/bin:$(PATH)

NPM_STAMP := node_modules/.installed

.PHONY: all deps controlplane manifests lint test test-unit test-integration test-e2e bench run cluster cluster-down clean images deploy undeploy test-e2e-kind

all: test

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@node --version | grep -q '^v24\.' || { echo "error: node_modules/.bin/node is not Node 24" >&2; exit 1; }
	touch $@

deps: $(NPM_STAMP)

controlplane:
	hack/build-controlplane.sh

manifests: deps
	node hack/generate-crds.ts

lint: deps
	biome check .
	tsc --noEmit -p tsconfig.json

test-unit: deps
	vitest run --project unit --coverage

test-integration: deps controlplane
	vitest run --project integration

test-e2e: deps controlplane
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

# Applies manifests/base with the operator image set to IMG, then waits for the rollout.
deploy: deps controlplane
	node hack/deploy.ts apply --image $(IMG)

# Also deletes the CRDs, and with them every Gas Town object in the cluster.
undeploy: deps controlplane
	node hack/deploy.ts delete

test-e2e-kind: deps controlplane
	IMG=$(IMG) AGENT_IMG=$(AGENT_IMG) DOCKER=$(DOCKER) hack/e2e-kind.sh
