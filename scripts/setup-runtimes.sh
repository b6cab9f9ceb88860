#!/usr/bin/env bash
# The container runtimes the e2e tests drive strait with (test/e2e): containerd
# (ctr and its CRI plugin) with runc, podman (CNI backend), and busybox-static for a
# registry-free test image. Installed only when missing, like scripts/setup.sh.
#
# Note: installing podman drops /etc/cni/net.d/87-podman-bridge.conflist. It is
# harmless for strait (ctr picks the first conflist in sorted order, and ours is
# 10-strait.conflist; the CRI and podman tests use private conf dirs), and we leave
# it alone: the package owns it.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup-runtimes]\033[0m %s\n' "$*" >&2; }

DEBS=(containerd runc podman busybox-static uidmap fuse-overlayfs)

missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    say "not root: cannot install ${missing[*]} (the e2e tests need root and will be skipped)"
    exit 0
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # podman's own recommends pull in more than we need; conmon, crun/runc,
  # containers-common and netavark come as dependencies.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
