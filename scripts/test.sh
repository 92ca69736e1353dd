#!/usr/bin/env bash
# test.sh — run every test: the Release build's ctest suite, then the format-validation, tokenizer,
# C API and activation tests under AddressSanitizer + UndefinedBehaviorSanitizer and the threading tests under
# ThreadSanitizer (with each engine of the integer linears). Assumes scripts/setup.sh ran.
#   scripts/test.sh            (env: BUILD_DIR=build, ASAN_BUILD_DIR=build-asan, SKIP_SANITIZERS=1 to skip)
set -euo pipefail
cd "$(dirname "$0")/.."
build="${BUILD_DIR:-build}"
jobs="$(nproc)"

cmake --build "$build" --parallel "$jobs"
ctest --test-dir "$build" --output-on-failure --parallel "$jobs"

if [ "${SKIP_SANITIZERS:-0}" != 1 ]; then
  # Untrusted input paths (model files, published files, packed-weights caches, tokenizer, tool calls, C API
  # misuse) and the activation arithmetic under ASan + UBSan.
  asan="${ASAN_BUILD_DIR:-build-asan}"
  cmake -S . -B "$asan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGELM_SANITIZE=address,undefined >/dev/null
  cmake --build "$asan" --parallel "$jobs" --target test_format test_tokenizer test_c_api test_gemma4 test_linear \
    test_import_fuzz test_import_gguf test_import_litertlm test_alloc_failure test_tool_calls test_speculation edgelm-soak \
    test_xnn_engine
  ctest --test-dir "$asan" --output-on-failure --parallel "$jobs" \
    -R '^(test_format:|test_tokenizer:|test_c_api$|test_gemma4:tanh|test_linear:|test_import_fuzz:|test_import_gguf:malformed|test_import_litertlm:truncated|test_alloc_failure:|test_tool_calls:|test_speculation:forks|test_xnn_engine:|soak_short$)'
  # Sessions sharing one model across threads, and cancellation, under ThreadSanitizer.
  tsan="${TSAN_BUILD_DIR:-build-tsan}"
  cmake -S . -B "$tsan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGELM_SANITIZE=thread >/dev/null
  cmake --build "$tsan" --parallel "$jobs" --target test_threads edgelm-soak
  ctest --test-dir "$tsan" --output-on-failure -R '^(test_threads:|soak_short$)'
  # ... and with XNNPACK running the integer linears: sessions on several threads share its packed weights.
  EDGELM_KERNELS=xnnpack ctest --test-dir "$tsan" --output-on-failure -R '^test_threads:'
fi

# The aarch64 cross build under qemu (NEON, SDOT and SMMLA kernels), once setup.sh --arm64 has run, and
# the modeled speed of their inner loops on phone cores against the recorded table (llvm-mca).
if [ "${ARM64:-0}" = 1 ] || [ -d "${ARM64_DEPS_ROOT:-/opt/arm64-deps}" ]; then
  benchmarks/arm-model/run-gate.sh
  scripts/test-arm64.sh
fi

# Every libFuzzer target for FUZZ_SECONDS (default 40) each, from real-file seeds, when clang is there:
# six targets in four minutes.
if [ "${SKIP_FUZZ:-0}" != 1 ] && command -v clang++ >/dev/null; then
  scripts/fuzz.sh all "${FUZZ_SECONDS:-40}"
fi
