#!/usr/bin/env bash
# Verifier portability drill: boots the Debian kernels people run strait on under
# qemu, each with a tiny initramfs (busybox-static, a static libbpf loader and the
# BPF objects), loads every object the way the addon does and prints the
# verifier's verdict per kernel and program.
#
#   bash scripts/verifier-vms.sh [--json FILE] [OBJECT...]   run the drill
#   bash scripts/verifier-vms.sh --setup                     install and fetch only
#   bash scripts/verifier-vms.sh --list                      the kernels it boots
#
# OBJECTs default to build/bpf/*.bpf.o (made first with `make -C bpf`); they are
# loaded in the given order into one pin root, so later objects reuse the maps
# earlier ones pinned, as in strait. Exit status: 0 when every object loaded on
# every kernel that could be had, 1 when one failed, 77 when the drill cannot run
# here (no qemu and not root to install it, or no kernel could be fetched).
#
# Kernels come from Debian's archive as linux-image-*-cloud-amd64-unsigned
# packages, fetched with apt-get download through a private apt state (the
# machine's own sources stay untouched) from the mirror this machine already uses,
# and only vmlinuz and its config are kept, in $STRAIT_VM_CACHE
# (/var/cache/strait/verifier-vms): a second run downloads nothing. Debian ships
# no 5.15 or 6.6 kernel (those are Ubuntu's and other distros' LTS lines), so the
# drill brackets them: 5.10 (bullseye), 6.1 (bookworm), 6.12 (bookworm security
# and backports). The host's own kernel is covered by the other test/bpf tests.
#
# Acceleration: KVM when /dev/kvm can run a stock kernel, else TCG (emulation;
# each boot still takes seconds). A /dev/kvm from kvm-pvm (a nested hypervisor
# that runs only PVM-enabled guests) cannot, and a stock kernel hangs before its
# first message there; STRAIT_VM_ACCEL=kvm|tcg overrides the choice.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

say() { printf '\033[1m[verifier-vms]\033[0m %s\n' "$*" >&2; }
loud() { printf '\033[1;33m[verifier-vms] %s\033[0m\n' "$*" >&2; }

CACHE=${STRAIT_VM_CACHE:-$([ "$(id -u)" = 0 ] && echo /var/cache/strait/verifier-vms || echo "${XDG_CACHE_HOME:-$HOME/.cache}/strait/verifier-vms")}
BUILD=$ROOT/build/verifier-vms
BOOT_TIMEOUT=${STRAIT_VM_BOOT_TIMEOUT:-120}

# label | suites that carry it | package name pattern (newest that downloads wins)
KERNELS=(
  "5.10|bullseye bullseye-security|^linux-image-5\.10\.0-[0-9]+-cloud-amd64-unsigned$"
  "6.1|bookworm bookworm-security|^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$"
  "6.12|bookworm-security bookworm-backports|^linux-image-6\.12\.[0-9]+\+deb12-cloud-amd64-unsigned$"
)
DEBS=(qemu-system-x86 busybox-static build-essential libbpf-dev libelf-dev zlib1g-dev)

mode=run json=""
objects=()
while (($#)); do
  case $1 in
    --setup) mode=setup ;;
    --list) mode=list ;;
    --json) json=$(realpath -m "$2"); shift ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    -*) say "unknown option $1"; exit 2 ;;
    *) objects+=("$(realpath "$1")") ;;
  esac
  shift
done

if [ "$mode" = list ]; then
  for k in "${KERNELS[@]}"; do echo "${k%%|*}"; done
  exit 0
fi

install_debs() {
  local missing=() p
  for p in "${DEBS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  if [ "$(id -u)" != 0 ]; then
    loud "SKIP: not root, cannot install ${missing[*]}"
    exit 77
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# A private apt state whose sources are the machine's own Debian mirrors, for every
# suite a kernel comes from; `apt-get update` of it runs once, on the first fetch.
APT_DIR=$CACHE/apt
APT_OPTS=(-o Dir::Etc::SourceList="$APT_DIR/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o Dir::State::Lists="$APT_DIR/lists" -o Dir::Cache="$APT_DIR/cache" -o Dir::State::Status=/dev/null
  -o APT::Sandbox::User="$(id -un)")
apt_private() { apt-get "${APT_OPTS[@]}" "$@"; }
apt_cache_private() { apt-cache "${APT_OPTS[@]}" "$@"; }
prepare_apt() { # prepare_apt [refresh]
  [ -s "$APT_DIR/.updated" ] && [ "${1:-}" != refresh ] && return 0
  local main sec suites=() k
  main=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' | awk '$2 ~ /^[a-z]+$/ {print $1; exit}')
  sec=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' | awk '$2 ~ /-security$/ {print $1; exit}')
  [ -n "$main" ] || { loud "no Debian archive in this machine's apt sources"; return 1; }
  mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial"
  for k in "${KERNELS[@]}"; do k=${k#*|}; suites+=(${k%%|*}); done
  local key=/usr/share/keyrings/debian-archive-keyring.gpg s uri
  : >"$APT_DIR/sources.list"
  for s in $(printf '%s\n' "${suites[@]}" | sort -u); do
    uri=$main
    [[ $s == *-security ]] && { [ -n "$sec" ] || continue; uri=$sec; }
    echo "deb [signed-by=$key] $uri $s main" >>"$APT_DIR/sources.list"
  done
  # A suite the mirror lacks is a warning, not an error: its kernel is then missing.
  apt_private update -qq 2>&1 | sed 's/^/  apt: /' >&2 || true
  date -u >"$APT_DIR/.updated"
}

# fetch_kernel LABEL PATTERN: $CACHE/kernels/LABEL/{vmlinuz,config,package} once.
# The newest package that downloads wins; when none does, the package lists may be
# older than the archive (it drops superseded kernels), so they are fetched anew once.
fetch_kernel() {
  local label=$1 pattern=$2
  [ -s "$CACHE/kernels/$label/vmlinuz" ] && return 0
  prepare_apt || return 1
  try_kernel "$label" "$pattern" && return 0
  say "$label: refreshing the package lists"
  prepare_apt refresh && try_kernel "$label" "$pattern" && return 0
  loud "$label: no package matching $pattern could be downloaded"
  return 1
}

try_kernel() {
  local label=$1 pattern=$2 dir=$CACHE/kernels/$1 pkg tmp
  for pkg in $(apt_cache_private search --names-only "$pattern" | awk '{print $1}' | sort -rV); do
    tmp=$(mktemp -d "$CACHE/fetch.XXXXXX")
    if (cd "$tmp" && apt_private download -qq "$pkg" >/dev/null 2>"$tmp/err"); then
      say "$label: extracting vmlinuz from $pkg"
      dpkg-deb --fsys-tarfile "$tmp"/*.deb | tar -x -C "$tmp" --wildcards './boot/vmlinuz-*' './boot/config-*'
      mkdir -p "$dir"
      mv "$tmp"/boot/config-* "$dir/config"
      echo "$pkg $(dpkg-deb -f "$tmp"/*.deb Version)" >"$dir/package"
      mv "$tmp"/boot/vmlinuz-* "$dir/vmlinuz" # last: its presence marks the cache complete
      rm -rf "$tmp"
      return 0
    fi
    say "$label: $pkg: $(tail -1 "$tmp/err")"
    rm -rf "$tmp"
  done
  return 1
}

setup() {
  install_debs
  mkdir -p "$CACHE" "$BUILD"
  exec 9>"$CACHE/.lock"
  flock 9 # one fetch at a time; the cache is shared by every checkout
  local k label rest got=0
  for k in "${KERNELS[@]}"; do
    label=${k%%|*}; rest=${k#*|}
    fetch_kernel "$label" "${rest#*|}" && got=$((got + 1))
  done
  if [ "$BUILD/loader" -ot scripts/verifier-vms/loader.c ] || [ ! -x "$BUILD/loader" ]; then
    say "building the static loader"
    gcc -O2 -Wall -Wextra -Werror -static -o "$BUILD/loader.tmp" scripts/verifier-vms/loader.c -lbpf -lelf -lz
    mv "$BUILD/loader.tmp" "$BUILD/loader"
  fi
  flock -u 9
  ((got)) || { loud "SKIP: no kernel could be fetched"; exit 77; }
}

setup
[ "$mode" = setup ] && exit 0

if ((${#objects[@]} == 0)); then
  make -s -C bpf
  objects=("$ROOT"/build/bpf/*.bpf.o)
fi

accel=${STRAIT_VM_ACCEL:-}
if [ -z "$accel" ]; then
  if [ -d /sys/module/kvm_pvm ]; then
    accel=tcg; loud "using TCG: /dev/kvm is kvm-pvm here, which boots only PVM guests, not Debian's kernels"
  elif [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
    accel=kvm
  else
    accel=tcg; loud "using TCG: no usable /dev/kvm"
  fi
fi

run=$(mktemp -d "$BUILD/run.XXXXXX")
trap 'rm -rf "$run"' EXIT
# The initramfs: busybox, the loader, /init and the objects (uncompressed cpio).
mkdir -p "$run/rd/bin" "$run/rd/obj"
cp /bin/busybox "$BUILD/loader" "$run/rd/bin/"
cp scripts/verifier-vms/init "$run/rd/init"
chmod 755 "$run/rd/init"
for o in "${objects[@]}"; do
  cp "$o" "$run/rd/obj/"
  echo "/obj/$(basename "$o")" >>"$run/rd/obj/order"
done
(cd "$run/rd" && find . | busybox cpio -o -H newc -R 0:0 2>/dev/null) >"$run/initrd"

boot() { # boot LABEL ACCEL: $run/LABEL.result (JSON lines) and .console
  local label=$1 accel_args
  if [ "$2" = kvm ]; then accel_args=(-enable-kvm -cpu host); else accel_args=(-accel tcg); fi
  rm -f "$run/$label.result" "$run/$label.console"
  timeout "$BOOT_TIMEOUT" qemu-system-x86_64 "${accel_args[@]}" -m 512M -smp 1 \
    -nodefaults -nographic -no-reboot \
    -serial "file:$run/$label.console" -serial "file:$run/$label.result" \
    -kernel "$CACHE/kernels/$label/vmlinuz" -initrd "$run/initrd" \
    -append "console=ttyS0 panic=-1 quiet" </dev/null >"$run/$label.qemu" 2>&1 || true
}

out=$run/all.jsonl
: >"$out"
for k in "${KERNELS[@]}"; do
  label=${k%%|*}
  if [ ! -s "$CACHE/kernels/$label/vmlinuz" ]; then
    printf '{"label":"%s","unavailable":"no Debian package could be fetched"}\n' "$label" >>"$out"
    continue
  fi
  start=$(date +%s%N)
  boot "$label" "$accel"
  used=$accel
  if [ "$accel" = kvm ] && ! grep -q '"kernel"' "$run/$label.result" 2>/dev/null; then
    loud "$label: no result under KVM, booting again under TCG"
    boot "$label" tcg
    used=tcg
  fi
  ms=$((($(date +%s%N) - start) / 1000000))
  printf '{"label":"%s","package":"%s","accel":"%s","ms":%d}\n' \
    "$label" "$(cat "$CACHE/kernels/$label/package")" "$used" "$ms" >>"$out"
  # Each guest line is one JSON document; a line that is not (a truncated write)
  # is kept as text so the summary shows it.
  tr -d '\r' <"$run/$label.result" 2>/dev/null | while IFS= read -r line; do
    [ -n "$line" ] || continue
    if [[ $line == \{*\} ]]; then
      printf '{"label":"%s","guest":%s}\n' "$label" "$line"
    else
      printf '{"label":"%s","noise":%s}\n' "$label" "$(printf '%s' "$line" | node -e 'process.stdout.write(JSON.stringify(require("fs").readFileSync(0,"utf8")))')"
    fi
  done >>"$out"
  if ! grep -q "\"label\":\"$label\",\"guest\":{\"done\"" "$out"; then
    printf '{"label":"%s","console":%s}\n' "$label" \
      "$(tail -c 4000 "$run/$label.console" "$run/$label.qemu" 2>/dev/null | node -e 'process.stdout.write(JSON.stringify(require("fs").readFileSync(0,"utf8")))')" >>"$out"
  fi
done

[ -z "$json" ] || cp "$out" "$json"
node scripts/verifier-vms/summary.mjs "$out"
