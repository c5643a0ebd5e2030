#!/usr/bin/env bash
# Routes to the lab's other subnets through the router, in a netplan file of our own
# (Vagrant owns 50-vagrant.yaml and rewrites it on `vagrant reload`).
# Usage: routes.sh NIC CIDR=GATEWAY ...      e.g. routes.sh enp0s8 192.168.20.0/24=192.168.10.254
set -euo pipefail
NIC=$1
shift
FILE=/etc/netplan/60-kanslab-routes.yaml

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
{
  echo "# kanslab: routes between the lab's subnets"
  echo "network:"
  echo "  version: 2"
  echo "  ethernets:"
  echo "    ${NIC}:"
  echo "      routes:"
  for route in "$@"; do
    echo "      - to: ${route%%=*}"
    echo "        via: ${route#*=}"
  done
} > "$tmp"
chmod 600 /etc/netplan/*.yaml 2>/dev/null || true  # netplan warns about readable files
if ! cmp -s "$tmp" "$FILE"; then
  install -m 600 "$tmp" "$FILE"
  netplan apply
  echo "[kanslab] routes on ${NIC}: $*"
fi
