#!/usr/bin/env bash
# bench_smoke.sh EDGELM_BENCH MODEL WORK_DIR: edgelm-bench on a small model, every kind of test (prompt-lookup
# speculation included), with the bandwidth probe paired with the decode repetitions; then the saved
# JSON must re-print through
# --table with a measured value in every cell that should have one, and compare equal to itself.
# Speed itself is never checked here (docs/performance.md): only that each number was measured.
set -euo pipefail
if [ $# -ne 3 ]; then
  echo "usage: $0 EDGELM_BENCH MODEL WORK_DIR" >&2
  exit 2
fi
bench=$1
model=$2
work=$3
rm -rf "$work"
mkdir -p "$work"
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

"$bench" "$model" --prefill 16 --depths 0,32 --n-gen 4 --threads 1,2 --reps 2 --bandwidth-mib 16 --verify 4 \
  --speculate lookup --json "$work/run.json" > "$work/stdout.txt"
cat "$work/stdout.txt"
"$bench" --table "$work/run.json" > "$work/table.txt"
cmp -s "$work/stdout.txt" "$work/table.txt" || fail "--table does not re-print the run's tables"

# The speed table: pp16 and tg4 / tg4 @ d32 at 1 and 2 threads, with the linear engine
# EDGELM_KERNELS selects; t/s, and for decode both roofline fractions, positive numbers.
awk -F'|' -v engine="${EDGELM_KERNELS:-auto}" '
  $8 ~ /^ (pp16|tg4|tg4 @ d32) $/ {
    rows++
    if ($4 != " " engine " ") { print "engine is not " engine " in: " $0; bad = 1 }
    if ($9 + 0 <= 0) { print "no t/s in: " $0; bad = 1 }
    if ($8 ~ /tg/ && ($14 + 0 <= 0 || $15 + 0 <= 0)) { print "no roofline fraction in: " $0; bad = 1 }
  }
  END { if (rows != 6) { print rows + 0 " speed rows, expected 6"; bad = 1 } exit bad }' "$work/table.txt" ||
  fail "incomplete speed table"

# The verification table (--verify 4): 1 and 4 tokens at both depths and thread counts, positive ms,
# 1.00x for one token.
awk -F'|' '
  $6 ~ /^ (1|4) $/ && $5 ~ /^ (0|32) $/ {
    rows++
    if ($7 + 0 <= 0) { print "no ms in: " $0; bad = 1 }
    if ($6 == " 1 " && $10 != " 1.00x ") { print "one token is not 1.00x in: " $0; bad = 1 }
  }
  END { if (rows != 8) { print rows + 0 " verify rows, expected 8"; bad = 1 } exit bad }' "$work/table.txt" ||
  fail "incomplete verify table"

# The speculation table (--speculate lookup): every workload at both thread counts, plain and
# speculative t/s measured (the bench itself stops if speculation changed the output).
awk -F'|' '
  $3 ~ /^ lookup $/ {
    rows++
    if ($6 + 0 <= 0 || $7 + 0 <= 0) { print "no t/s in: " $0; bad = 1 }
  }
  END { if (rows != 6) { print rows + 0 " speculation rows, expected 6"; bad = 1 } exit bad }' "$work/table.txt" ||
  fail "incomplete speculation table"

"$bench" --compare "$work/run.json" "$work/run.json" > "$work/compare.txt"
grep -q "| tg4 @ d32, 2 threads, of paired roofline |" "$work/compare.txt" || fail "--compare lacks the paired roofline"
awk -F'|' '$5 ~ /[0-9]/ && $5 + 0 != 1 { print "ratio of a run to itself is not 1: " $0; bad = 1 } END { exit bad }' \
  "$work/compare.txt" || fail "--compare of a run with itself"
echo "bench_smoke: OK"
