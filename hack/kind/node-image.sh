#!/usr/bin/env bash
# `make kind-node-image`: a kind node image built from this repository's pins, so that
# `kind build node-image --type file` and `kind create cluster` pull nothing.
#
#   hack/kind/node-image.sh           print the node image to use: kind's own when it can be
#                                     pulled, else the one built here (built when out of date)
#   hack/kind/node-image.sh binaries  build the pinned tools only, print their directory
#
# What kind would download, and what is used instead:
# - the Kubernetes server tarball: kubeadm, kubelet, kube-proxy from hack/kind's pins (the same
#   k8s.io/kubernetes version as hack/controlplane, checked below); kube-apiserver,
#   kube-controller-manager, kube-scheduler, kubectl and etcd from hack/bin (make controlplane);
# - its base image (kindest/base, which clones and compiles containerd, runc, crictl, CNI): Debian
#   packages plus containerd v2 and crictl from the pins (base.Dockerfile);
# - the images its build fetches (etcd, coredns, pause, kindnetd, local-path-provisioner and
#   -helper, names read from the pinned kind and kubeadm themselves): built here and bundled in
#   the tarball's kube-apiserver.tar, which kind loads instead of fetching.
# The one placeholder: kindnetd has no source on the Go module proxy. A static CNI configuration
# replaces it (files/), which limits a cluster to one node, kind's default pod subnet and no
# NetworkPolicy. local-path-provisioner is upstream's (an older release than kind's fork, the
# newest on the proxy), its helper image busybox's sh, mkdir and rm: PersistentVolumeClaims bind.
#
# Cached: every output carries the hash of its inputs (hack/kind/**, the control plane pins and
# binaries, the Debian base); nothing is rebuilt until one of them changes. Go's build cache keeps
# the rebuild of binaries incremental.
#
# Environment: DOCKER, DOCKER_BUILD_FLAGS (hack/docker.ts), KIND_NODE_IMAGE_NAME (default
# gastown-kind-node:<kubernetes version>).
set -euo pipefail
cd "$(dirname "$0")/../.."

DOCKER=${DOCKER:-docker}
read -r -a BUILD_FLAGS <<<"${DOCKER_BUILD_FLAGS:-}"
LABEL=dev.gastown.inputs
HERE=hack/kind
CACHE=.cache/kind
BIN=$CACHE/bin
CP_BIN=hack/bin

say() { echo "kind-node-image: $*" >&2; }
die() {
  echo "kind-node-image: error: $*" >&2
  exit 1
}
sha() { sha256sum | cut -c1-16; }
stamp_of() { "$DOCKER" image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$1" 2>/dev/null || true; }
module_version() { awk -v m="$1" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$2"; }

KUBE_VERSION=$(module_version k8s.io/kubernetes $HERE/go.mod)
CP_VERSION=$(module_version k8s.io/kubernetes hack/controlplane/go.mod)
[ "$KUBE_VERSION" = "$CP_VERSION" ] ||
  die "hack/kind pins k8s.io/kubernetes $KUBE_VERSION, hack/controlplane $CP_VERSION: pin both to one version"
for b in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd; do
  [ -x "$CP_BIN/$b" ] || die "$CP_BIN/$b missing: run make controlplane"
done
NODE_IMAGE=${KIND_NODE_IMAGE_NAME:-gastown-kind-node:$KUBE_VERSION}

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# docker build, quiet unless it fails.
dbuild() {
  if ! "$DOCKER" build "${BUILD_FLAGS[@]}" "$@" >"$WORK/build.log" 2>&1; then
    tail -40 "$WORK/build.log" >&2
    die "docker build $* failed"
  fi
}

# 1. Binaries from the pins (static; the Kubernetes ones stamped with their version, as upstream's
#    release build does and as build-controlplane.sh does).
build_binaries() {
  local pins minor ldflags cver crictl
  pins=$(cat $HERE/go.mod $HERE/go.sum "$0" | sha)
  if [ -f "$BIN/.pins" ] && [ "$(cat "$BIN/.pins")" = "$pins" ]; then return; fi
  command -v go >/dev/null || die "go is required to build the kind node image (Go >= 1.26)"
  say "building kind, kubeadm, kubelet, kube-proxy, containerd, crictl, coredns, local-path-provisioner, pause (first build takes minutes)"
  mkdir -p "$BIN"
  rm -f "$BIN/.pins"
  minor=$(cut -d. -f2 <<<"$KUBE_VERSION")
  ldflags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  cver=$(module_version github.com/containerd/containerd/v2 $HERE/go.mod)
  crictl=$(module_version sigs.k8s.io/cri-tools $HERE/go.mod)
  (
    cd $HERE
    export GOFLAGS="-mod=readonly -trimpath" CGO_ENABLED=0
    out=$(cd "$OLDPWD" && pwd)/$BIN
    go build -ldflags="$ldflags" -o "$out/" \
      k8s.io/kubernetes/cmd/kubeadm k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
    go build -ldflags="-s -w -X github.com/containerd/containerd/v2/version.Version=$cver" -o "$out/" \
      github.com/containerd/containerd/v2/cmd/containerd github.com/containerd/containerd/v2/cmd/ctr \
      github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2
    go build -ldflags="-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$crictl" -o "$out/" \
      sigs.k8s.io/cri-tools/cmd/crictl
    lpp=$(module_version github.com/rancher/local-path-provisioner go.mod)
    go build -ldflags="-s -w -X main.VERSION=$lpp" -o "$out/" github.com/rancher/local-path-provisioner
    go build -ldflags="-s -w" -o "$out/" sigs.k8s.io/kind github.com/coredns/coredns ./pause
  )
  echo "$pins" >"$BIN/.pins"
}
case "${1:-image}" in
  binaries)
    # The pinned tools only (kind itself for the e2e harness); prints their directory.
    build_binaries
    echo "$BIN"
    exit 0
    ;;
  image) ;;
  *) die "usage: hack/kind/node-image.sh [image|binaries]" ;;
esac

# With a registry, kind's own node image for its version (OFFLINE=1 never pulls).
# The pinned kind's source (module cache): its base image files and the image names it expects.
KIND_SRC=$(cd $HERE && go mod download -json sigs.k8s.io/kind | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$KIND_SRC" ] || die "cannot download the pinned kind module"
if [ "${OFFLINE:-}" != 1 ] && [ -z "${KIND_NODE_IMAGE_NAME:-}" ]; then
  upstream=$(sed -n 's/^const Image = "\(.*\)"$/\1/p' "$KIND_SRC/pkg/apis/config/defaults/image.go")
  if [ -n "$upstream" ] && "$DOCKER" pull -q "$upstream" >/dev/null 2>&1; then
    say "using kind's own node image $upstream (pulled)"
    build_binaries
    echo "$upstream"
    exit 0
  fi
fi

debian=$(hack/images.sh debian-base)
inputs=$(
  {
    find $HERE -type f -not -name '*.md' -print0 | sort -z | xargs -0 sha256sum
    sha256sum hack/controlplane/go.mod hack/controlplane/go.sum "$CP_BIN/.pins"
    "$DOCKER" image inspect -f '{{.Id}}' "$debian"
  } | sha
)
if [ "$(stamp_of "$NODE_IMAGE")" = "$inputs" ]; then
  say "$NODE_IMAGE is up to date"
  echo "$NODE_IMAGE"
  exit 0
fi
t0=$SECONDS
build_binaries

# An image name as the pinned kind's source spells it (`const <name> = "<image>"`).
kind_image() {
  sed -n "s/^const $1 = \"\\(.*\\)\"$/\\1/p" "$KIND_SRC"/pkg/build/nodeimage/const_*.go | head -1
}
SANDBOX_IMAGE=$(sed -n 's/^[[:space:]]*sandbox_image = "\(.*\)"$/\1/p' "$KIND_SRC/images/base/files/etc/containerd/config.toml")
KINDNETD_IMAGE=$(kind_image kindnetdImage)
PROVISIONER_IMAGE=$(kind_image storageProvisionerImage)
HELPER_IMAGE=$(kind_image storageHelperImage)
mapfile -t KUBEADM_IMAGES < <("$BIN/kubeadm" config images list --kubernetes-version "$KUBE_VERSION")
kubeadm_image() { printf '%s\n' "${KUBEADM_IMAGES[@]}" | grep "/$1:" | head -1; }
for v in SANDBOX_IMAGE KINDNETD_IMAGE PROVISIONER_IMAGE HELPER_IMAGE; do
  [ -n "${!v}" ] || die "cannot find $v in the pinned kind's source ($KIND_SRC): did its layout change?"
done

# 2. The images kind loads: FROM scratch for static binaries (PATH set, as distroless images do).
scratch_image() { # tag binary-path-in-image source [entrypoint]
  local ctx=$WORK/img-$RANDOM
  mkdir -p "$ctx"
  cp "$3" "$ctx/$(basename "$2")"
  {
    echo "FROM scratch"
    echo "ENV PATH=/usr/local/bin:/usr/bin:/bin"
    echo "COPY $(basename "$2") $2"
    if [ -n "${4:-}" ]; then echo "ENTRYPOINT [\"$4\"]"; fi
  } >"$ctx/Dockerfile"
  dbuild -t "$1" "$ctx"
}
say "building the control plane, etcd, coredns, pause, storage and CNI placeholder images"
for c in kube-apiserver kube-controller-manager kube-scheduler; do
  scratch_image "$(kubeadm_image "$c")" "/usr/local/bin/$c" "$CP_BIN/$c"
done
scratch_image "$(kubeadm_image etcd)" /usr/local/bin/etcd "$CP_BIN/etcd"
scratch_image "$(kubeadm_image coredns)" /coredns "$BIN/coredns" /coredns
scratch_image "$SANDBOX_IMAGE" /pause "$BIN/pause" /pause
"$DOCKER" tag "$SANDBOX_IMAGE" "$(kubeadm_image pause)"
# kindnetd's image must exist for kind's build; default-cni.yaml (below) never runs it.
"$DOCKER" tag "$SANDBOX_IMAGE" "$KINDNETD_IMAGE"
scratch_image "$PROVISIONER_IMAGE" /usr/local/bin/local-path-provisioner "$BIN/local-path-provisioner"
# The provisioner's helper pods run `sh /script/setup|teardown` (mkdir, rm): busybox's applets.
ctx=$WORK/helper
mkdir -p "$ctx"
cat >"$ctx/Dockerfile" <<EOF
FROM $debian AS busybox
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends busybox-static \\
  && mkdir -p /out/bin && cp /bin/busybox /out/bin/ && for a in sh mkdir rm; do ln -s busybox /out/bin/\$a; done
FROM scratch
ENV PATH=/bin
COPY --from=busybox /out/ /
EOF
dbuild -t "$HELPER_IMAGE" "$ctx"
ctx=$WORK/kube-proxy
mkdir -p "$ctx"
cp "$BIN/kube-proxy" $HERE/files/iptables-wrapper "$ctx/"
dbuild -f $HERE/kube-proxy.Dockerfile --build-arg "DEBIAN_IMAGE=$debian" -t "$(kubeadm_image kube-proxy)" "$ctx"

# docker save, then the archive as kind reads it: it takes the image names only from whichever of
# `repositories` and `manifest.json` comes first (manifest.json: its first image only), so
# `repositories` goes first, with each name fully qualified as kind compares them.
save_archive() { # out.tar image...
  local out=$1 dir=$WORK/archive-$RANDOM
  shift
  mkdir -p "$dir"
  "$DOCKER" save "$@" | tar -x -C "$dir"
  node -e '
    const fs = require("node:fs");
    const [file, ...images] = process.argv.slice(1);
    const repos = JSON.parse(fs.readFileSync(file, "utf8"));
    const out = {};
    for (const [repo, tags] of Object.entries(repos)) {
      // The full name this repository was saved under: docker shortens names of its default registry.
      const full = images.map((i) => i.slice(0, i.lastIndexOf(":"))).find((i) => i === repo || i.endsWith(`/${repo}`)) ?? repo;
      out[full] = tags;
    }
    fs.writeFileSync(file, JSON.stringify(out));
  ' "$dir/repositories" "$@"
  (cd "$dir" && tar -cf - repositories manifest.json $(ls | grep -v -x -e repositories -e manifest.json)) >"$out"
  rm -rf "$dir"
}
say "assembling the Kubernetes server tarball"
tree=$WORK/tarball/kubernetes
mkdir -p "$tree/server/bin"
echo "$KUBE_VERSION" >"$tree/version"
cp "$BIN/kubeadm" "$BIN/kubelet" "$CP_BIN/kubectl" "$tree/server/bin/"
extra=("$(kubeadm_image etcd)" "$(kubeadm_image coredns)" "$(kubeadm_image pause)" "$SANDBOX_IMAGE"
  "$KINDNETD_IMAGE" "$PROVISIONER_IMAGE" "$HELPER_IMAGE")
save_archive "$tree/server/bin/kube-apiserver.tar" "$(kubeadm_image kube-apiserver)" "${extra[@]}"
for c in kube-controller-manager kube-scheduler kube-proxy; do
  save_archive "$tree/server/bin/$c.tar" "$(kubeadm_image "$c")"
done
tar -C "$WORK/tarball" -czf "$WORK/kubernetes-server.tar.gz" kubernetes
rm -rf "$WORK/tarball"

# 3. The base image, then kind's own build, then the CNI manifest replaced.
say "building the node base image"
base=$WORK/base
mkdir -p "$base/bin" "$base/gastown"
cp -r "$KIND_SRC/images/base/files" "$base/files"
chmod -R u+w "$base/files"
cp "$BIN/containerd" "$BIN/ctr" "$BIN/containerd-shim-runc-v2" "$BIN/crictl" "$base/bin/"
cp $HERE/files/10-gastown-ptp.conflist "$base/gastown/"
dbuild -f $HERE/base.Dockerfile --build-arg "DEBIAN_IMAGE=$debian" -t gastown-kind-base:build "$base"

say "kind build node-image --type file"
"$BIN/kind" build node-image --type file --base-image gastown-kind-base:build --image gastown-kind-node:build \
  "$WORK/kubernetes-server.tar.gz" >"$WORK/kind-build.log" 2>&1 || {
  tail -40 "$WORK/kind-build.log" >&2
  die "kind build node-image failed"
}
final=$WORK/final
mkdir -p "$final"
cp $HERE/files/default-cni.yaml "$final/"
printf 'FROM gastown-kind-node:build\nCOPY default-cni.yaml /kind/manifests/default-cni.yaml\n' >"$final/Dockerfile"
dbuild --label "$LABEL=$inputs" -t "$NODE_IMAGE" "$final"
# The intermediate tags only; the layers stay shared with the result.
"$DOCKER" rmi gastown-kind-node:build gastown-kind-base:build >/dev/null
say "built $NODE_IMAGE in $((SECONDS - t0))s"
echo "$NODE_IMAGE"
