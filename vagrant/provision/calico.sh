#!/usr/bin/env bash
# Calico from the upstream manifest at a pinned version, with the course's block size (/24 instead of /26,
# as in the course's calico-kans.yaml), and calicoctl configured for the Kubernetes datastore.
# Usage: calico.sh VERSION BLOCK_SIZE        e.g. calico.sh v3.28.1 24
#        calico.sh --patch-only UPSTREAM.yaml OUT.yaml BLOCK_SIZE   (just write the patched manifest)
set -euo pipefail

# the one change of the course's calico-kans.yaml: CALICO_IPV4POOL_BLOCK_SIZE before CALICO_IPV4POOL_IPIP
patch_manifest() {
  local in=$1 out=$2 size=$3
  awk -v size="$size" '
    /^ *- name: CALICO_IPV4POOL_IPIP$/ {
      indent = $0; sub(/-.*/, "", indent)
      print indent "# kanslab: the course uses /" size " blocks (the default is 26)"
      print indent "- name: CALICO_IPV4POOL_BLOCK_SIZE"
      print indent "  value: \"" size "\""
    }
    { print }
  ' "$in" > "$out"
  if [ "$(grep -c 'name: CALICO_IPV4POOL_BLOCK_SIZE$' "$out")" != 1 ]; then
    echo "[kanslab] could not set CALICO_IPV4POOL_BLOCK_SIZE in $out" >&2
    return 1
  fi
}

if [ "${1:-}" = --patch-only ]; then
  patch_manifest "$2" "$3" "$4"
  exit 0
fi
VERSION=$1
BLOCK_SIZE=$2
DIR=/root/calico
URL="https://raw.githubusercontent.com/projectcalico/calico/${VERSION}/manifests/calico.yaml"
export KUBECONFIG=/etc/kubernetes/admin.conf
log() { echo "[kanslab] $*"; }

install -d -m 0755 "$DIR"
upstream="$DIR/calico-${VERSION}.yaml"
if [ ! -s "$upstream" ]; then
  log "downloading ${URL}"
  curl -fsSL --retry 5 -o "$upstream.tmp" "$URL"
  mv "$upstream.tmp" "$upstream"
fi
if ! grep -q "image: docker.io/calico/node:${VERSION}\$" "$upstream"; then
  echo "[kanslab] $upstream is not Calico ${VERSION}'s manifest" >&2
  exit 1
fi

patch_manifest "$upstream" "$DIR/calico-kans.yaml" "$BLOCK_SIZE"

log "kubectl apply -f $DIR/calico-kans.yaml"
kubectl apply -f "$DIR/calico-kans.yaml" >/dev/null

install -d -m 0755 /etc/calico
cat > /etc/calico/calicoctl.cfg <<'CFG'
apiVersion: projectcalico.org/v3
kind: CalicoAPIConfig
metadata:
spec:
  datastoreType: "kubernetes"
  kubeconfig: "/etc/kubernetes/admin.conf"
CFG

# only this node's calico-node (a rollout status of the whole DaemonSet would wait 10 minutes for a
# halted worker's pod on a re-provision); provision/ready.sh checks every node at the end
log "waiting for calico-node on this node"
node=$(hostname)
pod=""
for _ in $(seq 1 60); do
  pod=$(kubectl -n kube-system get pods -l k8s-app=calico-node --field-selector "spec.nodeName=${node}" -o name)
  [ -n "$pod" ] && break
  sleep 2
done
if [ -z "$pod" ]; then
  echo "[kanslab] no calico-node pod on ${node} 2 minutes after applying the manifest" >&2
  kubectl -n kube-system get daemonset/calico-node >&2 || true
  exit 1
fi
kubectl -n kube-system wait --for=condition=Ready "$pod" --timeout=300s
kubectl wait --for=condition=Ready "node/${node}" --timeout=300s

size=$(calicoctl get ippool default-ipv4-ippool -o yaml 2>/dev/null | awk '/^ *blockSize:/ {print $2}' || true)
if [ -n "$size" ] && [ "$size" != "$BLOCK_SIZE" ]; then
  echo "[kanslab] warning: default-ipv4-ippool has blockSize ${size}, not ${BLOCK_SIZE} (it was created" \
       "before this manifest; delete the pool and restart calico-node to recreate it)" >&2
fi
