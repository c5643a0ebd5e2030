#!/usr/bin/env bash
# Waits, within a bound, until the named nodes are Ready and calico-node is Ready on each; names the
# node that is missing instead of hanging (a halted worker's node stays NotReady for ever).
# Usage: ready.sh KUBECONFIG SECONDS NODE...      NODE "--registered": every node the cluster has
#   the control plane's last step: ready.sh /etc/kubernetes/admin.conf 300 k8s-m --registered
#   the last worker's last step:   ready.sh /etc/kubernetes/kubelet.conf 600 k8s-m k8s-w0 k8s-w1 k8s-w2
# (a node's own kubelet.conf may get and watch nodes and pods: the system:node role)
set -euo pipefail
export KUBECONFIG=$1
TIMEOUT=$2
shift 2
deadline=$((SECONDS + TIMEOUT))
# a node whose kubelet stopped reporting (Ready=Unknown: the VM is halted) gets this long, not TIMEOUT
UNKNOWN_GRACE=60
log() { echo "[kanslab] $*"; }
left() { local s=$((deadline - SECONDS)); echo $((s > 1 ? s : 1)); }
fail() {
  echo "[kanslab] $*" >&2
  kubectl get nodes -o wide >&2 || true
  kubectl -n kube-system get pods -l k8s-app=calico-node -o wide >&2 || true
  exit 1
}
ready_status() {  # True, False or Unknown (empty when the node is not registered)
  kubectl get "node/$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null || true
}

nodes=()
for n in "$@"; do
  if [ "$n" = --registered ]; then
    while read -r name; do nodes+=("${name#node/}"); done < <(kubectl get nodes -o name)
  else
    nodes+=("$n")
  fi
done
# each node once, in the order given
mapfile -t nodes < <(printf '%s\n' "${nodes[@]}" | awk '!seen[$0]++')

for node in "${nodes[@]}"; do
  unknown_since=""
  while :; do
    status=$(ready_status "$node")
    [ "$status" = True ] && break
    if [ -z "$status" ] && [ "$SECONDS" -ge "$deadline" ]; then
      fail "node $node has not joined the cluster in ${TIMEOUT}s: is its VM up? (vagrant up $node; vagrant provision $node)"
    fi
    if [ "$status" = Unknown ]; then
      unknown_since=${unknown_since:-$SECONDS}
      if [ $((SECONDS - unknown_since)) -ge "$UNKNOWN_GRACE" ]; then
        fail "node $node is NotReady: its kubelet stopped reporting (Ready=Unknown), so its VM is probably halted: vagrant up $node"
      fi
    fi
    [ "$SECONDS" -lt "$deadline" ] || fail "node $node is not Ready after ${TIMEOUT}s (Ready=${status})"
    if [ -n "$status" ]; then  # registered: let kubectl watch for the condition, a few seconds at a time
      kubectl wait --for=condition=Ready "node/$node" --timeout="$(( $(left) < 10 ? $(left) : 10 ))s" >/dev/null 2>&1 || true
    else
      sleep 5
    fi
  done
  pod=""
  while [ -z "$pod" ]; do
    pod=$(kubectl -n kube-system get pods -l k8s-app=calico-node --field-selector "spec.nodeName=${node}" \
            -o name 2>/dev/null | head -n 1 || true)
    [ -n "$pod" ] && break
    [ "$SECONDS" -lt "$deadline" ] || fail "no calico-node pod on node $node after ${TIMEOUT}s"
    sleep 3
  done
  if ! kubectl -n kube-system wait --for=condition=Ready "$pod" --timeout="$(left)s" >/dev/null; then
    fail "calico-node on node $node ($pod) is not Ready after ${TIMEOUT}s"
  fi
  log "node $node Ready, calico-node Ready on it"
done
