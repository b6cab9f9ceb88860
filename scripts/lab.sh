#!/usr/bin/env bash
# strait's main job on this machine: sets up what is missing, then runs three pods
# in network namespaces through the real CNI plugin with traffic between them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/node-env.sh # Node.js 24 for everything straitctl lab starts
exec bin/straitctl lab "$@"
