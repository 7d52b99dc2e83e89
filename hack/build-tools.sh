#!/usr/bin/env bash
# Builds the tools the tests run, from the Go module pinned in hack/tools, into hack/bin:
#   helm        (helm.sh/helm/v3)            lint, template and install the chart
#   promtool    (github.com/prometheus/prometheus)  check and unit-test the alert rules
#   kstatus     (hack/tools/kstatus, on sigs.k8s.io/cli-utils)  kstatus verdict of objects
#   health-lua  (hack/tools/health-lua, on github.com/yuin/gopher-lua)  Argo CD health scripts
# Skips the build when every binary exists and was built from the current pins (a hash of go.mod,
# go.sum, this script and the sources of the two small commands).
set -euo pipefail
cd "$(dirname "$0")"
out="$PWD/bin"
stamp="$out/.tools-pins"
pins="$(cat tools/go.mod tools/go.sum build-tools.sh tools/kstatus/*.go tools/health-lua/*.go | sha256sum | cut -d' ' -f1)"
binaries=(helm promtool kstatus health-lua)

up_to_date() {
  [[ -f "$stamp" && "$(cat "$stamp")" == "$pins" ]] || return 1
  for b in "${binaries[@]}"; do [[ -x "$out/$b" ]] || return 1; done
}

if up_to_date; then
  echo "tools are up to date ($out)"
  exit 0
fi

command -v go >/dev/null || { echo "error: go is required to build the test tools (install Go >= 1.26)" >&2; exit 1; }
echo "building helm, promtool, kstatus and health-lua into $out (first build takes several minutes)"
mkdir -p "$out"
rm -f "$stamp"
cd tools
export GOFLAGS="-mod=mod -trimpath" CGO_ENABLED=0
helm_version="$(awk '$1 == "helm.sh/helm/v3" { print $2 }' go.mod)"
kube_minor="$(awk '$1 == "k8s.io/client-go" { print $2 }' go.mod | cut -d. -f2)"
# As Helm's own Makefile does: its version, and the Kubernetes version `helm template` and
# `helm lint` assume without a cluster (else v1.20, below the chart's kubeVersion).
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$helm_version"
for pkg in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  ldflags+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$kube_minor"
done
go build -ldflags="$ldflags" -o "$out/helm" helm.sh/helm/v3/cmd/helm
go build -ldflags='-s -w' -o "$out/" github.com/prometheus/prometheus/cmd/promtool ./kstatus ./health-lua
echo "$pins" > "$stamp"
"$out/helm" version --short
