#!/usr/bin/env bash
# test-arm64.sh — cross-build everything for aarch64 (Debian g++-aarch64-linux-gnu, arm64 libraries
# unpacked into $ARM64_DEPS_ROOT by scripts/setup.sh --arm64, XNNPACK from scripts/build-deps.sh) and
# test it under qemu-user (scripts/qemu-aarch64-run.sh: each CPU model with an ARM /proc/cpuinfo):
#   test_kernels on -cpu cortex-a53, cortex-a76 and max, which run the variants neon; neon, neondot; and
#   neon, i8mm, neondot (checked against the list the test prints), each against the scalar references;
#   test_linear on all three: Linear and every XNNPACK operator against the definition (XNNPACK picks
#   its own kernels per model: NEON mlal, dotprod, i8mm);
#   test_xnn_engine on cortex-a76 and max: the mobile model through XNNPACK vs our kernels; then one
#   packed-weights cache file loaded on a76, max, a53 and a76 in turn (each CPU packs some operators in
#   another layout: those entries must be packed again, with the logits of a fresh packing);
#   test_gemma4 on -cpu max: the full model against the transformers fixture;
#   test_grammar and test_tool_calls on cortex-a76: the byte-level parsers where char is unsigned;
#   test_speculation's HF-fixture case on cortex-a76 and max: a verified draft's rows give the tokens
#   of one-token decoding with the multi-row kernels of each CPU;
#   scripts/check-mobile-kernels.sh: the kernels compile for Android and iOS.
#   scripts/test-arm64.sh        (env: ARM64_BUILD_DIR=build-arm64, ARM64_DEPS_ROOT=/opt/arm64-deps)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${ARM64_BUILD_DIR:-build-arm64}"
deps="${ARM64_DEPS_ROOT:-/opt/arm64-deps}"
start=$SECONDS
log() { printf '[test-arm64 %4ss] %s\n' "$((SECONDS - start))" "$*"; }

# One build serves every CPU model: the test binaries run through qemu directly, not through ctest.
cmake -S . -B "$build" -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.toolchain.cmake \
  -DARM64_DEPS_ROOT="$deps" >/dev/null
cmake --build "$build" --parallel "$(nproc)"
log "cross-built into $build"

logs="$build/test-arm64-logs"
rm -rf "$logs" && mkdir -p "$logs"
export ARM64_DEPS_ROOT="$deps"
# qemu CPU PROGRAM ARGS...
qemu() { env -u EDGELM_KERNELS scripts/qemu-aarch64-run.sh "$@"; }

# check NAME COMMAND...: runs COMMAND into $logs/NAME.log and reports its last line, or the whole log.
check() {
  local name="$1" out="$logs/$1.log"
  shift
  if "$@" >"$out" 2>&1; then
    log "$name: $(grep -v '^$' "$out" | tail -n 1)"
  else
    cat "$out"
    log "$name: FAILED"
    return 1
  fi
}

# test_kernels on one CPU model; the variants it tests must be exactly the expected ones. Emulation is
# 20-300x slower than native, so the E2B-sized shapes run only in the native suite.
check_kernels() {
  local cpu="$1" variants="$2" tested
  check "test_kernels-$cpu" qemu "$cpu" "$build/tests/test_kernels" '~*E2B*' || return 1
  tested="$(sed -n 's/^ *kernel variants under test: //p' "$logs/test_kernels-$cpu.log")"
  if [ "$tested" != "$variants" ]; then
    log "test_kernels-$cpu: FAILED: expected the variants '$variants', the test ran '$tested'"
    return 1
  fi
}

# qemu-user runs one thread per process: two lanes keep both cores busy.
lane1() {
  check_kernels cortex-a53 "scalar neon" &&
    check_kernels cortex-a76 "scalar neon neondot" &&
    check test_linear-a53 qemu cortex-a53 "$build/tests/test_linear" &&
    check test_linear-a76 qemu cortex-a76 "$build/tests/test_linear" &&
    check test_xnn_engine-a76 qemu cortex-a76 "$build/tests/test_xnn_engine" &&
    check test_grammar-a76 qemu cortex-a76 "$build/tests/test_grammar" &&
    check test_tool_calls-a76 qemu cortex-a76 "$build/tests/test_tool_calls" &&
    check test_speculation-a76 qemu cortex-a76 "$build/tests/test_speculation" 'greedy speculation on the HF fixture*' &&
    check mobile-kernels scripts/check-mobile-kernels.sh
}
lane2() {
  check_kernels max "scalar neon i8mm neondot" &&
    check test_linear-max qemu max "$build/tests/test_linear" &&
    check test_xnn_engine-max qemu max "$build/tests/test_xnn_engine" &&
    check test_gemma4-max qemu max "$build/tests/test_gemma4" &&
    check test_speculation-max qemu max "$build/tests/test_speculation" 'greedy speculation on the HF fixture*' &&
    check published-logits-max qemu max "$build/tests/test_import_litertlm" '*logits of the float64 reference'
}
lane1 & pid1=$!
lane2 & pid2=$!
status=0
wait "$pid1" || status=1
wait "$pid2" || status=1
across_cpus() {
  local cache="$logs/across-cpus.xnnpack" cpu
  for cpu in cortex-a76 max cortex-a53 cortex-a76; do
    EDGELM_TEST_PACKED_CACHE="$cache" check "packed-cache-then-$cpu" qemu "$cpu" "$build/tests/test_xnn_engine" \
      '[.packed-cache-across-cpus]' || return 1
    log "  $(grep 'mapped from the cache' "$logs/packed-cache-then-$cpu.log")"
  done
}
[ "$status" -ne 0 ] || across_cpus || status=1
if [ "$status" -ne 0 ]; then
  log "arm64 checks FAILED (logs in $logs)"
  exit 1
fi
log "all arm64 checks passed"
