#!/usr/bin/env bash
# calicoctl at a pinned version in /usr/local/bin (every node: `calicoctl node status` asks the local BIRD).
# Usage: calicoctl.sh VERSION        e.g. v3.28.1
set -euo pipefail
VERSION=$1
ARCH=$(dpkg --print-architecture)
BIN=/usr/local/bin/calicoctl

if [ -x "$BIN" ] && "$BIN" version 2>/dev/null | grep -q "Client Version:[[:space:]]*${VERSION}\$"; then
  exit 0
fi
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
curl -fsSL --retry 5 -o "$tmp" \
  "https://github.com/projectcalico/calico/releases/download/${VERSION}/calicoctl-linux-${ARCH}"
install -m 0755 "$tmp" "$BIN"
echo "[kanslab] calicoctl ${VERSION} installed"
