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

# The per-file feature flags the build uses, read from kernels/isa_flags.cmake (keyed by the file name's
# variant suffix); neon files have none there and get the ARMv8.0 baseline.
flags_for() {
  local variant flags
  variant="$(basename "$1" .cc)" && variant="${variant##*_}"
  [ "$variant" = neon ] && { echo -march=armv8-a; return; }
  flags="$(sed -n "s/^set(EDGELM_ISA_FLAGS_$variant \(.*\))\$/\1/p" kernels/isa_flags.cmake)"
  if [ -z "$flags" ]; then
    echo "check-mobile-kernels: no EDGELM_ISA_FLAGS_$variant in kernels/isa_flags.cmake for $1" >&2
    return 1
  fi
  echo "$flags"
}

files=(kernels/*/*_neon.cc kernels/*/*_neondot.cc kernels/*/*_i8mm.cc)
compile_for() {
  local target="$1" f flags
  mkdir -p "$out/$target"
  for f in "${files[@]}"; do
    flags="$(flags_for "$f")"
    # shellcheck disable=SC2086  # $flags is a list of options
    "$clangxx" --target="$target" -std=c++17 -ffreestanding -nostdlibinc -O2 -Wall -Wextra -Werror -Ikernels \
      $flags -c "$f" -o "$out/$target/$(basename "$f" .cc).o"
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
