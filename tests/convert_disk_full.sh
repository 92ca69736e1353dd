#!/usr/bin/env bash
# convert_disk_full.sh EDGELM_CONVERT CONFIG_JSON WORK_DIR: edgelm-convert writing under a file-size
# limit (to write(), the same as a full disk) must exit nonzero with a message that names the output,
# and leave neither the output nor its temporary file behind. The converter ignores SIGXFSZ itself,
# so no trap is set here. A run without the limit then checks that the command line itself is good.
set -euo pipefail
if [ $# -ne 3 ]; then
  echo "usage: $0 EDGELM_CONVERT CONFIG_JSON WORK_DIR" >&2
  exit 2
fi
convert=$1
config=$2
work=$3
out_dir="$work/out"
rm -rf "$work"
mkdir -p "$out_dir"

status=0
(ulimit -f 64 && exec "$convert" --synthesize "$config" -f mobile -q -o "$out_dir/model.edgelm") \
  2>"$work/stderr.txt" || status=$?
cat "$work/stderr.txt" >&2
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
[ "$status" -ne 0 ] || fail "edgelm-convert succeeded under a 64-block file-size limit"
[ "$status" -lt 128 ] || fail "edgelm-convert was killed by signal $((status - 128)) instead of reporting the error"
grep -q "edgelm-convert: cannot write $out_dir/model.edgelm: " "$work/stderr.txt" || fail "no clear error message"
leftovers=$(ls -A "$out_dir")
[ -z "$leftovers" ] || fail "files left behind: $leftovers"

"$convert" --synthesize "$config" -f mobile -q -o "$out_dir/model.edgelm" || fail "edgelm-convert fails without the limit too"
[ "$(ls -A "$out_dir")" = model.edgelm ] || fail "expected exactly model.edgelm after an unlimited run"
echo "PASS"
