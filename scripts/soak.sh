#!/usr/bin/env bash
# soak.sh — the seeded random soak of the C API (tests/soak/soak.cc) for MINUTES: back-to-back runs
# of RUN_SECONDS each, every run with a new seed (printed), until the time is up or a run fails; a
# failure prints the driver's report and the command that replays it.
#   scripts/soak.sh MINUTES [SEED]      SEED: the first run's seed (default: random), then SEED+1, ...
#   env: ASAN=1 (ASan + UBSan, build-soak-asan) or TSAN=1 (build-soak-tsan); default Release, build-soak
#        THREADS=2 SESSIONS=2 RUN_SECONDS=120, BUILD_DIR to build elsewhere, LOG_DIR (default BUILD_DIR/soak-logs)
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: scripts/soak.sh MINUTES [SEED]   (env: ASAN=1 | TSAN=1, THREADS, SESSIONS, RUN_SECONDS)" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
minutes="$1"
[[ "$minutes" =~ ^[0-9]+([.][0-9]+)?$ ]] || usage
seed="${2:-}"
[ -z "$seed" ] || [[ "$seed" =~ ^[0-9]+$ ]] || usage
threads="${THREADS:-2}"
sessions="${SESSIONS:-2}"
run_seconds="${RUN_SECONDS:-120}"

if [ "${ASAN:-0}" = 1 ] && [ "${TSAN:-0}" = 1 ]; then echo "soak.sh: ASAN=1 or TSAN=1, not both" >&2; exit 2; fi
if [ "${ASAN:-0}" = 1 ]; then
  build="${BUILD_DIR:-build-soak-asan}"
  config=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGELM_SANITIZE=address,undefined)
  kind="ASan+UBSan"
elif [ "${TSAN:-0}" = 1 ]; then
  build="${BUILD_DIR:-build-soak-tsan}"
  config=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGELM_SANITIZE=thread)
  kind="TSan"
else
  build="${BUILD_DIR:-build-soak}"
  config=(-DCMAKE_BUILD_TYPE=Release)
  kind="Release"
fi

# A UBSan report has no step in it (the driver's crash note covers ASan and signals): a stack helps.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
cmake -S . -B "$build" -G Ninja "${config[@]}" >/dev/null
nice cmake --build "$build" --target edgelm-soak --parallel "$(nproc)"
soak="$build/tests/edgelm-soak"
logs="${LOG_DIR:-$build/soak-logs}"
mkdir -p "$logs"

random_seed() { od -An -N6 -tu8 /dev/urandom | tr -d ' '; }
[ -n "$seed" ] || seed="$(random_seed)"
env_prefix=""
[ "${ASAN:-0}" = 1 ] && env_prefix="ASAN=1 "
[ "${TSAN:-0}" = 1 ] && env_prefix="TSAN=1 "

end=$(( $(date +%s) + $(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 }') ))
run=0
total_steps=0
echo "soak: $kind, $minutes min, runs of up to ${run_seconds} s, $threads threads x $sessions sessions, logs in $logs"
while :; do
  left=$(( end - $(date +%s) ))
  [ "$left" -gt 0 ] || break
  seconds=$(( left < run_seconds ? left : run_seconds ))
  run=$(( run + 1 ))
  log="$logs/seed-$seed.log"
  echo "run $run: seed $seed, ${seconds} s"
  status=0
  nice "$soak" --seed "$seed" --seconds "$seconds" --threads "$threads" --sessions "$sessions" >"$log" 2>&1 || status=$?
  if [ "$status" -ne 0 ] || ! grep -q '^failures: 0$' "$log"; then
    echo "soak: run $run FAILED (exit status $status), seed $seed; the end of $log:"
    tail -n 40 "$log" | sed 's/^/  | /'
    echo "replay the run:  $soak --seed $seed --seconds $seconds --threads $threads --sessions $sessions"
    echo "  (step-exact: the driver's 'replay' lines above; add --trace to print every step;"
    echo "   the same soak again: ${env_prefix}scripts/soak.sh $minutes $seed)"
    exit 1
  fi
  steps=$(sed -n 's/^steps: \([0-9]*\) in.*/\1/p' "$log")
  total_steps=$(( total_steps + ${steps:-0} ))
  echo "  ok: ${steps:-?} steps, digest $(sed -n 's/^digest //p' "$log")"
  seed=$(( seed + 1 ))
done
echo "soak: $run runs, $total_steps steps, no failures"
