#!/usr/bin/env bash
# The container's entrypoint: bring the embedded lab up (no systemd here: kanslab starts its own
# daemons), then run the command (JupyterLab by default, see the Dockerfile).
set -euo pipefail
if ! kanslab up; then
  echo "[kanslab] the embedded lab did not start. It needs the container to run with --privileged" \
       "(or: --cap-add ALL --security-opt seccomp=unconfined --security-opt apparmor=unconfined" \
       "--security-opt systempaths=unconfined --device /dev/net/tun)." >&2
  exit 1
fi
exec "$@"
