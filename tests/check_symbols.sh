#!/usr/bin/env bash
# check_symbols.sh LIBRARY SYMBOL...: LIBRARY defines every SYMBOL in its code (exported or hidden),
# e.g. that XNNPACK's operators were linked in. NM overrides the nm used (cross builds pass theirs).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 LIBRARY SYMBOL..." >&2
  exit 2
fi
library=$1
shift
defined=$("${NM:-nm}" --defined-only "$library" | awk '$2 ~ /^[tT]$/ { print $3 }')
for symbol in "$@"; do
  if ! grep -qx "$symbol" <<<"$defined"; then
    echo "$library does not define $symbol" >&2
    exit 1
  fi
done
echo "$library defines all $# symbols"
