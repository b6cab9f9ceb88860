#!/usr/bin/env bash
# What the strait DaemonSet's container runs: reads the ConfigMap (mounted at
# $STRAIT_CONFIG_DIR) and execs strait-agent with the install flags, so the agent is
# the container's process (signals reach it, its exit is the container's).
#   entrypoint.sh              run the agent: install the CNI, serve the node
#   entrypoint.sh --uninstall  remove what the install wrote, put back what it moved
# The paths are those of the host (the DaemonSet mounts each host path at its own
# place, since the conflist and the shim name them); each can be changed by an
# environment variable, which is how a test runs this as an emulated node's agent.
set -euo pipefail

root=$(readlink -f "$0") && root=${root%/deploy/*}
config_dir=${STRAIT_CONFIG_DIR:-/etc/strait}
source=${STRAIT_SOURCE:-kube}
bin_dir=${STRAIT_CNI_BIN_DIR:-/opt/cni/bin}
conf_dir=${STRAIT_CNI_CONF_DIR:-/etc/cni/net.d}
state_dir=${STRAIT_STATE_DIR:-/var/lib/strait}
bpf_dir=${STRAIT_BPF_DIR:-/sys/fs/bpf/strait}
socket=${STRAIT_AGENT_SOCKET:-/run/strait/agent.sock}
health=${STRAIT_HEALTH_ADDR:-127.0.0.1:9876}

die() { echo "strait entrypoint: $*" >&2; exit 1; }

# The ConfigMap's options: one argument a line; blank lines and # comments skipped.
args=()
if [ -f "$config_dir/agent.flags" ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line#"${line%%[![:space:]]*}"}
    line=${line%"${line##*[![:space:]]}"}
    [ -z "$line" ] || [ "${line:0:1}" = "#" ] || args+=("$line")
  done <"$config_dir/agent.flags"
fi
[ ! -f "$config_dir/10-strait.conflist" ] || args+=(--cni-conflist-template "$config_dir/10-strait.conflist")

if [ "${1:-}" != --uninstall ]; then
  # Pins must live on the host's bpffs to outlive this container (and to be the
  # ones the next agent adopts): the nearest existing ancestor of the pin dir must
  # be a bpffs already. One the agent mounted inside the container would die with it.
  probe=$bpf_dir
  while [ ! -e "$probe" ]; do probe=$(dirname "$probe"); done
  fs=$(stat -f -c %T "$probe")
  [ "$fs" = bpf_fs ] || die "$probe is on $fs, not a bpf filesystem: mount one on the host first (mount -t bpf bpf /sys/fs/bpf; systemd does at boot)"
fi

exec "$root/bin/strait-agent" --source "$source" --state-dir "$state_dir" --bpf-dir "$bpf_dir" --socket "$socket" \
  --health-addr "$health" --cni-bin-dir "$bin_dir" --cni-conf-dir "$conf_dir" "${args[@]}" "$@"
