#!/usr/bin/env bash
# run-gate.sh — CI entry of the ARM static performance model (benchmarks/arm-model/README.md): models the
# NEON GEMM K loops of the current kernels/ with llvm-mca 19 and fails when a loop's MAC/cycle on any
# modeled core drops more than 5% below baseline.csv. About 10 s on a 2-core machine; no ARM hardware.
# Extra arguments go to model.py (e.g. --markdown -, --loops-dir DIR to keep the extracted loops).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

missing=()
for tool in llvm-mca-19 llvm-objdump-19 llvm-readelf-19 clang++-19 python3; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "run-gate.sh: ${missing[*]} not found; scripts/setup.sh installs llvm-19 and clang-19" \
       "(scripts/setup.sh --arm64, with the aarch64 cross packages whose libc headers the compile needs)" >&2
  exit 1
fi
if [ ! -f "$here/baseline.csv" ]; then
  echo "run-gate.sh: $here/baseline.csv missing; create it with: python3 $here/model.py --write-baseline" >&2
  exit 1
fi

exec nice -n 10 python3 "$here/model.py" --check "$here/baseline.csv" "$@"
