# Every target sets up what it needs: npm packages (which bring Node 24), the local control plane
# binaries built from hack/controlplane, and for images and kind a Docker engine (the user's when
# one answers, else a private one: hack/docker.ts). No target needs a cluster of yours.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/hack/bin:$(PATH)

NPM_STAMP := node_modules/.installed

.PHONY: all deps controlplane tools manifests lint test test-unit test-integration test-e2e bench run cluster cluster-down clean images kind-node-image docker-up docker-down deploy undeploy install-yaml test-e2e-kind

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

test: lint test-unit test-integration test-e2e test-e2e-kind

bench: deps controlplane
	node bench/run.ts

# AGENT=claude-code|codex|pi: every session is that real CLI, against a scripted model on loopback.
AGENT ?=
run: deps controlplane
	node hack/run.ts $(if $(AGENT),--agent=$(AGENT))

cluster: deps controlplane
	node hack/cluster.ts up

cluster-down: deps
	node hack/cluster.ts down

clean:
	-[ ! -x node_modules/.bin/node ] || node hack/docker.ts down
	rm -rf node_modules coverage .run .cache hack/bin

# Images, kind, and deployment to a real cluster ($KUBECONFIG or the current context). Images use
# the Docker engine that answers (DOCKER_HOST, or the client's default); without one, a private
# dockerd (Debian's docker.io, installed when missing; state in .run/docker) for the command.
IMG ?= gastown-operator:dev
AGENT_IMG ?= gastown-agent:dev
# Coding-agent presets to bake into the agent image at their pinned versions, e.g.
# AGENT_CLIS="claude-code codex pi"; AGENT_CLI_NPM_PACKAGE adds any npm package (agents.cli=custom).
AGENT_CLIS ?=
AGENT_CLI_NPM_PACKAGE ?=
DOCKER ?= docker
IMAGE_ENV = IMG=$(IMG) AGENT_IMG=$(AGENT_IMG) AGENT_CLI_NPM_PACKAGE=$(AGENT_CLI_NPM_PACKAGE) AGENT_CLIS="$(AGENT_CLIS)" DOCKER=$(DOCKER)

# Pulls the Dockerfiles' public bases, or builds equivalents offline (hack/images.sh).
images: deps
	$(IMAGE_ENV) node hack/docker.ts run -- hack/images.sh

# The kind node image from hack/kind's pins, unless kind's own can be pulled (hack/kind/node-image.sh).
kind-node-image: deps controlplane
	node hack/docker.ts run -- hack/kind/node-image.sh

# A private Docker engine that outlives commands (for a kept kind cluster); docker-down stops it.
docker-up: deps
	node hack/docker.ts up
docker-down: deps
	node hack/docker.ts down

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

# Real pods: images, a kind node image, a kind cluster with the operator deployed, the scenarios
# in test/e2e-kind, and a check that nothing is left behind (test/e2e-kind/setup.ts). Its agent
# image carries AGENT_CLIS plus pi, the real CLI of test/e2e-kind/real-cli-convoy.test.ts.
test-e2e-kind: deps controlplane
	$(IMAGE_ENV) vitest run --project e2e-kind
