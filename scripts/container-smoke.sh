#!/usr/bin/env bash
# Proves the live lab runs in a container: from nothing to chapter 01 green inside it.
#   1. a Docker engine: installs docker.io and starts dockerd itself when none runs (no systemd here);
#      that dockerd gets no bridge, no iptables rules and no ip_forward change, so the host's own
#      network stays as it was (the lab tests compare it before and after); builds use the host's
#      network, the smoke run has none (the lab needs none);
#   2. a debian:bookworm base image: debootstrapped from this machine's Debian mirror when Docker has
#      none (no image registry is reachable here);
#   3. the course's image (Dockerfile) with wheels built on the host: pip in the debootstrapped base
#      has neither this machine's certificate setup nor its pip index configuration, so the host's pip
#      (with its config) downloads every wheel into build/container-wheels and the build installs from
#      there with --no-index;
#   4. `kanslab up` (the entrypoint) and chapter 01 under nbval inside the container.
# Usage: scripts/container-smoke.sh            (root; exit 0 when chapter 01 passed in the container)
# Env: KANSLAB_SMOKE_IMAGE (default kanslab-smoke), KANSLAB_SMOKE_KEEP=1 keeps the image.
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${KANSLAB_SMOKE_IMAGE:-kanslab-smoke}
BASE=debian:bookworm
WHEELS=build/container-wheels
# the legacy builder: it takes --network host; BuildKit needs the buildx plugin, which docker.io lacks
export DOCKER_BUILDKIT=0
log() { echo "[container-smoke] $(date +%T) $*"; }
[ "$(id -u)" -eq 0 ] || { echo "container-smoke.sh needs root (it may start dockerd)" >&2; exit 1; }

started_dockerd=""
workdir=$(mktemp -d)
cleanup() {
  local rc=$?
  if [ -n "$started_dockerd" ]; then
    log "stopping the dockerd this script started (pid $started_dockerd)"
    kill "$started_dockerd" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 0.5; done
  fi
  rm -rf "$workdir"
  exit "$rc"
}
trap cleanup EXIT

# -- 1. Docker -----------------------------------------------------------------------------------
if ! command -v dockerd >/dev/null; then
  log "installing docker.io"
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    docker.io >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: $workdir/dockerd.log)"
  dockerd --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
    >"$workdir/dockerd.log" 2>&1 &
  started_dockerd=$!
  for _ in $(seq 1 120); do
    if docker info >/dev/null 2>&1; then break; fi
    if ! kill -0 "$started_dockerd" 2>/dev/null; then
      cat "$workdir/dockerd.log" >&2
      echo "dockerd exited" >&2
      exit 1
    fi
    sleep 0.5
  done
  docker info >/dev/null
fi

# -- 2. the base image ---------------------------------------------------------------------------
if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  # the mirror this machine's apt uses (deb822 .sources or one-line sources.list)
  mirror=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n 1 || true)
  [ -n "$mirror" ] || mirror=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
                                 | awk '$3 == "bookworm" {print $2; exit}' || true)
  mirror=${mirror:-http://deb.debian.org/debian}
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive \
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq debootstrap >/dev/null
  log "debootstrapping $BASE from $mirror"
  debootstrap --variant=minbase bookworm "$workdir/rootfs" "$mirror" >"$workdir/debootstrap.log" 2>&1 \
    || { tail -20 "$workdir/debootstrap.log" >&2; exit 1; }
  rm -rf "$workdir"/rootfs/var/cache/apt/archives/*.deb "$workdir"/rootfs/var/lib/apt/lists/*
  tar -C "$workdir/rootfs" -c . | docker import --change 'CMD ["bash"]' - "$BASE" >/dev/null
  rm -rf "$workdir/rootfs"
fi

# -- 3. the course's image -----------------------------------------------------------------------
log "wheels for the image, with the host's pip configuration, in $WHEELS"
rm -rf "$WHEELS"
mkdir -p "$WHEELS"
pip=.venv/bin/pip
[ -x "$pip" ] || { python3 -m venv "$workdir/venv"; pip="$workdir/venv/bin/pip"; }
# for the image's Python (Debian 12's python3, as this machine's apt mirror has it), not the host's:
# only wheels then, and the course's requirements listed from pyproject.toml (the image installs the
# course itself from its source tree)
pyver=$(apt-cache policy python3 | awk '/Candidate:/ {print $2}' | sed -E 's/-.*//')
mapfile -t reqs < <("$pip" --version >/dev/null && python3 -c '
import tomllib
p = tomllib.load(open("pyproject.toml", "rb"))
print("\n".join(p["build-system"]["requires"] + p["project"]["dependencies"]
                + p["project"]["optional-dependencies"]["test"] + ["wheel"]))')
"$pip" download -q --disable-pip-version-check --only-binary=:all: --python-version "$pyver" \
  -d "$WHEELS" "${reqs[@]}" 2> >(grep -v "^WARNING: Location" >&2)
log "docker build -t $IMAGE"
docker build -q --force-rm --network host -t "$IMAGE" --build-arg PIP_NO_INDEX=1 \
  --build-arg PIP_FIND_LINKS=/opt/kanslab/$WHEELS . >/dev/null
rm -rf "$WHEELS"

# -- 4. the lab and chapter 01 in the container --------------------------------------------------
# --privileged is refused on this machine (root here lacks CAP_SYS_RESOURCE, which --privileged asks
# for), so the container gets every other capability, no seccomp/AppArmor filter, a writable
# /proc/sys (systempaths=unconfined: the lab writes net.* sysctls in its namespaces) and /dev/net/tun
# (the IPIP path where the kernel has no ipip module); --network none: the lab needs no network.
log "docker run: kanslab up, then chapter 01 under nbval"
docker run --rm --network none \
  --cap-add ALL --cap-drop SYS_RESOURCE \
  --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined \
  --device /dev/net/tun \
  "$IMAGE" \
  bash -c 'python -m pytest -q -p no:cacheprovider notebooks/01-modes.ipynb; rc=$?
           kanslab down >/dev/null; exit $rc'
log "chapter 01 passed in the container"
if [ -z "${KANSLAB_SMOKE_KEEP:-}" ]; then
  docker image rm -f "$IMAGE" >/dev/null || true
fi
