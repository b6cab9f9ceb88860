#!/usr/bin/env bash
# Builds the e2e tests' container images without a registry: an OCI image archive
# holding two images over one layer made from Debian's busybox-static,
#   localhost/strait/busybox:1   Cmd ["/bin/sh"]               (test containers)
#   localhost/strait/pause:1     Entrypoint sleep infinity     (CRI sandbox image)
# and the unpacked rootfs (for `podman run --rootfs DIR:O`). Same busybox, same
# bytes: every timestamp, owner, mode and ordering is fixed, so building twice gives
# byte-identical archives (test/e2e/test-image.test.ts checks it).
#
#   scripts/build-test-image.sh OUT_DIR   ->  OUT_DIR/images.tar, OUT_DIR/rootfs/
#
# Import with `ctr [-n k8s.io] image import OUT_DIR/images.tar`.
set -euo pipefail
umask 022
export LC_ALL=C TZ=UTC

out=${1:?usage: build-test-image.sh OUT_DIR}
busybox=${BUSYBOX:-/bin/busybox}
image_name=${IMAGE_NAME:-localhost/strait/busybox:1}
sandbox_name=${SANDBOX_IMAGE_NAME:-localhost/strait/pause:1}
[ -x "$busybox" ] || { echo "build-test-image: $busybox missing (apt-get install busybox-static)" >&2; exit 1; }
arch=$(dpkg --print-architecture)

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- rootfs: busybox and a symlink per applet where a distribution would put it ---
root=$work/rootfs
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,dev,proc,sys,run,var,root,tmp}
install -m 0755 "$busybox" "$root/bin/busybox"
"$busybox" --list-full | grep -vx bin/busybox >"$work/applets"
(cd "$root" && sed -n 's|/[^/]*$||p' "$work/applets" | sort -u | xargs mkdir -p && xargs -n1 ln -sf /bin/busybox <"$work/applets")
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
find "$root" -type d -exec chmod 0755 {} +
chmod 1777 "$root/tmp"
chmod 0644 "$root/etc/passwd" "$root/etc/group"

# --- the layer: a tar with nothing of this machine or this moment in it ---
tar_fixed() { tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu "$@"; }
tar_fixed -C "$root" -cf "$work/layer.tar" .
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
gzip -n -9 <"$work/layer.tar" >"$work/layer.tar.gz"

blobs=$work/oci/blobs/sha256
mkdir -p "$blobs"
# put FILE: store it as a blob, print "digest size"
put() {
  local d; d=$(sha256sum "$1" | cut -d' ' -f1)
  cp "$1" "$blobs/$d"
  echo "$d $(stat -c %s "$1")"
}
read -r layer_digest layer_size < <(put "$work/layer.tar.gz")

json_list() { # json_list a b c -> ["a","b","c"] (arguments must not need escaping)
  local out='' s
  for s in "$@"; do out+="${out:+,}\"$s\""; done
  printf '[%s]' "$out"
}

# image NAME PROCESS_JSON: writes config and manifest blobs, prints the index entry
image() {
  local name=$1 process=$2 config manifest cd cs md ms
  config=$work/config.json
  printf '{"architecture":"%s","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"strait scripts/build-test-image.sh"}]}' \
    "$arch" "$process" "$diff_id" >"$config"
  read -r cd cs < <(put "$config")
  manifest=$work/manifest.json
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
    "$cd" "$cs" "$layer_digest" "$layer_size" >"$manifest"
  read -r md ms < <(put "$manifest")
  printf '{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"%s","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}' \
    "$md" "$ms" "$arch" "$name" "$name"
}

entry_image=$(image "$image_name" "\"Cmd\":$(json_list /bin/sh)")
entry_sandbox=$(image "$sandbox_name" "\"Entrypoint\":$(json_list /bin/sleep infinity)")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[%s,%s]}' \
  "$entry_image" "$entry_sandbox" >"$work/oci/index.json"
printf '{"imageLayoutVersion":"1.0.0"}' >"$work/oci/oci-layout"
find "$work/oci" -type d -exec chmod 0755 {} +
find "$work/oci" -type f -exec chmod 0644 {} +

tar_fixed -C "$work/oci" -cf "$work/images.tar" oci-layout index.json blobs
mv -f "$work/images.tar" "$out/images.tar"
rm -rf "$out/rootfs"
mv "$root" "$out/rootfs"
echo "$out/images.tar"
