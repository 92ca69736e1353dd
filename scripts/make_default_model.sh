#!/usr/bin/env bash
# make_default_model.sh — regenerate models/brown-tiny-mobile.edgelm, the bundled default model, from
# the brown-tiny mobile QAT checkpoint in ../shared (run it whenever the format version changes).
#   scripts/make_default_model.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
shared="${EDGELM_SHARED_DIR:-../shared}/models/brown-tiny"
"$build/tools/edgelm-convert" "$shared/qat-mobile" --tokenizer "$shared/float/tokenizer.json" \
  -o models/brown-tiny-mobile.edgelm --quiet
"$build/tools/edgelm-inspect" models/brown-tiny-mobile.edgelm | head -3
