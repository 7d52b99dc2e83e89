#!/usr/bin/env bash
# tmux for the terminal test of `kubectl gt status --watch` (test/integration/cli): installed from
# Debian when missing, since CI starts from a fresh machine.
set -euo pipefail
command -v tmux >/dev/null && exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "error: tmux is missing and installing it needs root: apt-get install tmux" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends tmux >/dev/null
command -v tmux
