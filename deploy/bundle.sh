#!/usr/bin/env bash
# Writes deploy/strait.yaml, the one manifest, from deploy/parts/ (in name order).
# test/unit/deploy-manifests.test.ts fails while the two differ.
set -euo pipefail
cd "$(dirname "$0")"
{
  echo '# strait: ServiceAccount, ClusterRole, ClusterRoleBinding, ConfigMap, DaemonSet.'
  echo '# Generated from deploy/parts/ by deploy/bundle.sh: edit the parts, then run it.'
  for f in parts/*.yaml; do
    echo '---'
    cat "$f"
  done
} >strait.yaml
