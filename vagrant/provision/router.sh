#!/usr/bin/env bash
# The router: forwarding, the "IDC" dummy networks (persistent, via systemd-networkd) and FRR with
# the lab's frr.conf (passed in, base64, from the topology file by the Vagrantfile).
# Usage: router.sh FRR_CONF_BASE64 [DEVICE=ADDRESS ...]     e.g. loop1=10.1.1.254/24
set -euo pipefail
FRR_CONF_B64=$1
shift
export DEBIAN_FRONTEND=noninteractive
# a fresh box's unattended-upgrades holds the apt/dpkg lock for minutes: wait for it, do not fail
APT=(apt-get -o DPkg::Lock::Timeout=600)
log() { echo "[kanslab] $*"; }

log "firewall off, IP forwarding on (persistent)"
systemctl disable --now ufw >/dev/null 2>&1 || true
systemctl disable --now apparmor >/dev/null 2>&1 || true
conf=/etc/sysctl.d/90-kanslab-router.conf
# plus the topology's router sysctls (ROUTER_SYSCTLS="key=value ...", e.g. ECMP's fib_multipath_hash_policy)
want="net.ipv4.ip_forward = 1"
for kv in ${ROUTER_SYSCTLS:-}; do want="$want"$'\n'"${kv%%=*} = ${kv#*=}"; done
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
  echo "$want" > "$conf"
  sysctl --system >/dev/null
fi

log "packages: frr and the course's tools"
pkgs="frr net-tools jq tree iputils-arping tcpdump"
missing=""
for p in $pkgs; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  "${APT[@]}" update -qq
  # shellcheck disable=SC2086  # a list of package names
  "${APT[@]}" install -y -qq $missing >/dev/null
fi

log "IDC networks: $*"
networkd_changed=no
for spec in "$@"; do
  dev=${spec%%=*}
  addr=${spec#*=}
  netdev="/etc/systemd/network/20-kanslab-${dev}.netdev"
  network="/etc/systemd/network/20-kanslab-${dev}.network"
  want_netdev=$(printf '[NetDev]\nName=%s\nKind=dummy\n' "$dev")
  want_network=$(printf '[Match]\nName=%s\n\n[Network]\nAddress=%s\nConfigureWithoutCarrier=yes\n' "$dev" "$addr")
  if [ "$(cat "$netdev" 2>/dev/null)" != "$want_netdev" ] || [ "$(cat "$network" 2>/dev/null)" != "$want_network" ]; then
    printf '%s\n' "$want_netdev" > "$netdev"
    printf '%s\n' "$want_network" > "$network"
    networkd_changed=yes
  fi
done
if [ "$networkd_changed" = yes ]; then
  networkctl reload
fi
for spec in "$@"; do
  dev=${spec%%=*}
  addr=${spec#*=}
  for _ in $(seq 1 50); do
    [[ "$(ip -o addr show dev "$dev" 2>/dev/null)" == *" ${addr} "* ]] && break
    sleep 0.2
  done
  # networkd did not (yet) make it: make it now; the files above make it again after a reboot
  if ! ip link show dev "$dev" >/dev/null 2>&1; then
    ip link add "$dev" type dummy
  fi
  ip addr replace "$addr" dev "$dev"
  ip link set "$dev" up
done

log "FRR: bgpd on, /etc/frr/frr.conf from the lab's topology"
restart=no
if grep -q '^bgpd=no' /etc/frr/daemons; then
  sed -i 's/^bgpd=no/bgpd=yes/' /etc/frr/daemons
  restart=yes
fi
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
echo "$FRR_CONF_B64" | base64 -d > "$tmp"
if ! cmp -s "$tmp" /etc/frr/frr.conf; then
  install -m 0640 -o frr -g frr "$tmp" /etc/frr/frr.conf
  restart=yes
fi
systemctl enable frr >/dev/null 2>&1
if [ "$restart" = yes ] || ! systemctl is-active --quiet frr; then
  systemctl restart frr
fi
running=""
for _ in $(seq 1 30); do  # bgpd takes a moment after a restart
  running=$(vtysh -c 'show running-config' 2>/dev/null || true)
  if grep -q 'bgp listen range' <<<"$running"; then
    break
  fi
  sleep 1
done
if ! grep -q 'bgp listen range' <<<"$running"; then
  echo "[kanslab] FRR is running without the lab's BGP configuration" >&2
  exit 1
fi
log "router ready"
