#!/usr/bin/env bash
# clang-format for every C, C++ and BPF source: the BPF C and the CNI shim (shim/) in kernel
# style (.clang-format),
# the C++ addon in its own (native/.clang-format).
#   bash scripts/format.sh           formats them in place
#   bash scripts/format.sh --check   changes nothing; exit 1 naming each file that differs
#                                    (scripts/test.sh runs this before the tests)
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian 12's clang-format 14 (scripts/setup.sh installs it). Another major version
# formats some constructs differently, so a check with it may disagree.
CLANG_FORMAT=${CLANG_FORMAT:-clang-format}
command -v "$CLANG_FORMAT" >/dev/null || {
  echo "[format] $CLANG_FORMAT not found: bash scripts/setup.sh installs it" >&2
  exit 1
}

mapfile -t files < <(find bpf native shim test scripts -type f \( -name '*.c' -o -name '*.h' -o -name '*.cc' \) | sort)

if [ "${1:-}" != --check ]; then
  "$CLANG_FORMAT" -i "${files[@]}"
  exit 0
fi

bad=()
for f in "${files[@]}"; do
  "$CLANG_FORMAT" --dry-run -Werror "$f" 2>/dev/null || bad+=("$f")
done
if ((${#bad[@]})); then
  {
    printf '\033[1;31m[format]\033[0m not formatted as %s would:\n' "$("$CLANG_FORMAT" --version)"
    printf '  %s\n' "${bad[@]}"
    printf '[format] fix: bash scripts/format.sh (then git diff shows what it changed)\n'
  } >&2
  exit 1
fi
