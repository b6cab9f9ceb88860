#!/usr/bin/env bash
# strait's main job on this machine: sets up what is missing, then runs a three-node
# emulated cluster (README "The main job") with traffic between its pods, and removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/node-env.sh # Node.js 24 for everything straitctl lab starts
exec bin/straitctl lab "$@"
