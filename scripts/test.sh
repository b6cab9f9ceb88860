#!/usr/bin/env bash
# The test command: sets up what is missing, checks the C formatting, type-checks, runs
# every tier, and ends with one summary line ("N passed, N failed, N skipped") that CI reads.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The C, C++ and BPF sources as clang-format leaves them (fix: bash scripts/format.sh).
bash scripts/format.sh --check
# typescript-eslint's strict type-checked rules over the TypeScript, ESLint's recommended
# ones over bench/ and scripts/ (eslint.config.js says which rules are tuned and why).
if ! (. scripts/node-env.sh && npm run --silent lint); then
  printf '\033[1;31m[lint]\033[0m eslint found the problems above; fix them (npx eslint --fix . fixes some)\n' >&2
  exit 1
fi
# containerd, runc, podman and busybox-static for the e2e tier (test/e2e).
bash scripts/setup-runtimes.sh
# qemu, busybox-static and Debian's 5.10/6.1/6.12 kernels for the verifier drill
# (test/bpf/verifier-kernels.test.ts); 77 means it cannot run here, and the test says so.
bash scripts/verifier-vms.sh --setup || [ $? = 77 ]
. scripts/node-env.sh # Node.js 24 for tsc, vitest and the tests' children

if [ "$(id -u)" != 0 ]; then
  printf '\033[1;33m[test] NOT ROOT: netns integration tests will be skipped (they need root and a real kernel)\033[0m\n' >&2
fi

npx --no-install tsc -p tsconfig.test.json
report=$(mktemp /tmp/strait-vitest.XXXXXX.json)
trap 'rm -f "$report"' EXIT
status=0
npx --no-install vitest run --reporter=default --reporter=json --outputFile="$report" "$@" || status=$?
node scripts/test-summary.mjs "$report" || status=1
exit "$status"
