#!/usr/bin/env bash
# fuzz.sh TARGET SECONDS — build the libFuzzer targets with clang (ASan + UBSan) and fuzz TARGET
# (fuzz_model_file | fuzz_tokenizer | fuzz_converter_inputs | fuzz_session_state | fuzz_published_files |
# fuzz_assistant | fuzz_packed_cache | all) for SECONDS
# each, starting from seeds made of real files. Crashes are saved in build-fuzz/crashes/ and make
# the script fail; turn each into a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:?usage: scripts/fuzz.sh TARGET|all SECONDS}"
seconds="${2:?usage: scripts/fuzz.sh TARGET|all SECONDS}"
build="${FUZZ_BUILD_DIR:-build-fuzz}"
shared="${EDGELM_SHARED_DIR:-../shared}"

CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGELM_FUZZ=ON \
  -DEDGELM_BUILD_TESTS=OFF >/dev/null
targets=(fuzz_model_file fuzz_tokenizer fuzz_converter_inputs fuzz_session_state fuzz_published_files fuzz_assistant
         fuzz_packed_cache)
[ "$target" = all ] || targets=("$target")
cmake --build "$build" --parallel "$(nproc)" --target "${targets[@]}" edgelm-convert

le32() { local shift; for shift in 0 8 16 24; do printf "\\x$(printf %02x $(($1 >> shift & 255)))"; done; }

seed_corpus() {  # $1 target, $2 corpus dir
  local dir="$2" bt="$shared/models/brown-tiny"
  mkdir -p "$dir"
  case "$1" in
    fuzz_model_file)  # the tiny fixture's architecture at a quarter of its widths: seeds of 0.3-0.8 MB
      local config="$build/fuzz-seed-config.json" format
      sed -E -e 's/"(vocab_size|vocab_size_per_layer_input)": 2048/"\1": 256/' -e 's/"(hidden_size|intermediate_size)": (128|256)/"\1": 64/' \
        -e 's/"head_dim": 64/"head_dim": 32/' -e 's/"head_dim": 128/"head_dim": 64/' \
        -e 's/"num_attention_heads": 4/"num_attention_heads": 2/' -e 's/"num_key_value_heads": 2/"num_key_value_heads": 1/' \
        "$shared/fixtures/gemma4-tiny-e2b/config.json" > "$config"
      for format in q4_0 mobile bf16; do
        "$build/tools/edgelm-convert" --synthesize "$config" -f "$format" -o "$dir/tiny-$format.edgelm" -q
      done ;;
    fuzz_tokenizer) head -c 4096 "$bt/text/valid.txt" > "$dir/valid.txt"; printf '<|turn>user\n\xf0\x9f\x98\x80<turn|>' > "$dir/turn.txt" ;;
    fuzz_converter_inputs)
      { printf '\0'; cat "$bt/float/config.json"; } > "$dir/config"
      { printf '\1'; cat "$bt/float/tokenizer.json"; } > "$dir/tokenizer-json"
      { printf '\2'; cat "$bt/float/tokenizer.model"; } > "$dir/tokenizer-model"
      { printf '\3'; head -c 65536 "$shared/fixtures/gemma4-tiny-e2b/model.safetensors"; } > "$dir/safetensors" ;;
    fuzz_session_state) EDGELM_FUZZ_WRITE_SEED="$dir/state" "$build/tests/fuzz/fuzz_session_state" ;;
    fuzz_packed_cache) EDGELM_FUZZ_WRITE_SEED="$dir/cache" "$build/tests/fuzz/fuzz_packed_cache" ;;
    fuzz_published_files)  # kind byte 0 GGUF, 1 .litertlm, 2 compressed-tensors (config.json size, config, safetensors)
      local f ct="$bt/published/ct"
      for f in "$shared"/fixtures/gguf/gemma4-tiny-e2b-q4_0-google.gguf "$shared"/fixtures/gguf/synth-q6k/*.gguf; do
        { printf '\0'; cat "$f"; } > "$dir/gguf-$(basename "$f")"
      done
      for f in "$bt/published/brown-tiny-mobile.litertlm" "$shared"/fixtures/litertlm/*/testdata/*.litertlm; do
        { printf '\1'; cat "$f"; } > "$dir/litertlm-$(basename "$(dirname "$(dirname "$f")")")-$(basename "$f")"
      done
      { printf '\2'; le32 "$(stat -c %s "$ct/config.json")"; cat "$ct/config.json" "$ct/model.safetensors"; } > "$dir/ct" ;;
    fuzz_assistant)  # kind byte: 0 JSON, 1 tool declarations, 2 tool calls, 3 grammar\0text, 4 schema\0text
      local schema='{"type":"object","properties":{"name":{"type":"string","maxLength":8},"n":{"type":"integer"},"t":{"type":"array","items":{"enum":["a","b"]}}},"required":["name"]}'
      printf '\0%s' "$schema" > "$dir/json"
      printf '\1[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":%s}}]' "$schema" > "$dir/tools"
      printf '\2<|channel>thought\nhm<channel|><|tool_call>call:get_weather{city:<|"|>Paris, "FR"<|"|>,days:[1,2.5e3,{a:true}]}<tool_call|><|tool_call>call:x{}<tool_call|>' > "$dir/calls"
      printf '\3root ::= "{" ws ("\\"a\\"" ":" [0-9]{1,3})? "}"\nws ::= " "?\0{ "a":12}' > "$dir/grammar"
      printf '\4%s\0{"name": "Ann", "n": 3, "t": ["a"]}' "$schema" > "$dir/schema" ;;
  esac
}

mkdir -p "$build/crashes"
for t in "${targets[@]}"; do
  max_len=1048576
  # Only whole published files import, and the brown-tiny ones are 6-7.5 MB; the bundled model's
  # packed-weights cache is 5 MB: admit them.
  if [ "$t" = fuzz_published_files ] || [ "$t" = fuzz_packed_cache ]; then max_len=$((8 << 20)); fi
  corpus="$build/corpus/$t"
  [ -d "$corpus" ] || seed_corpus "$t" "$corpus"
  echo "[fuzz] $t for ${seconds}s"
  "$build/tests/fuzz/$t" "$corpus" -max_total_time="$seconds" -max_len="$max_len" -timeout=20 -rss_limit_mb=4096 \
    -artifact_prefix="$build/crashes/$t-" -print_final_stats=1 2>&1 | grep -E "^(stat::|#[0-9]+[[:space:]]+(INITED|DONE)|==|SUMMARY)" || true
  if compgen -G "$build/crashes/$t-*" >/dev/null; then echo "[fuzz] $t: crash artifacts in $build/crashes" >&2; exit 1; fi
done
