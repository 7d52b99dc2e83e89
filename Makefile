# Every target sets up what it needs: npm packages (which bring Node 24), and the local control
# plane binaries built from hack/controlplane. Nothing here needs Docker or a cluster.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/hack/bin:$(PATH)

NPM_STAMP := node_modules/.installed

.PHONY: all deps controlplane manifests lint test test-unit test-integration test-e2e bench run cluster cluster-down clean

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
	vitest run --project e2e --passWithNoTests

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
