#!/usr/bin/env bash
# The course's pod manifests, uploaded by Vagrant, into ~/manifests of root and vagrant on k8s-m.
# Usage: manifests.sh UPLOAD_DIR
set -euo pipefail
SRC=$1
for home in /root /home/vagrant; do
  [ -d "$home" ] || continue
  owner=$(stat -c %U "$home")
  install -d -m 0755 -o "$owner" "$home/manifests"
  for f in "$SRC"/*.yaml; do
    install -m 0644 -o "$owner" "$f" "$home/manifests/"
  done
done
echo "[kanslab] manifests in ~/manifests: $(cd "$SRC" && echo ./*.yaml)"
