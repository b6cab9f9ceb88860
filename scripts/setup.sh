#!/usr/bin/env bash
# Makes this checkout ready to run: Debian packages, npm packages, the native addon
# and the compiled TypeScript. Every step is skipped when its output is up to date,
# so running it again costs well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# What strait needs from Debian: the toolchain for the addon and the BPF objects,
# libnl and libbpf for netlink and BPF, iproute2/iptables for tests, and the
# reference CNI plugins and iperf3 that tests and benchmarks compare against.
DEBS=(build-essential python3 pkg-config clang llvm libbpf-dev bpftool libnl-3-dev libnl-route-3-dev
      iproute2 iptables ipset iputils-ping iperf3 sockperf containernetworking-plugins util-linux)

missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  [ "$(id -u)" = 0 ] || { say "need root to install: ${missing[*]}"; exit 1; }
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  say "Node.js 20 or newer is required (found: $(node --version 2>/dev/null || echo none))"
  exit 1
fi

# npm ci when the lock file changed since the last install (it also builds the addon).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >&2
  touch node_modules/.package-lock.json
fi

newer_than() { # newer_than TARGET SOURCES... : true when a source is newer than TARGET
  local target=$1; shift
  [ -e "$target" ] || return 0
  [ -n "$(find "$@" -newer "$target" -print -quit 2>/dev/null)" ]
}

if newer_than build/Release/strait.node native binding.gyp; then
  say "building the native addon"
  npx --no-install node-gyp rebuild --loglevel=error >&2
fi

# The BPF objects: make knows what is stale.
make -s -C bpf

if newer_than dist/.built src tsconfig.json package-lock.json; then
  say "compiling TypeScript"
  rm -rf dist
  npx --no-install tsc -p tsconfig.json
  # The CNI plugin starts once per call: one bundle (with lazily loaded chunks)
  # instead of dozens of ES modules takes a good part of the module-loading cost
  # off every ADD and DEL.
  npx --no-install esbuild src/cni/main.ts --bundle --splitting --format=esm --platform=node \
    --target=node20 --outdir=dist/cni-bundle --log-level=warning \
    --banner:js="import { createRequire as __strait_cr } from 'node:module'; const require = __strait_cr(import.meta.url);"
  touch dist/.built
fi
