#!/usr/bin/env bash
# Every Kubernetes node: kernel settings, containerd, kubelet/kubeadm/kubectl (pkgs.k8s.io) and tools.
# Usage: common.sh K8S_VERSION NODE_IP        (K8S_VERSION like 1.30)
# Safe to run again: files are rewritten only when they differ, services restarted only then.
set -euo pipefail
K8S_VERSION=$1
NODE_IP=$2
export DEBIAN_FRONTEND=noninteractive
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
  apt-get update -qq
fi

log "kubelet, kubeadm, kubectl, containerd.io and the course's tools (netcat: kanslab's reachability probe)"
pkgs="kubelet kubeadm kubectl containerd.io tree jq bridge-utils net-tools conntrack ipset tcpdump wireguard netcat-openbsd"
missing=""
for p in $pkgs; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  # shellcheck disable=SC2086  # a list of package names
  apt-get install -y -qq $missing >/dev/null
fi
apt-mark hold kubelet kubeadm kubectl >/dev/null

log "containerd with the systemd cgroup driver"
if ! grep -q 'SystemdCgroup = true' /etc/containerd/config.toml 2>/dev/null; then
  containerd config default > /etc/containerd/config.toml
  sed -i 's/SystemdCgroup = false/SystemdCgroup = true/' /etc/containerd/config.toml
  systemctl restart containerd
fi
systemctl enable --now containerd >/dev/null
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
