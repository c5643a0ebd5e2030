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
if [ -n "$missing" ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
