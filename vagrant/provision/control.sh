#!/usr/bin/env bash
# The control plane: kubeadm init once; kubeconfig for root and vagrant; wait for the API server.
# Usage: control.sh ADVERTISE_IP POD_CIDR SERVICE_CIDR TOKEN
set -euo pipefail
ADVERTISE_IP=$1
POD_CIDR=$2
SERVICE_CIDR=$3
TOKEN=$4
log() { echo "[kanslab] $*"; }

if [ ! -f /etc/kubernetes/admin.conf ]; then
  log "kubeadm init (pod CIDR ${POD_CIDR}, service CIDR ${SERVICE_CIDR})"
  kubeadm init --token "$TOKEN" --token-ttl 0 \
    --pod-network-cidr="$POD_CIDR" --service-cidr="$SERVICE_CIDR" \
    --apiserver-advertise-address="$ADVERTISE_IP" \
    --cri-socket=unix:///run/containerd/containerd.sock
else
  log "kubeadm init: already done"
fi

for home in /root /home/vagrant; do
  [ -d "$home" ] || continue
  owner=$(stat -c %U "$home")
  install -d -m 0700 -o "$owner" "$home/.kube"
  install -m 0600 -o "$owner" /etc/kubernetes/admin.conf "$home/.kube/config"
done

cat > /etc/profile.d/kanslab.sh <<'PROFILE'
# kanslab lab shell conveniences (as in the course: kubectl completion, alias k); plain sh
# syntax, since /etc/profile may be read by dash
if [ -n "${BASH_VERSION:-}" ] && command -v kubectl >/dev/null 2>&1; then
  eval "$(kubectl completion bash)"
  alias k=kubectl
  complete -o default -F __start_kubectl k
fi
PROFILE

log "waiting for the API server"
export KUBECONFIG=/etc/kubernetes/admin.conf
for _ in $(seq 1 120); do
  if kubectl get --raw /readyz >/dev/null 2>&1; then
    exit 0
  fi
  sleep 2
done
echo "[kanslab] the API server did not become ready in 4 minutes" >&2
exit 1
