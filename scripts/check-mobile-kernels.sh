#!/usr/bin/env bash
# check-mobile-kernels.sh — compile every ARM64 kernel file for Android (aarch64-linux-android24) and iOS
# (arm64-apple-ios15.0) with Debian clang. No NDK or iOS SDK is available here, so the check is
# freestanding: without system headers (-nostdlibinc), which also keeps the kernels to compiler headers
# (<arm_neon.h>, <stdint.h>, <stddef.h>) and ours. Compile only: nothing can link or run for those targets.
#   scripts/check-mobile-kernels.sh        (env: CLANGXX=clang++)
set -euo pipefail
cd "$(dirname "$0")/.."
clangxx="${CLANGXX:-clang++}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# The per-file feature flags of kernels/CMakeLists.txt, keyed by the file name's variant suffix.
march_for() {
  case "$1" in
    *_i8mm.cc) echo armv8.2-a+dotprod+i8mm ;;
    *_neondot.cc) echo armv8.2-a+dotprod ;;
    *) echo armv8-a ;;
  esac
}

files=(kernels/*/*_neon.cc kernels/*/*_neondot.cc kernels/*/*_i8mm.cc)
compile_for() {
  local target="$1" f
  mkdir -p "$out/$target"
  for f in "${files[@]}"; do
    "$clangxx" --target="$target" -std=c++17 -ffreestanding -nostdlibinc -O2 -Wall -Wextra -Werror -Ikernels \
      -march="$(march_for "$f")" -c "$f" -o "$out/$target/$(basename "$f" .cc).o"
  done
}

targets=(aarch64-linux-android24 arm64-apple-ios15.0)
pids=()
for target in "${targets[@]}"; do
  compile_for "$target" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
echo "check-mobile-kernels: ${#files[@]} kernel files compile for ${targets[*]}"
