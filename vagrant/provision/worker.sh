#!/usr/bin/env bash
# A worker joins the cluster once (kubeadm join with the lab's fixed token).
# Usage: worker.sh CONTROL_PLANE_IP TOKEN
set -euo pipefail
CONTROL_PLANE_IP=$1
TOKEN=$2

if [ -f /etc/kubernetes/kubelet.conf ]; then
  echo "[kanslab] already joined"
  exit 0
fi
# k8s-w0 reaches the API server through the router: wait until it answers
for _ in $(seq 1 150); do
  if curl -ks --max-time 2 "https://${CONTROL_PLANE_IP}:6443/livez" >/dev/null; then
    break
  fi
  sleep 2
done
kubeadm join --token "$TOKEN" --discovery-token-unsafe-skip-ca-verification \
  --cri-socket=unix:///run/containerd/containerd.sock "${CONTROL_PLANE_IP}:6443"
