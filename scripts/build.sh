#!/usr/bin/env bash
# Builds what the executables need, on a set-up checkout (scripts/setup.sh installs
# the toolchain, Node.js 24 and the npm packages; this installs nothing):
#   shim    the CNI plugin runtimes exec, bin/strait: static C, libc only (shim/strait.c)
#   addon   the native addon, build/Release/strait.node, against Node.js 24's headers
#   bpf     the BPF objects, build/bpf/*.bpf.o (make: only what is stale)
#   ts      the TypeScript, dist/, and the CNI plugin's bundle, dist/cni-bundle
# No argument builds all four; `npm run build` runs this. Each step builds
# unconditionally: knowing when one is up to date is setup.sh's job.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[build]\033[0m %s\n' "$*" >&2; }

# Node.js 24 first on PATH (the tools' shebangs find it there), and node-gyp pointed
# at its headers, even under an npm that runs on an older node or an npmrc whose
# nodedir names another node's headers. The tools run directly, not through npx:
# no npm start-up, and no warnings about that npmrc.
[ -x tools/node24/bin/node ] && [ -d node_modules/.bin ] || { say "not set up: run scripts/setup.sh first"; exit 1; }
. scripts/node-env.sh

shim() {
  say "the CNI shim, bin/strait"
  # Static, so it runs on any host; built aside and renamed over, so a runtime that
  # execs bin/strait during a rebuild gets the old binary or the new one, never half.
  cc -std=c11 -O2 -Wall -Wextra -Werror -static -o bin/.strait.tmp shim/strait.c
  mv -f bin/.strait.tmp bin/strait
}

addon() {
  local version
  version=$(node --version)
  say "native addon for Node.js $version"
  node_modules/.bin/node-gyp rebuild --loglevel=error >&2
  echo "$version" >build/.node-version
}

bpf() {
  make -s -C bpf
}

ts() {
  say "TypeScript and the CNI bundle"
  rm -rf dist
  node_modules/.bin/tsc -p tsconfig.json
  # The CNI plugin starts once per call: one bundle (with lazily loaded chunks)
  # instead of dozens of ES modules takes a good part of the module-loading cost
  # off every ADD and DEL.
  node_modules/.bin/esbuild src/cni/main.ts --bundle --splitting --format=esm --platform=node \
    --target=node24 --outdir=dist/cni-bundle --log-level=warning \
    --banner:js="import { createRequire as __strait_cr } from 'node:module'; const require = __strait_cr(import.meta.url);"
  touch dist/.built
}

steps=("$@")
((${#steps[@]})) || steps=(shim addon bpf ts)
for step in "${steps[@]}"; do
  case $step in
    shim | addon | bpf | ts) "$step" ;;
    *) say "unknown step '$step' (shim, addon, bpf, ts)"; exit 2 ;;
  esac
done
