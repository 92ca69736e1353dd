#!/usr/bin/env bash
# check_exports.sh LIBRARY PATTERN: every symbol the shared LIBRARY defines for the dynamic linker must
# match the extended regular expression PATTERN, and at least one must. NM overrides the nm used
# (cross builds pass their toolchain's).
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 LIBRARY PATTERN" >&2
  exit 2
fi
library=$1
pattern=$2
exported=$("${NM:-nm}" -D --defined-only "$library" | awk '{ print $NF }')
unexpected=$(grep -Ev "$pattern" <<<"$exported" || true)
if [ -n "$unexpected" ]; then
  echo "$library exports symbols that do not match $pattern:" >&2
  echo "$unexpected" >&2
  exit 1
fi
if ! grep -Eq "$pattern" <<<"$exported"; then
  echo "$library exports nothing that matches $pattern" >&2
  exit 1
fi
echo "$library: $(wc -l <<<"$exported") exported symbols, all match $pattern"
