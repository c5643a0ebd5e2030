#!/usr/bin/env bash
# /etc/hosts entries for the lab's machines, kept in one marked block (re-running replaces the block).
# Usage: hosts.sh "192.168.10.10 k8s-m" "192.168.10.101 k8s-w1" ...
set -euo pipefail
HOSTS_FILE=${KANSLAB_HOSTS_FILE:-/etc/hosts}
BEGIN="# BEGIN kanslab lab hosts"
END="# END kanslab lab hosts"

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
# everything but our previous block, then the block
sed "/^${BEGIN}\$/,/^${END}\$/d" "$HOSTS_FILE" > "$tmp"
{
  echo "$BEGIN"
  for entry in "$@"; do
    echo "$entry"
  done
  echo "$END"
} >> "$tmp"
if ! cmp -s "$tmp" "$HOSTS_FILE"; then
  cat "$tmp" > "$HOSTS_FILE"
  echo "[kanslab] $HOSTS_FILE: $# lab hosts"
fi
