#!/usr/bin/env bash
# Benchmarks E2B- and E4B-shaped models end to end: builds the tools if needed, synthesizes seeded
# random models of the real shapes (edgelm-convert --synthesize), runs edgelm-bench on each, keeps
# the JSON results in benchmarks/results/ and regenerates the measured part of docs/performance.md
# (only between <!-- bench:begin --> and <!-- bench:end -->) with plots in docs/img/.
#
# usage: benchmarks/run_all.sh [options]
#   --e2b-formats "mobile mobile-int4 q4_0 bf16"  E2B formats to synthesize and measure
#   --e4b-formats "mobile"            E4B formats ("" for none)
#   --threads 1,2                     thread counts
#   --prefill 128                     prompt lengths, tokens
#   --depths 0,1024                   decode depths, tokens, for E2B mobile and q4_0
#   --extra-depths 0                  decode depths for the other models (several times slower today)
#   --n-gen 16                        decode tokens per test
#   --reps 3                          repetitions per test (median and min/max are reported)
#   --docs-only                       only regenerate the docs from benchmarks/results/*.json
# environment: EDGELM_BENCH_DIR  scratch directory for the models (default /tmp/edgelm-bench)
#              EDGELM_BUILD_DIR  build directory (default build-bench in the checkout)
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
scratch=${EDGELM_BENCH_DIR:-/tmp/edgelm-bench}
build=${EDGELM_BUILD_DIR:-$repo/build-bench}
results=$repo/benchmarks/results
doc=$repo/docs/performance.md
images=$repo/docs/img
configs=$repo/../shared/docs

e2b_formats="mobile mobile-int4 q4_0 bf16"
e4b_formats="mobile"
threads=1,2
prefill=128
depths=0,1024
extra_depths=0
n_gen=16
reps=3
docs_only=0
while (($#)); do
  case $1 in
    --e2b-formats) e2b_formats=$2; shift 2 ;;
    --e4b-formats) e4b_formats=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --prefill) prefill=$2; shift 2 ;;
    --depths) depths=$2; shift 2 ;;
    --extra-depths) extra_depths=$2; shift 2 ;;
    --n-gen) n_gen=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --docs-only) docs_only=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_all.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

skipped=()  # models that did not fit on disk, with the sizes

log() { printf '[run_all %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

build_tools() {
  if [[ ! -f $build/build.ninja ]]; then
    cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release
  fi
  cmake --build "$build" --target edgelm-bench edgelm-convert edgelm-inspect -j2
}

# Bytes free on the file system holding $1.
free_bytes() { df --output=avail -B1 "$1" | tail -n 1 | tr -d ' '; }

# Estimated file size of FORMAT in the estimate file $1, bytes.
estimated_bytes() { jq --arg format "$2" '.[] | select(.format == $format) | .file_bytes' "$1"; }

gigabytes() { awk -v bytes="$1" 'BEGIN { printf "%.1f", bytes / 1e9 }'; }

# Synthesizes (unless present) and benchmarks one model; a format that does not fit on disk is
# skipped with a message.
measure() {
  local variant=$1 format=$2 bench_depths=$3
  local name=$variant-$format
  local model=$scratch/$name.edgelm
  if [[ ! -f $model ]]; then
    # 1 GB of headroom for the other users of the disk.
    local needed available
    needed=$(($(estimated_bytes "$results/estimate-$variant.json" "$format") + 1000000000))
    available=$(free_bytes "$scratch")
    if ((needed > available)); then
      skipped+=("$name (needs $(gigabytes "$needed") GB, $(gigabytes "$available") GB free)")
      log "skipping $name: needs $(gigabytes "$needed") GB on $scratch, $(gigabytes "$available") GB free"
      return
    fi
    log "synthesizing $model"
    # absmax scales: the weights are random anyway, and MSE scale search is several times slower.
    "$build/tools/edgelm-convert" --synthesize "$configs/${variant}_config.json" -f "$format" \
      --scale-search absmax -o "$model" -q
  fi
  log "benchmarking $name (load average: $(cut -d ' ' -f 1-3 /proc/loadavg))"
  "$build/benchmarks/edgelm-bench" "$model" --threads "$threads" --prefill "$prefill" --depths "$bench_depths" \
    --n-gen "$n_gen" --reps "$reps" --json "$results/run-$name.json" | tee "$scratch/$name.log"
}

# Installs Debian package $2 when command $1 is missing (the plots and tables need gnuplot and jq).
ensure_tool() {
  command -v "$1" > /dev/null && return
  log "installing $2"
  apt-get install -y "$2" > /dev/null || { log "could not install $2: install it and rerun"; exit 1; }
}

# Published sizes (gemma4_arch.md §6.2): the news article's E2B figures and Google's E4B table.
# GB; "text_only" leaves out the PLE table.
published_sizes='{
  "e2b": {"bf16": {"all": 9.6}, "q4_0": {"all": 3.2}, "mobile": {"all": 1.0, "text_only": 0.84}},
  "e4b": {"bf16": {"all": 17.9}, "q4_0": {"all": 4.5}, "mobile": {"all": 2.5, "text_only": 2.2}}
}'

# jq helpers shared by the generated tables. Runs are the edgelm-bench JSON files (slurped).
# shellcheck disable=SC2016  # the $ names are jq variables, not shell ones
jq_helpers='
  def fixed2: (. * 100 | round) as $c | "\($c / 100 | floor).\($c % 100 + 100 | tostring | .[1:])";
  def gb: . / 1e9 | fixed2;
  def name: .model.file | sub("\\.edgelm$"; "");
  def run($wanted): map(select(name == $wanted)) | first;
  def decode_rss: [.tests[] | select(.rss_bytes)] | max_by(.rss_bytes);
  def published_text:
    if . == null then "" else "\(.all)" + (if .text_only then " (\(.text_only) text-only)" else "" end) end;
'

# One row per measured model and format: sizes on disk, estimates and resident memory.
memory_table() {
  printf '| model | published GB | file GB | PLE table GB (estimate) | resident w/o PLE table GB (estimate) '
  printf '| peak RSS GB | RSS after decode GB | of it file-backed (PSS) GB | RSS / file |\n'
  printf '|---|--:|--:|--:|--:|--:|--:|--:|--:|\n'
  jq -r -s --argjson published "$published_sizes" \
    --slurpfile e2b "$results/estimate-e2b.json" --slurpfile e4b "$results/estimate-e4b.json" "$jq_helpers"'
    .[] | name as $name | ($name | split("-")) as $parts | $parts[0] as $variant | ($parts[1:] | join("-")) as $format
    | ({e2b: $e2b[0], e4b: $e4b[0]}[$variant][] | select(.format == $format)) as $estimate
    | decode_rss as $after
    | "| \($name) | \($published[$variant][$format] | published_text) | \(.model.file_bytes | gb) "
      + "| \($estimate.bytes_by_role.ple_table | gb) | \($estimate.resident_bytes_without_ple_table | gb) "
      + "| \(.memory.peak_rss_bytes | gb) | \($after.rss_bytes | gb) | \($after.pss_file_bytes | gb) "
      + "| \(.memory.peak_rss_bytes / .model.file_bytes * 100 | round)% |"' "$@"
}

# The targets of the performance issue, each with the measured value and met / missed.
verdict_table() {
  printf '| target | measured | verdict |\n|---|---|---|\n'
  jq -r -s "$jq_helpers"'
    def verdict($ok): if $ok then "met" else "**missed**" end;
    def missing($what): "| \($what) | not measured | - |";
    run("e2b-mobile") as $mobile | run("e2b-mobile-int4") as $int4 | run("e2b-q4_0") as $q4 | run("e2b-bf16") as $bf16
    | (if $mobile then
         ($mobile.tests[] | select(.kind == "decode" and .n_depth == 0)
          | "| E2B mobile decode >= 80% of the bandwidth roofline at depth 0, \(.n_threads) thread(s) "
            + "| \(.paired_roofline_fraction.median * 100 | round)% of the paired roofline "
            + "(\(.roofline_fraction * 100 | round)% of the best probe: \(.t_s.median | fixed2) of "
            + "\(.roofline_t_s | fixed2) t/s) | \(verdict(.paired_roofline_fraction.median >= 0.8)) |"),
         ("| E2B mobile peak RSS <= 1.0 GB (context \($mobile.settings.context_length)) "
          + "| \($mobile.memory.peak_rss_bytes | gb) GB | \(verdict($mobile.memory.peak_rss_bytes <= 1e9)) |"),
         ($mobile.startup[]
          | "| E2B mobile load to first token, warm page cache, < 1 s, \(.n_threads) thread(s) "
            + "| \(.warm_first_token_ms.median | round) ms (load alone \(.warm_load_ms.median | round) ms) "
            + "| \(verdict(.warm_first_token_ms.median < 1000)) |")
       else missing("E2B mobile") end),
      (if $int4 then
         "| E2B mobile-int4 peak RSS <= 1.0 GB (context \($int4.settings.context_length)) "
         + "| \($int4.memory.peak_rss_bytes | gb) GB | \(verdict($int4.memory.peak_rss_bytes <= 1e9)) |"
       else missing("E2B mobile-int4 peak RSS <= 1.0 GB") end),
      (if $q4 then
         "| E2B q4_0 peak RSS <= 3.2 GB | \($q4.memory.peak_rss_bytes | gb) GB "
         + "| \(verdict($q4.memory.peak_rss_bytes <= 3.2e9)) |"
       else missing("E2B q4_0 peak RSS <= 3.2 GB") end),
      (if $bf16 then
         "| E2B bf16 peak RSS <= file size + 10% | \($bf16.memory.peak_rss_bytes | gb) GB of "
         + "\($bf16.model.file_bytes | gb) GB "
         + "| \(verdict($bf16.memory.peak_rss_bytes <= 1.1 * $bf16.model.file_bytes)) |"
       else missing("E2B bf16 peak RSS <= file size + 10% (did not fit on disk, or not run)") end)' "$@"
}

# Each test at the fewest and the most threads measured, with the speed-up between them.
scaling_table() {
  printf '| model | test | fewest threads: t/s | most threads: t/s | speed-up |\n|---|---|--:|--:|--:|\n'
  jq -r -s "$jq_helpers"'
    .[] | name as $name | .tests | group_by(.name)[] | select(length > 1)
    | min_by(.n_threads) as $few | max_by(.n_threads) as $most
    | "| \($name) | \($few.name) | \($few.n_threads): \($few.t_s.median | fixed2) "
      + "| \($most.n_threads): \($most.t_s.median | fixed2) | \($most.t_s.median / $few.t_s.median | fixed2)x |"' "$@"
}

# docs/img/decode_vs_depth.png: decode t/s against context depth, one line per model and thread
# count, with the bandwidth roofline of each as a dashed line.
plot_decode_vs_depth() {
  local data=$1
  shift
  local plots=() run name t roofline color=0
  for run in "$@"; do
    name=$(jq -r '.model.file | sub("\\.edgelm$"; "")' "$run")
    for t in $(jq -r '[.tests[] | select(.kind == "decode") | .n_threads] | unique | .[]' "$run"); do
      jq -r --argjson t "$t" '.tests[] | select(.kind == "decode" and .n_threads == $t)
                              | "\(.n_depth) \(.t_s.median)"' "$run" > "$data/$name-$t.dat"
      roofline=$(jq --argjson t "$t" \
        '[.tests[] | select(.kind == "decode" and .n_threads == $t) | .roofline_t_s] | first' "$run")
      color=$((color + 1))
      plots+=("'$data/$name-$t.dat' using 1:2 with linespoints lw 2 lc $color title '$name, $t thr'")
      # A constant: the roofline does not depend on the depth, so it spans the whole axis.
      plots+=("$roofline with lines dashtype 2 lc $color title '$name, $t thr roofline'")
    done
  done
  local IFS=,
  gnuplot <<EOF
set terminal pngcairo size 960,540 font ',11'
set output '$images/decode_vs_depth.png'
set termoption noenhanced
set title 'Decode speed against context depth (synthetic E2B/E4B-shaped models)'
set xlabel 'context depth (tokens)'
set ylabel 'decode tokens/s'
set logscale y
set xrange [-32:*]
set grid
set key outside right
plot ${plots[*]}
EOF
}

# docs/img/memory_e2b.png: per E2B format, published size, file size, the resident estimate
# without the PLE table, and the measured RSS.
plot_memory() {
  local data=$1/memory.dat
  shift
  jq -r -s --argjson published "$published_sizes" --slurpfile estimate "$results/estimate-e2b.json" "$jq_helpers"'
    . as $runs | ["bf16", "q4_0", "mobile", "mobile-int4"][] as $format
    | ($estimate[0][] | select(.format == $format)) as $e | ($runs | run("e2b-\($format)")) as $run
    | [$format, ($published.e2b[$format].all // "?"), ($published.e2b[$format].text_only // "?"),
       ($e.file_bytes | gb), ($e.resident_bytes_without_ple_table | gb),
       (if $run then ($run.memory.peak_rss_bytes | gb) else "?" end),
       (if $run then ($run | decode_rss.rss_bytes | gb) else "?" end)] | @tsv' "$@" > "$data"
  gnuplot <<EOF
set terminal pngcairo size 960,540 font ',11'
set output '$images/memory_e2b.png'
set termoption noenhanced
set title 'E2B memory per format (GB = 1e9 bytes)'
set ylabel 'GB'
set yrange [0:*]
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set datafile missing '?'
set grid ytics
set key top right
plot '$data' using 2:xtic(1) title 'published', '' using 3 title 'published, text-only', \
     '' using 4 title 'file size', '' using 5 title 'estimate: resident without PLE table', \
     '' using 6 title 'measured peak RSS', '' using 7 title 'measured RSS after decode'
EOF
}

# The JSON schema, quoted from the comment at the top of bench.cc so the two never disagree.
json_schema() {
  sed -n '/^\/\/ JSON schema/,/^\/\/ }$/p' "$repo/benchmarks/bench.cc" | sed 's|^// \{0,1\}||'
}

write_section() {
  local runs=("$@")
  local tmp
  tmp=$(mktemp -d)
  mkdir -p "$images"
  plot_decode_vs_depth "$tmp" "${runs[@]}"
  plot_memory "$tmp" "${runs[@]}"
  local mobile_run=$results/run-e2b-mobile.json
  {
    cat <<EOF
## Benchmarks: E2B / E4B-shaped models

Generated by \`benchmarks/run_all.sh\` from \`benchmarks/results/*.json\` (edit the script, not this
section). The models are \`edgelm-convert --synthesize\` outputs: seeded random weights of exactly the
E2B / E4B shapes and formats, so speed and memory are those of the real models (the text they would
write is not). Tests follow llama-bench: \`ppN\` prefills N random token ids, \`tgN\` decodes N tokens
greedily, \`@ dD\` after a context of D tokens; t/s = tokens per second, median of the repetitions with
min and max. Prefill chunk 128 tokens. GB = 1e9 bytes.

Reproduce: \`benchmarks/run_all.sh\` (on this 2-core machine about 15 min to synthesize the models once,
then about 20 min of benchmarks; \`--help\` for the lists),
or one model: \`edgelm-bench MODEL --prefill 128 --depths 0,1024 --n-gen 16 --json out.json\`;
\`edgelm-bench --compare A.json B.json\` prints the ratios B/A of every metric.

**Machine load.** The machine is shared: other engineers were building and testing while these
numbers were taken, so they are noisy and pessimistic. The load average at the start and end of
each run is in the machine table below (2 cores: a load of 2 means the cores were already busy).

### Verdict against the targets

EOF
    verdict_table "${runs[@]}"
    if ((${#skipped[@]})); then
      printf '\nNot measured in the last run, for lack of disk space: %s.\n' "$(IFS=';'; echo "${skipped[*]}")"
    fi
    jq -r "$jq_helpers"'
      (.[] | select(.format == "mobile")) as $mobile | (.[] | select(.format == "mobile-int4")) as $int4
      | "\nThe E2B mobile recipe of this converter keeps \($mobile.resident_bytes_without_ple_table | gb) GB of "
        + "weights outside the PLE table (edgelm-inspect --estimate); every decode step reads them all, so "
        + "the RSS of a decoding process cannot be under 1.0 GB; "
        + "the published 0.84 GB text-only figure implies a lower-bit recipe: mobile-int4 here, "
        + "\($int4.resident_bytes_without_ple_table | gb) GB of resident weights, measured in the row above."' "$results/estimate-e2b.json"
    cat <<EOF

### Speed

![decode t/s against context depth](img/decode_vs_depth.png)

EOF
    "$build/benchmarks/edgelm-bench" --table "${runs[@]}"
    cat <<EOF

*Roofline*: the machine's measured memory read bandwidth (a STREAM-like read of a 1 GiB buffer with
the same thread count) divided by the weight bytes one decode step reads
(\`edgelm_model_info.weight_bytes_per_token\`: every weight once, one row of the PLE table). It
ignores the KV cache reads, which are small at these depths. *Of roofline* uses the best probe of the
run (5 passes before and 5 after all tests): on this shared machine the bandwidth drifts by ±15%
within minutes, so that fraction swings by as much from run to run. *Of paired roofline* (the
targets' measure) pairs each decode repetition with the probes (best of 3 passes) taken just before
and just after it, takes that repetition's t/s over the mean of the two, and reports the median over
the repetitions: both sides of the ratio see the same machine, and its spread over the repetitions
stays within a few percent. The probe's passes themselves differ by about ±5%, so a fraction a little
above 100% (a memory-bound test like bf16's) is within that noise. *TTFT* is the prefill test's time to
the first token. *Load to first token* runs \`edgelm_model_load\` + session + a 1-token prompt;
*cold* drops the file from the page cache first (\`posix_fadvise(DONTNEED)\`, no root needed;
"cache left after drop" is what \`mincore\` still saw cached).

Thread scaling (a speed-up below 1 means the extra thread cost more than it gave; with other
work on the machine a second core is rarely free):

EOF
    scaling_table "${runs[@]}"
    cat <<EOF

### Memory

![E2B memory per format](img/memory_e2b.png)

EOF
    memory_table "${runs[@]}"
    if [[ -f $mobile_run ]]; then
      jq -r --slurpfile estimate "$results/estimate-e2b.json" "$jq_helpers"'
        ($estimate[0][] | select(.format == "mobile")) as $e | decode_rss as $after
        | "\nThe PLE table stays on disk. E2B mobile maps a \(.model.file_bytes | gb) GB file, of which the PLE "
          + "table is \($e.bytes_by_role.ple_table | gb) GB; after decoding at depth \($after.n_depth) the "
          + "process RSS is \($after.rss_bytes | gb) GB (file-backed PSS \($after.pss_file_bytes | gb) GB, heap "
          + "\($after.pss_anon_bytes | gb) GB), against \($e.resident_bytes_without_ple_table | gb) GB of "
          + "weights outside the PLE table. Each token gathers one PLE row from the mmapped file, so only the "
          + "rows of tokens seen become resident."' "$mobile_run"
    fi
    cat <<EOF

Published sizes (docs gemma4_arch.md §6.2) count other towers and runtime buffers and, for mobile,
a mixed 2/4/8-bit recipe; "text-only" excludes the PLE table, as the RSS here does. "RSS after
decode" is the largest current RSS after a decode test, "peak RSS" the process high-water mark
(getrusage) over the whole run (the bandwidth probe runs in a child process).

### Result file schema (\`edgelm-bench --json\`)

\`\`\`
$(json_schema)
\`\`\`
EOF
  } > "$tmp/section.md"
  replace_section "$tmp/section.md"
  rm -r "$tmp"
}

# Writes $1 between the bench markers of docs/performance.md, leaving the rest of the file alone.
replace_section() {
  if [[ ! -f $doc ]]; then
    printf '# edgelm performance\n\n<!-- bench:begin -->\n<!-- bench:end -->\n' > "$doc"
  elif ! grep -q '^<!-- bench:begin -->$' "$doc"; then
    printf '\n<!-- bench:begin -->\n<!-- bench:end -->\n' >> "$doc"
  fi
  awk -v section="$1" '
    /^<!-- bench:begin -->$/ { print; while ((getline line < section) > 0) print line; inside = 1; next }
    /^<!-- bench:end -->$/ { inside = 0 }
    !inside { print }' "$doc" > "$doc.tmp"
  mv "$doc.tmp" "$doc"
}

main() {
  ensure_tool jq jq
  ensure_tool gnuplot gnuplot-nox
  mkdir -p "$scratch" "$results"
  build_tools
  local variant
  for variant in e2b e4b; do
    "$build/tools/edgelm-inspect" --estimate "$configs/${variant}_config.json" --json \
      > "$results/estimate-$variant.json"
  done
  if ((!docs_only)); then
    local format
    for format in $e2b_formats; do
      case $format in
        mobile | mobile-int4 | q4_0) measure e2b "$format" "$depths" ;;
        *) measure e2b "$format" "$extra_depths" ;;
      esac
    done
    for format in $e4b_formats; do measure e4b "$format" "$extra_depths"; done
  fi
  local runs=("$results"/run-*.json)
  [[ -f ${runs[0]} ]] || { log "no results in $results"; exit 1; }
  write_section "${runs[@]}"
  log "wrote $doc and $images/*.png"
}

# On one line with main: bash then never reads past it, even if the file is edited while running.
main; exit
