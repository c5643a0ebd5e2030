#!/usr/bin/env bash
# Every Kubernetes node: kernel settings, containerd, kubelet/kubeadm/kubectl (pkgs.k8s.io) and tools.
# Usage: common.sh K8S_VERSION NODE_IP        (K8S_VERSION like 1.30)
# Safe to run again: files are rewritten only when they differ, services restarted only then.
set -euo pipefail
K8S_VERSION=$1
NODE_IP=$2
export DEBIAN_FRONTEND=noninteractive
# a fresh box's unattended-upgrades holds the apt/dpkg lock for minutes: wait for it, do not fail
APT=(apt-get -o DPkg::Lock::Timeout=600)
# containerd 2.x moved the CRI plugin's configuration (io.containerd.cri.v1.runtime) and the sed below
# would not find SystemdCgroup: stay on 1.7 (kubeadm 1.30's tested line)
CONTAINERD_VERSION="1.7.*"
log() { echo "[kanslab] $*"; }

# write_if_changed FILE: stdin becomes FILE when it differs; returns 0 when it changed
write_if_changed() {
  local tmp
  tmp=$(mktemp)
  cat > "$tmp"
  if cmp -s "$tmp" "$1"; then
    rm -f "$tmp"
    return 1
  fi
  install -m 0644 "$tmp" "$1"
  rm -f "$tmp"
  return 0
}

log "firewall off (as in the course's lab)"
systemctl disable --now ufw >/dev/null 2>&1 || true
systemctl disable --now apparmor >/dev/null 2>&1 || true

log "kernel modules and sysctls, persistent across reboots"
write_if_changed /etc/modules-load.d/kanslab.conf <<'CONF' || true
overlay
br_netfilter
CONF
modprobe overlay
modprobe br_netfilter
if write_if_changed /etc/sysctl.d/90-kanslab.conf <<'CONF'; then
net.ipv4.ip_forward = 1
net.bridge.bridge-nf-call-iptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
CONF
  sysctl --system >/dev/null
fi
swapoff -a
sed -i -E '/^[^#].*[[:space:]]swap[[:space:]]/s/^/# kanslab: /' /etc/fstab

log "package repositories: Kubernetes v${K8S_VERSION} and Docker's containerd.io"
install -d -m 0755 /etc/apt/keyrings
apt_changed=no
if [ ! -s /etc/apt/keyrings/kubernetes-apt-keyring.gpg ]; then
  curl -fsSL --retry 5 "https://pkgs.k8s.io/core:/stable:/v${K8S_VERSION}/deb/Release.key" \
    | gpg --batch --yes --dearmor -o /etc/apt/keyrings/kubernetes-apt-keyring.gpg
fi
if [ ! -s /etc/apt/keyrings/docker.gpg ]; then
  curl -fsSL --retry 5 https://download.docker.com/linux/ubuntu/gpg \
    | gpg --batch --yes --dearmor -o /etc/apt/keyrings/docker.gpg
fi
if write_if_changed /etc/apt/sources.list.d/kubernetes.list <<LIST; then
deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/v${K8S_VERSION}/deb/ /
LIST
  apt_changed=yes
fi
codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)
if write_if_changed /etc/apt/sources.list.d/docker.list <<LIST; then
deb [arch=$(dpkg --print-architecture) signed-by=/etc/apt/keyrings/docker.gpg] https://download.docker.com/linux/ubuntu ${codename} stable
LIST
  apt_changed=yes
fi
if [ "$apt_changed" = yes ] || ! dpkg -s kubeadm containerd.io >/dev/null 2>&1; then
  "${APT[@]}" update -qq
fi

log "kubelet, kubeadm, kubectl, containerd.io and the course's tools (netcat: kanslab's reachability probe)"
pkgs="kubelet kubeadm kubectl containerd.io tree jq bridge-utils net-tools conntrack ipset tcpdump wireguard netcat-openbsd"
missing=""
for p in $pkgs; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  install=()
  for p in $missing; do  # containerd.io at its pinned release (apt takes a trailing * as a prefix)
    if [ "$p" = containerd.io ]; then install+=("containerd.io=${CONTAINERD_VERSION}"); else install+=("$p"); fi
  done
  "${APT[@]}" install -y -qq "${install[@]}" >/dev/null
fi
apt-mark hold kubelet kubeadm kubectl containerd.io >/dev/null
containerd_version=$(dpkg-query -W -f '${Version}' containerd.io)
case "$containerd_version" in
  1.7.*) ;;
  *) echo "[kanslab] containerd.io ${containerd_version} is installed; the lab needs a 1.7 release" \
          "(apt-get install --allow-change-held-packages containerd.io='${CONTAINERD_VERSION}')" >&2
     exit 1 ;;
esac

log "containerd ${containerd_version} with the systemd cgroup driver"
config=$(mktemp)
containerd config default | sed 's/SystemdCgroup = false/SystemdCgroup = true/' > "$config"
if ! grep -q 'SystemdCgroup = true' "$config"; then
  echo "[kanslab] could not set SystemdCgroup = true in containerd's configuration" >&2
  exit 1
fi
# restarted only when the configuration changed (a re-provision leaves running pods alone)
if write_if_changed /etc/containerd/config.toml < "$config"; then
  systemctl restart containerd
fi
rm -f "$config"
systemctl enable --now containerd >/dev/null
# what the running containerd's CRI uses, not only what the file says (kubelet's systemd driver needs it)
cri_systemd=no
for _ in $(seq 1 30); do
  if crictl --runtime-endpoint unix:///run/containerd/containerd.sock info 2>/dev/null \
      | grep -q '"SystemdCgroup": true'; then
    cri_systemd=yes
    break
  fi
  sleep 1
done
if [ "$cri_systemd" != yes ]; then
  echo "[kanslab] containerd's CRI does not run with SystemdCgroup = true (see /etc/containerd/config.toml)" >&2
  exit 1
fi
write_if_changed /etc/crictl.yaml <<'CONF' || true
runtime-endpoint: unix:///run/containerd/containerd.sock
image-endpoint: unix:///run/containerd/containerd.sock
CONF

log "kubelet on ${NODE_IP} (the host-only NIC, not Vagrant's NAT 10.0.2.15)"
if write_if_changed /etc/default/kubelet <<CONF; then
KUBELET_EXTRA_ARGS=--node-ip=${NODE_IP}
CONF
  systemctl daemon-reload
  if systemctl is-active --quiet kubelet; then
    systemctl restart kubelet
  fi
fi
systemctl enable kubelet >/dev/null 2>&1
