#!/usr/bin/env bash
# calicoctl at a pinned version in /usr/local/bin (every node: `calicoctl node status` asks the local BIRD).
# Usage: calicoctl.sh VERSION        e.g. v3.28.1
set -euo pipefail
VERSION=$1
ARCH=$(dpkg --print-architecture)
BIN=/usr/local/bin/calicoctl

# `calicoctl version` fails when it cannot reach a cluster (workers): look at its output only
current=$("$BIN" version 2>/dev/null || true)
if grep -q "^Client Version:[[:space:]]*${VERSION}\$" <<<"$current"; then
  exit 0
fi
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
curl -fsSL --retry 5 -o "$tmp" \
  "https://github.com/projectcalico/calico/releases/download/${VERSION}/calicoctl-linux-${ARCH}"
install -m 0755 "$tmp" "$BIN"
echo "[kanslab] calicoctl ${VERSION} installed"
