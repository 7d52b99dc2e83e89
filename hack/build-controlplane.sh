#!/usr/bin/env bash
# Builds the local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl, kwok) from the Go module pinned in hack/controlplane into hack/bin. Skips the build when
# every binary exists and was built from the current pins (a hash of go.mod, go.sum and this script).
set -euo pipefail
cd "$(dirname "$0")"
out="$PWD/bin"
pins="$(cat controlplane/go.mod controlplane/go.sum build-controlplane.sh | sha256sum | cut -d' ' -f1)"
binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)

up_to_date() {
  [[ -f "$out/.pins" && "$(cat "$out/.pins")" == "$pins" ]] || return 1
  for b in "${binaries[@]}"; do [[ -x "$out/$b" ]] || return 1; done
}

if up_to_date; then
  echo "control plane binaries are up to date ($out)"
  exit 0
fi

command -v go >/dev/null || { echo "error: go is required to build the local control plane (install Go >= 1.26)" >&2; exit 1; }
echo "building the local control plane into $out (first build takes several minutes)"
mkdir -p "$out"
rm -f "$out/.pins"
cd controlplane
export GOFLAGS="-mod=mod -trimpath" CGO_ENABLED=0
# Stamp the Kubernetes version the way upstream's release build does, so /version and kubectl
# report v1.x.y instead of v0.0.0-master.
kube="$(awk '$1 == "k8s.io/kubernetes" { print $2 }' go.mod)"
minor="$(cut -d. -f2 <<<"$kube")"
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$kube -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
done
go build -ldflags='-s -w' -o "$out/etcd" go.etcd.io/etcd/server/v3
go build -ldflags="$ldflags" -o "$out/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubectl \
  sigs.k8s.io/kwok/cmd/kwok
echo "$pins" > "$out/.pins"
"$out/kube-apiserver" --version
