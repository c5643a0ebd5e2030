#!/usr/bin/env bash
# Install what the course needs on Debian/Ubuntu: the lab's daemons and tools (apt) and the
# kanslab package with its test extras in .venv (Debian's own Python refuses system-wide pip
# installs, PEP 668). `--test` (what `make test` runs) adds every tool a test uses, so that no test
# skips for a missing tool: ruby, shellcheck and vagrant (static checks of vagrant/), docker.io and
# debootstrap (scripts/container-smoke.sh), Debian's chromium (exported HTML and browser tests;
# playwright drives it with executable_path=/usr/bin/chromium and never downloads a browser).
# apt waits up to 10 minutes for a lock another apt holds. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
# zsh: the shell of nicolaka/netshoot pods (`kubectl exec -it pod1 -- zsh`), which run the machine's tools
pkgs="frr bird tcpdump iptables ipset iproute2 net-tools iputils-ping curl netcat-openbsd procps openssh-server sudo dnsmasq-base bind9-dnsutils zsh"
python3 -c 'import venv, ensurepip' 2>/dev/null || pkgs="$pkgs python3-venv"
# Installed without their Recommends: Prometheus (chapter 05) runs inside the lab's k8s-m
# namespace, started by the lab (its Recommends, node-exporter, would listen on the host's :9100);
# vagrant only validates the Vagrantfile here (its Recommends are libvirt and QEMU).
lean="prometheus"
if [ "${1:-}" = "--test" ]; then
  pkgs="$pkgs ruby shellcheck debootstrap"
  # chromium runs headless only: its Recommends are desktop services; docker.io's Recommends
  # (needrestart, git, ...) are not needed to build and run the smoke test's image.
  lean="$lean vagrant docker.io chromium"
fi
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
missing_lean=""
for p in $lean; do dpkg -s "$p" >/dev/null 2>&1 || missing_lean="$missing_lean $p"; done
APT=(apt-get -o DPkg::Lock::Timeout=600)
if [ -n "$missing$missing_lean" ]; then
  # `apt-get update` does not wait for the lists lock as DPkg::Lock::Timeout makes install wait
  for try in $(seq 60); do
    if $SUDO "${APT[@]}" update -qq; then break; fi
    [ "$try" -lt 60 ] || exit 1
    sleep 10
  done
fi
# shellcheck disable=SC2086  # the package lists are meant to split into words
if [ -n "$missing" ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO "${APT[@]}" install -y -qq $missing >/dev/null
fi
# shellcheck disable=SC2086
if [ -n "$missing_lean" ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO "${APT[@]}" install -y -qq --no-install-recommends $missing_lean >/dev/null
  case " $missing_lean " in
    *" prometheus "*)
      if [ -d /run/systemd/system ]; then   # systemd started it: the lab does not use it
        $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
      fi ;;
  esac
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
