#!/usr/bin/env bash
# Builds the krew archive of kubectl gt (dist/krew/kubectl-gt.tar.gz) and a manifest filled in for
# it (dist/krew/gt.yaml): the plugin's sources with only the runtime dependencies, reproducibly
# (sorted entries, fixed times, no gzip timestamp), so the same tree gives the same sha256.
set -euo pipefail
cd "$(dirname "$0")/../.."
version="v$(node -p 'require("./package.json").version')"
out=dist/krew
stage="$out/stage/kubectl-gt"
rm -rf "$out"
mkdir -p "$stage/src"
cp package.json package-lock.json "$stage/"
cp -r src/cli src/api src/controller "$stage/src/"
mkdir -p "$stage/src/core" && cp src/core/names.ts "$stage/src/core/"
(cd "$stage" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$out/stage" -cf - kubectl-gt | gzip -n >"$out/kubectl-gt.tar.gz"
sha=$(sha256sum "$out/kubectl-gt.tar.gz" | cut -d' ' -f1)
sed -e "s|{{ .TagName }}|$version|g" \
  -e "s|{{ addURIAndSha \"\([^\"]*\)\" .TagName }}|uri: \1\n      sha256: $sha|" \
  hack/krew/gt.yaml | grep -v '^#' >"$out/gt.yaml"
echo "$out/kubectl-gt.tar.gz sha256 $sha"
echo "$out/gt.yaml"
