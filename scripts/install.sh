#!/usr/bin/env bash
# Install what the course and its tests need on Debian/Ubuntu: the lab's daemons and tools
# (apt) and the kanslab package with its test extras in .venv (Debian's own Python refuses
# system-wide pip installs, PEP 668). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
pkgs="frr bird tcpdump iptables iproute2 net-tools iputils-ping curl netcat-openbsd procps openssh-server sudo ruby shellcheck"
python3 -c 'import venv, ensurepip' 2>/dev/null || pkgs="$pkgs python3-venv"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
# Prometheus (chapter 05) runs inside the lab's k8s-m namespace, started by the lab; the package's
# own service would listen on the host's :9090, and its Recommends (node-exporter) on :9100
dpkg -s prometheus >/dev/null 2>&1 || new_prometheus=1
if [ -n "$missing" ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
if [ -n "${new_prometheus:-}" ]; then
  [ -n "$missing" ] || $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  if [ -d /run/systemd/system ]; then   # systemd started it: the lab does not use it
    $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  fi
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
