// edgelm-bench: prefill / decode speed, load time and memory of one .edgelm model, through the public
// C API only, in terms that line up with llama.cpp's llama-bench (pp512, tg128, "tg128 @ d4096", t/s).
//
//   edgelm-bench MODEL [options]         measure; prints Markdown tables, --json FILE saves the run
//   edgelm-bench --table RUN.json...     re-print the tables of saved runs
//   edgelm-bench --compare A.json B.json per-metric ratios B/A
//
// JSON schema "edgelm-bench/1". Stable: later versions only add fields; no field changes meaning.
// Units: *_bytes bytes, *_ms milliseconds, n_* and lengths tokens, t_s tokens per second.
// A "spread" is {"median": x, "min": x, "max": x} over the repetitions.
// {
//   "schema": "edgelm-bench/1",
//   "edgelm_version": "0.1.0",
//   "date_utc": "2025-01-31T12:00:00Z",
//   "machine": {"cpu": str, "logical_cores": int, "mem_total_bytes": int,
//               "load_avg_1m_start": float, "load_avg_1m_end": float,    // other work on the machine
//               "busy_core_cpu_fraction": float},   // --busy-core only: CPU time the busy loop got over
//                                                   // the run, in cores (1 = a whole core)
//   "model": {"file": str (base name), "file_bytes": int, "recipe": str, "family": str,
//             "hidden_size": int, "num_layers": int, "vocab_size": int,
//             "weight_bytes_per_token": int,          // weight bytes one decode step reads
//             "xnnpack_linears": int,                 // weight matrices XNNPACK multiplies
//             "packed_weight_bytes": int,             // weights repacked at load (XNNPACK, channel strips; resident)
//             "xnnpack_linears_from_cache": int},     // of xnnpack_linears, mapped from --packed-cache's file
//   "settings": {"reps": int, "seed": int, "context_length": int, "prefill_chunk": int, "n_gen": int,
//                "prefill_lengths": [int], "decode_depths": [int], "threads": [int],
//                "linear_engine": str,        // EDGELM_KERNELS ("xnnpack", "edgelm", a kernel variant), or "auto"
//                "busy_core": bool,           // a competing busy loop at nice 19 ran for the whole run
//                "packed_weights_cache": bool},  // --packed-cache: XNNPACK's packed weights kept in a file
//   "bandwidth": [{"n_threads": int, "read_bytes_per_s": float,   // best of a probe before and one
//                  "buffer_bytes": int}],                         // after the tests, 5 passes each
//   "startup": [{"n_threads": int,
//                "warm_load_ms": spread,             // edgelm_model_load, file in the page cache
//                "warm_first_token_ms": spread,      // load start -> first token of a 1-token prompt
//                "cold_load_ms": spread, "cold_first_token_ms": spread,   // after dropping the page cache
//                "cold_resident_fraction": float,    // file fraction still cached after the drop, -1 unknown
//                "warm_verified_load_ms": spread}],  // load with verify_weights AT_LOAD (files with checksums)
//                                                    // (the cold_* fields are absent with --no-cold)
//   "tests": [{"name": "pp512" | "tg128" | "tg128 @ d4096", "kind": "prefill" | "decode",
//              "n_threads": int, "n_prompt": int, "n_gen": int, "n_depth": int,
//              "t_s": spread, "samples_t_s": [float],
//              "ttft_ms": spread,                                         // prefill only
//              "roofline_t_s": float, "roofline_fraction": float,         // decode only: bandwidth of
//                                                    // n_threads / weight_bytes_per_token, and t_s / it
//              "samples_read_bytes_per_s": [float],  // decode only: bandwidth of n_threads paired with
//                                                    // each repetition (mean of probes just before and after)
//              "paired_roofline_fraction": spread,   // decode only: each repetition's t/s over its paired
//                                                    // roofline; steady where the machine's bandwidth drifts
//              "major_page_faults": int,             // decode only: during the timed generation, pages
//              "minor_page_faults": int,             // read from storage / mapped on first touch
//              "rss_bytes": int, "pss_bytes": int, "pss_anon_bytes": int, "pss_file_bytes": int,
//              "kv_bytes": int}],                    // decode only: process memory after the test
//   "verify": [{"n_threads": int, "n_depth": int,   // --verify only: one forward over n_tokens new
//               "n_tokens": int, "ms": spread,       // tokens with every position's logits (checking a
//               "vs_one_token": float}],             // speculative draft), and its median over n_tokens = 1
//   "constrained": [{"n_threads": int,              // --json-schema only: greedy decode constrained by the
//                    "n_tokens": int,                 // schema against plain greedy decode, same session and
//                    "t_s_constrained": spread,       // length; overhead = plain t/s over constrained t/s,
//                    "t_s_plain": spread,             // minus one (the grammar's cost per token, as a
//                    "overhead": float}],             // fraction of a decode step)
//   "speculative": [{"n_threads": int,              // --speculate only: greedy decode of each workload
//                    "workload": str, "mode": str,    // ("lookup" or the draft model's file), plainly and
//                    "n_prompts": int, "n_gen": int,  // speculating, alternating; the outputs must match
//                    "t_s_plain": spread, "t_s_speculative": spread,   // decode t/s over all its prompts
//                    "speedup": float,                // median speculative over median plain
//                    "drafted_tokens": int, "accepted_draft_tokens": int, "decode_passes": int,
//                    "acceptance": float,             // accepted / drafted
//                    "tokens_per_pass": float}],      // decoded tokens per forward pass over the weights
//   "memory": {"peak_rss_bytes": int,                // getrusage over the whole run
//              "kv_bytes": int},                     // largest KV cache of a decode test
//   "warnings": [str]    // why the figures may not be those of a quiet machine with the model resident
// }
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "busy_core.h"
#include "edgelm/edgelm.h"
#include "memory_bandwidth.h"
#include "page_cache.h"
#include "process_memory.h"

namespace {

using nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;
using ModelPtr = std::unique_ptr<edgelm_model, decltype(&edgelm_model_free)>;
using SessionPtr = std::unique_ptr<edgelm_session, decltype(&edgelm_session_free)>;

constexpr int kPrefillChunk = 128;             // tokens per prefill step
constexpr int kMinContextLength = 4096;        // the context the memory targets are stated for
constexpr int kBandwidthRuns = 5;              // best of this many passes over the buffer
constexpr int kPairedBandwidthRuns = 3;        // the same, for the probes paired with decode repetitions
constexpr double kBytesPerGB = 1e9;            // tables use decimal GB / MB, like the published sizes
constexpr double kBytesPerMB = 1e6;
// Above this 1-minute load average other work shares the cores, and the speeds are not this machine's.
constexpr double kQuietLoadAverage = 0.5;
// First-touch faults that mapped at least this fraction of the weight bytes a token reads (a page each,
// at least) say the model's pages were not resident when the timed decode started. A resident model
// faults only on new KV cache pages and gathered table rows: a few pages per token.
constexpr double kNotResidentFaultedFraction = 0.01;

struct BenchOptions {
  std::string model_path;
  std::vector<int> prefill_lengths = {128, 512, 1024};
  std::vector<int> decode_depths = {0, 1024, 4096};
  int n_gen = 128;                   // decode tokens per test
  std::vector<int> threads;          // default: 1 and every core
  int reps = 3;
  uint64_t seed = 1;
  int context_length = 0;            // 0: the smallest that fits every test, at least kMinContextLength
  size_t bandwidth_bytes = size_t{1} << 30;  // buffer of the read bandwidth probe
  bool cold = true;
  bool busy_core = false;            // a competing busy loop at nice 19 for the whole run
  std::vector<int> verify_lengths;   // drafted tokens verified in one forward (--verify); none by default
  std::string json_schema;           // --json-schema: the schema's text; empty = no constrained test
  std::string speculate;             // --speculate: "lookup" or a draft model's path; empty = no test
  std::string packed_cache;          // --packed-cache: the model's packed-weights cache file; empty = none
  std::string workloads_path = EDGELM_BENCH_DATA_DIR "/speculation_workloads.json";
  std::string json_path;
};

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "edgelm-bench: %s\n", message.c_str());
  std::exit(1);
}

void CheckModelCall(edgelm_status status, const char* what) {
  if (status != EDGELM_OK) Die(std::string(what) + ": " + edgelm_status_string(status) + ": " + edgelm_last_error());
}

void CheckSessionCall(edgelm_status status, const edgelm_session* session, const char* what) {
  if (status != EDGELM_OK)
    Die(std::string(what) + ": " + edgelm_status_string(status) + ": " + edgelm_session_error(session));
}

double MillisecondsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string Format(const char* format, double value) {
  char text[64];
  std::snprintf(text, sizeof text, format, value);
  return text;
}

// ---- Statistics ------------------------------------------------------------------------------

// Median, min and max of the repetitions' samples.
ordered_json Spread(std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  const size_t n = samples.size();
  const double median = n % 2 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2;
  return {{"median", median}, {"min", samples.front()}, {"max", samples.back()}};
}

// ---- Running the model -----------------------------------------------------------------------

// `packed_cache`: edgelm_model_options.packed_weights_cache_path (one file per model).
ModelPtr LoadModel(const std::string& path, int threads, int32_t verify_weights = EDGELM_VERIFY_NONE,
                   const std::string& packed_cache = "") {
  edgelm_model_options options;
  edgelm_model_options_init(&options);
  options.num_threads = threads;
  options.verify_weights = verify_weights;
  options.packed_weights_cache_path = packed_cache.c_str();
  edgelm_model* model = nullptr;
  CheckModelCall(edgelm_model_load(path.c_str(), &options, &model), "edgelm_model_load");
  return ModelPtr(model, edgelm_model_free);
}

// `speculation`: edgelm_speculation; `draft`: the draft model for EDGELM_SPECULATION_DRAFT_MODEL.
SessionPtr NewSession(const edgelm_model* model, int context_length, int32_t speculation = EDGELM_SPECULATION_NONE,
                      const edgelm_model* draft = nullptr) {
  edgelm_session_options options;
  edgelm_session_options_init(&options);
  options.context_length = context_length;
  options.prefill_chunk = kPrefillChunk;
  options.speculation = speculation;
  options.draft_model = draft;
  edgelm_session* session = nullptr;
  CheckModelCall(edgelm_session_create(model, &options, &session), "edgelm_session_create");
  return SessionPtr(session, edgelm_session_free);
}

edgelm_model_info ModelInfo(const edgelm_model* model) {
  edgelm_model_info info;
  edgelm_model_info_init(&info);
  CheckModelCall(edgelm_model_get_info(model, &info), "edgelm_model_get_info");
  return info;
}

// Token ids drawn uniformly from the vocabulary; modulo (not a std distribution) keeps them the same
// with every standard library.
std::vector<int32_t> RandomTokens(size_t count, int vocab_size, uint64_t seed) {
  std::mt19937_64 generator(seed);
  std::vector<int32_t> tokens(count);
  for (int32_t& t : tokens) t = static_cast<int32_t>(generator() % static_cast<uint64_t>(vocab_size));
  return tokens;
}

void AppendTokens(edgelm_session* session, const std::vector<int32_t>& tokens) {
  CheckSessionCall(edgelm_session_append_tokens(session, tokens.data(), tokens.size()), session,
                   "edgelm_session_append_tokens");
}

int AppendTokenId(void* tokens, int32_t token, const char*, size_t) {
  if (token >= 0) static_cast<std::vector<int32_t>*>(tokens)->push_back(token);
  return 0;
}

// Greedy generation of exactly max_tokens (stop tokens ignored); returns the session's statistics and,
// if `tokens` is not null, appends the generated token ids to it.
edgelm_stats Generate(edgelm_session* session, int max_tokens, const char* json_schema = nullptr,
                      std::vector<int32_t>* tokens = nullptr) {
  edgelm_generate_options options;
  edgelm_generate_options_init(&options);
  options.max_tokens = max_tokens;
  options.ignore_stop = 1;
  options.temperature = 0.0f;
  options.json_schema = json_schema;
  CheckSessionCall(edgelm_session_generate(session, &options, tokens ? AppendTokenId : nullptr, tokens), session,
                   "edgelm_session_generate");
  edgelm_stats stats;
  edgelm_stats_init(&stats);
  CheckSessionCall(edgelm_session_get_stats(session, &stats), session, "edgelm_session_get_stats");
  return stats;
}

struct StartupTiming {
  double load_ms = 0;         // edgelm_model_load alone
  double first_token_ms = 0;  // load + session + the first token of a 1-token prompt
};

StartupTiming TimeStartup(const BenchOptions& o, int threads, int context_length) {
  StartupTiming timing;
  const Clock::time_point start = Clock::now();
  ModelPtr model = LoadModel(o.model_path, threads, EDGELM_VERIFY_NONE, o.packed_cache);
  timing.load_ms = MillisecondsSince(start);
  SessionPtr session = NewSession(model.get(), context_length);
  AppendTokens(session.get(), RandomTokens(1, ModelInfo(model.get()).vocab_size, o.seed));
  Generate(session.get(), 1);
  timing.first_token_ms = MillisecondsSince(start);
  return timing;
}

// Adds the "<prefix>_load_ms" and "<prefix>_first_token_ms" spreads of o.reps startups to `load`;
// `prepare` runs untimed before each one.
template <typename Prepare>
void RecordStartups(const BenchOptions& o, int threads, int context_length, const std::string& prefix,
                    Prepare prepare, ordered_json* load) {
  std::vector<double> load_ms, first_token_ms;
  for (int rep = 0; rep < o.reps; ++rep) {
    prepare();
    const StartupTiming t = TimeStartup(o, threads, context_length);
    load_ms.push_back(t.load_ms);
    first_token_ms.push_back(t.first_token_ms);
  }
  (*load)[prefix + "_load_ms"] = Spread(load_ms);
  (*load)[prefix + "_first_token_ms"] = Spread(first_token_ms);
}

ordered_json MeasureStartup(const BenchOptions& o, int threads, int context_length) {
  std::fprintf(stderr, "  load and first token (%s), %d threads\n", o.cold ? "cold and warm" : "warm", threads);
  ordered_json load = {{"n_threads", threads}};
  if (o.cold) {
    double worst_resident_fraction = 0;
    auto drop_page_cache = [&] {
      if (!o.packed_cache.empty()) (void)edgelm_bench::EvictFromPageCache(o.packed_cache);
      if (!edgelm_bench::EvictFromPageCache(o.model_path))
        std::fprintf(stderr, "edgelm-bench: could not drop the page cache\n");
      const double resident_fraction = edgelm_bench::PageCacheResidentFraction(o.model_path);
      // One unknown reading (-1) makes the whole measurement unknown.
      worst_resident_fraction = resident_fraction < 0 || worst_resident_fraction < 0
                                    ? -1.0
                                    : std::max(worst_resident_fraction, resident_fraction);
    };
    RecordStartups(o, threads, context_length, "cold", drop_page_cache, &load);
    load["cold_resident_fraction"] = worst_resident_fraction;
  }
  TimeStartup(o, threads, context_length);  // untimed: brings the pages a token needs into the cache
  RecordStartups(o, threads, context_length, "warm", [] {}, &load);
  // What checking every weight against its checksum adds to a warm load (files that carry checksums).
  std::vector<double> verified_ms;
  for (int rep = 0; rep < o.reps; ++rep) {
    const Clock::time_point start = Clock::now();
    ModelPtr model = LoadModel(o.model_path, threads, EDGELM_VERIFY_AT_LOAD, o.packed_cache);
    verified_ms.push_back(MillisecondsSince(start));
    if (ModelInfo(model.get()).weights_verified != 1) return load;  // no checksums
  }
  load["warm_verified_load_ms"] = Spread(verified_ms);
  return load;
}

ordered_json TestHeader(const char* kind, const std::string& name, int threads, int n_prompt, int n_gen, int depth) {
  return {{"name", name}, {"kind", kind}, {"n_threads", threads}, {"n_prompt", n_prompt}, {"n_gen", n_gen},
          {"n_depth", depth}};
}

// ppN: a fresh session prefills N random tokens; generating one token times the prefill.
ordered_json MeasurePrefill(const BenchOptions& o, edgelm_session* session, int vocab_size, int threads, int length) {
  std::fprintf(stderr, "  pp%d, %d threads\n", length, threads);
  const std::vector<int32_t> prompt = RandomTokens(static_cast<size_t>(length), vocab_size, o.seed);
  std::vector<double> tokens_per_s, ttft_ms;
  for (int rep = 0; rep < o.reps; ++rep) {
    CheckSessionCall(edgelm_session_reset(session), session, "edgelm_session_reset");
    AppendTokens(session, prompt);
    const edgelm_stats stats = Generate(session, 1);
    if (stats.prompt_tokens != length)
      Die("pp" + std::to_string(length) + " prefilled " + std::to_string(stats.prompt_tokens) + " tokens");
    tokens_per_s.push_back(stats.prefill_tokens_per_s);
    ttft_ms.push_back(stats.time_to_first_token_ms);
  }
  ordered_json test = TestHeader("prefill", "pp" + std::to_string(length), threads, length, 0, 0);
  test["t_s"] = Spread(tokens_per_s);
  test["samples_t_s"] = tokens_per_s;
  test["ttft_ms"] = Spread(ttft_ms);
  return test;
}

// Best read rate of `threads` threads over `runs` passes of the probe, bytes/s.
double ProbeBandwidth(edgelm_bench::ChildReadBandwidthProbe* probe, int threads, int runs) {
  const double bytes_per_s = probe->BestBytesPerSecond(threads, runs);
  if (bytes_per_s <= 0) Die("the memory bandwidth probe failed");
  return bytes_per_s;
}

// tgN @ dD: prefill D random tokens (one when D is 0), then decode N tokens greedily. Repetitions
// rewind to the prefilled context, so only the first one pays for the prefill. The bandwidth probe
// runs between repetitions: each one's roofline is the mean of the probes on either side of it.
ordered_json MeasureDecode(const BenchOptions& o, edgelm_session* session, const edgelm_model_info& info,
                           edgelm_bench::ChildReadBandwidthProbe* probe, int threads, int depth) {
  std::string name = "tg" + std::to_string(o.n_gen);
  if (depth > 0) name += " @ d" + std::to_string(depth);
  std::fprintf(stderr, "  %s, %d threads\n", name.c_str(), threads);
  const std::vector<int32_t> context =
      RandomTokens(static_cast<size_t>(std::max(depth, 1)), info.vocab_size, o.seed);
  CheckSessionCall(edgelm_session_reset(session), session, "edgelm_session_reset");
  AppendTokens(session, context);
  std::vector<double> tokens_per_s, bytes_per_s, roofline_fractions;
  edgelm_stats stats;
  edgelm_stats_init(&stats);
  double probe_before = ProbeBandwidth(probe, threads, kPairedBandwidthRuns);
  edgelm_bench::PageFaults faults;  // during the timed generations only
  for (int rep = 0; rep < o.reps; ++rep) {
    if (rep > 0) CheckSessionCall(edgelm_session_rewind(session, context.size()), session, "edgelm_session_rewind");
    const edgelm_bench::PageFaults faults_before = edgelm_bench::ReadPageFaults();
    // The first sampled token comes from the prefill's logits: n_gen decode steps need n_gen + 1 tokens.
    stats = Generate(session, o.n_gen + 1);
    faults += edgelm_bench::ReadPageFaults() - faults_before;
    if (stats.generated_tokens != o.n_gen + 1)
      Die(name + " generated " + std::to_string(stats.generated_tokens) + " tokens");
    tokens_per_s.push_back(stats.decode_tokens_per_s);
    const double probe_after = ProbeBandwidth(probe, threads, kPairedBandwidthRuns);
    bytes_per_s.push_back((probe_before + probe_after) / 2);
    roofline_fractions.push_back(tokens_per_s.back() * static_cast<double>(info.weight_bytes_per_token) /
                                 bytes_per_s.back());
    probe_before = probe_after;
  }
  ordered_json test = TestHeader("decode", name, threads, 0, o.n_gen, depth);
  test["t_s"] = Spread(tokens_per_s);
  test["samples_t_s"] = tokens_per_s;
  test["samples_read_bytes_per_s"] = bytes_per_s;
  test["paired_roofline_fraction"] = Spread(roofline_fractions);
  test["major_page_faults"] = faults.major;
  test["minor_page_faults"] = faults.minor;
  edgelm_bench::ProcessMemory memory;
  if (edgelm_bench::ReadProcessMemory(&memory)) {
    test["rss_bytes"] = memory.rss_bytes;
    test["pss_bytes"] = memory.pss_bytes;
    test["pss_anon_bytes"] = memory.pss_anon_bytes;
    test["pss_file_bytes"] = memory.pss_file_bytes;
  }
  test["kv_bytes"] = stats.kv_bytes;
  return test;
}

// Verifying k drafted tokens, as speculative decoding does: one forward over k new tokens at `depth`
// that returns the logits of each, timed against the same call over one token (a decode step). Each
// sample appends the tokens, evaluates every position and rewinds them; 5 samples per repetition.
ordered_json MeasureVerify(const BenchOptions& o, edgelm_session* session, int vocab_size, int threads, int depth) {
  std::fprintf(stderr, "  verify @ d%d, %d threads\n", depth, threads);
  const std::vector<int32_t> context = RandomTokens(static_cast<size_t>(std::max(depth, 1)), vocab_size, o.seed);
  CheckSessionCall(edgelm_session_reset(session), session, "edgelm_session_reset");
  AppendTokens(session, context);
  std::vector<int> lengths = {1};
  for (int k : o.verify_lengths)
    if (k > 1) lengths.push_back(k);
  const int longest = *std::max_element(lengths.begin(), lengths.end());
  std::vector<float> logits(static_cast<size_t>(longest) * static_cast<size_t>(vocab_size));
  size_t n_logits = 0;
  CheckSessionCall(edgelm_session_evaluate(session, 0, logits.data(), logits.size(), &n_logits), session,
                   "edgelm_session_evaluate");  // the context's prefill, untimed
  ordered_json rows = ordered_json::array();
  double one_token_ms = 0;
  for (int k : lengths) {
    const std::vector<int32_t> draft = RandomTokens(static_cast<size_t>(k), vocab_size, o.seed + static_cast<uint64_t>(k));
    std::vector<double> ms;
    for (int sample = 0; sample < 5 * o.reps; ++sample) {
      AppendTokens(session, draft);
      const Clock::time_point start = Clock::now();
      CheckSessionCall(edgelm_session_evaluate(session, 1, logits.data(), logits.size(), &n_logits), session,
                       "edgelm_session_evaluate");
      ms.push_back(MillisecondsSince(start));
      CheckSessionCall(edgelm_session_rewind(session, context.size()), session, "edgelm_session_rewind");
    }
    const ordered_json spread = Spread(ms);
    if (k == 1) one_token_ms = spread["median"].get<double>();
    rows.push_back({{"n_threads", threads}, {"n_depth", depth}, {"n_tokens", k}, {"ms", spread},
                    {"vs_one_token", spread["median"].get<double>() / one_token_ms}});
  }
  return rows;
}

// Constrained decoding's cost: greedy decode under the JSON schema against plain greedy decode of the
// same length from the same one-token context, alternating, `reps` of each. The grammar only refuses
// tokens, so the difference is its cost per token (the masking of refused samples included).
ordered_json MeasureConstrained(const BenchOptions& o, edgelm_session* session, int vocab_size, int threads) {
  std::fprintf(stderr, "  constrained tg%d, %d threads\n", o.n_gen, threads);
  const std::vector<int32_t> context = RandomTokens(1, vocab_size, o.seed);
  CheckSessionCall(edgelm_session_reset(session), session, "edgelm_session_reset");
  AppendTokens(session, context);
  std::vector<double> constrained, plain;
  int n_tokens = o.n_gen;
  for (int rep = 0; rep < o.reps; ++rep) {
    CheckSessionCall(edgelm_session_rewind(session, context.size()), session, "edgelm_session_rewind");
    const edgelm_stats with_schema = Generate(session, o.n_gen + 1, o.json_schema.c_str());
    // A schema can end the reply early (a complete value): compare equal lengths.
    n_tokens = std::min<int>(n_tokens, static_cast<int>(with_schema.generated_tokens) - 1);
    constrained.push_back(with_schema.decode_tokens_per_s);
    CheckSessionCall(edgelm_session_rewind(session, context.size()), session, "edgelm_session_rewind");
    plain.push_back(Generate(session, static_cast<int>(with_schema.generated_tokens)).decode_tokens_per_s);
  }
  if (n_tokens < 8) Die("the JSON schema ended the reply after " + std::to_string(n_tokens + 1) + " tokens: give one that allows a longer value");
  const ordered_json constrained_spread = Spread(constrained), plain_spread = Spread(plain);
  return {{"n_threads", threads}, {"n_tokens", n_tokens}, {"t_s_constrained", constrained_spread},
          {"t_s_plain", plain_spread},
          {"overhead", plain_spread["median"].get<double>() / constrained_spread["median"].get<double>() - 1.0}};
}

std::string BaseName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

struct Workload {
  std::string name;
  std::vector<std::string> prompts;
};

std::vector<Workload> ReadWorkloads(const std::string& path) {
  std::ifstream in(path);
  if (!in) Die("cannot read the speculation workloads " + path);
  const ordered_json json = ordered_json::parse(in, nullptr, /*allow_exceptions=*/false);
  std::vector<Workload> workloads;
  if (json.is_array())
    for (const ordered_json& w : json) {
      if (!w.is_object() || !w.contains("name") || !w["name"].is_string() || !w.contains("prompts") || !w["prompts"].is_array())
        break;
      Workload workload{w["name"].get<std::string>(), {}};
      for (const ordered_json& prompt : w["prompts"])
        if (prompt.is_string()) workload.prompts.push_back(prompt.get<std::string>());
      if (workload.prompts.size() != w["prompts"].size() || workload.prompts.empty()) break;
      workloads.push_back(std::move(workload));
    }
  if (workloads.empty() || !json.is_array() || workloads.size() != json.size())
    Die(path + ": expected a JSON array of {\"name\": str, \"prompts\": [str, ...]}");
  return workloads;
}

std::vector<int32_t> Tokenize(const edgelm_model* model, const std::string& text) {
  std::vector<int32_t> tokens(text.size() + 2);
  size_t n_tokens = 0;
  CheckModelCall(edgelm_tokenize(model, text.data(), text.size(), 1, 0, tokens.data(), tokens.size(), &n_tokens),
                 "edgelm_tokenize (speculation workloads need a model with a tokenizer)");
  tokens.resize(n_tokens);
  return tokens;
}

// Speculative decoding on one workload: each prompt decoded greedily for n_gen tokens plainly and
// speculating, alternating, o.reps times. The two must produce the same tokens (the bench stops if
// not). Speeds are decode tokens over decode seconds summed over the prompts.
ordered_json MeasureSpeculation(const BenchOptions& o, const edgelm_model* model, const edgelm_model* draft,
                                int threads, int context_length, const Workload& workload) {
  std::fprintf(stderr, "  speculative tg%d, %s, %d threads\n", o.n_gen, workload.name.c_str(), threads);
  SessionPtr plain = NewSession(model, context_length);
  SessionPtr fast = NewSession(model, context_length,
                               draft ? EDGELM_SPECULATION_DRAFT_MODEL : EDGELM_SPECULATION_PROMPT_LOOKUP, draft);
  std::vector<std::vector<int32_t>> prompts;
  for (const std::string& text : workload.prompts) prompts.push_back(Tokenize(model, text));
  std::vector<double> plain_t_s, fast_t_s;
  int64_t drafted = 0, accepted = 0, passes = 0, decoded = 0;
  for (int rep = 0; rep < o.reps; ++rep) {
    double plain_seconds = 0, fast_seconds = 0;
    int64_t tokens = 0;
    for (const std::vector<int32_t>& prompt : prompts) {
      std::vector<int32_t> plain_out, fast_out;
      for (edgelm_session* session : {plain.get(), fast.get()}) {
        CheckSessionCall(edgelm_session_reset(session), session, "edgelm_session_reset");
        AppendTokens(session, prompt);
        const bool speculating = session == fast.get();
        const edgelm_stats stats = Generate(session, o.n_gen + 1, nullptr, speculating ? &fast_out : &plain_out);
        const double seconds = static_cast<double>(stats.generated_tokens - 1) / stats.decode_tokens_per_s;
        (speculating ? fast_seconds : plain_seconds) += seconds;
        if (!speculating) continue;
        tokens += stats.generated_tokens - 1;
        drafted += stats.drafted_tokens;
        accepted += stats.accepted_draft_tokens;
        passes += stats.decode_passes;
        decoded += stats.generated_tokens - 1;
      }
      if (plain_out != fast_out) Die("speculative decoding changed the output of workload '" + workload.name + "'");
    }
    plain_t_s.push_back(static_cast<double>(tokens) / plain_seconds);
    fast_t_s.push_back(static_cast<double>(tokens) / fast_seconds);
  }
  const ordered_json plain_spread = Spread(plain_t_s), fast_spread = Spread(fast_t_s);
  return {{"n_threads", threads},
          {"workload", workload.name},
          {"mode", draft ? BaseName(o.speculate) : "lookup"},
          {"n_prompts", workload.prompts.size()},
          {"n_gen", o.n_gen},
          {"t_s_plain", plain_spread},
          {"t_s_speculative", fast_spread},
          {"speedup", fast_spread["median"].get<double>() / plain_spread["median"].get<double>()},
          {"drafted_tokens", drafted},
          {"accepted_draft_tokens", accepted},
          {"decode_passes", passes},
          {"acceptance", drafted > 0 ? static_cast<double>(accepted) / static_cast<double>(drafted) : 0.0},
          {"tokens_per_pass", passes > 0 ? static_cast<double>(decoded) / static_cast<double>(passes) : 0.0}};
}

int ContextLengthFor(const BenchOptions& o) {
  if (o.context_length > 0) return o.context_length;
  int needed = kMinContextLength;
  for (int length : o.prefill_lengths) needed = std::max(needed, length);
  for (int depth : o.decode_depths) needed = std::max(needed, std::max(depth, 1) + o.n_gen + 1);
  return needed;
}

std::string CpuName() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line))
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) return line.substr(line.find(':') + 2);
  struct utsname name;
  return uname(&name) == 0 ? name.machine : "unknown";
}

double LoadAverage1m() {
  double load[1] = {-1};
  return getloadavg(load, 1) == 1 ? load[0] : -1;
}

// The linear engine the library runs, as EDGELM_KERNELS selects it.
std::string LinearEngine() {
  const char* kernels = std::getenv("EDGELM_KERNELS");
  return kernels && *kernels ? kernels : "auto";
}

void Warn(const std::string& warning, ordered_json* warnings) {
  std::fprintf(stderr, "edgelm-bench: warning: %s\n", warning.c_str());
  warnings->push_back(warning);
}

// A decode test whose timed generation faulted pages in ran partly on storage or page-table work.
void WarnAboutPageFaults(const ordered_json& test, uint64_t weight_bytes_per_token, ordered_json* warnings) {
  if (test["kind"] != "decode") return;
  const std::string name = test["name"].get<std::string>() + ", " + std::to_string(test["n_threads"].get<int>()) +
                           " threads";
  const uint64_t major = test["major_page_faults"], minor = test["minor_page_faults"];
  const double tokens = static_cast<double>(test["samples_t_s"].size() * (test["n_gen"].get<size_t>() + 1));
  if (major > 0)
    Warn(name + ": " + std::to_string(major) + " major page faults during the timed decode: model pages were read "
             "from storage",
         warnings);
  const double page_bytes = static_cast<double>(sysconf(_SC_PAGESIZE));
  const double faulted_bytes_per_token = static_cast<double>(minor) * page_bytes / tokens;
  if (faulted_bytes_per_token >= kNotResidentFaultedFraction * static_cast<double>(weight_bytes_per_token))
    Warn(name + ": " + Format("%.0f", static_cast<double>(minor) / tokens) + " first-touch page faults per token "
             "during the timed decode: the model's pages were not resident",
         warnings);
}

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm utc;
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

// Best read rate per entry of `threads`, bytes/s.
std::vector<double> ReadBandwidth(edgelm_bench::ChildReadBandwidthProbe* probe, const std::vector<int>& threads,
                                  const char* when) {
  std::fprintf(stderr, "edgelm-bench: memory read bandwidth, %s\n", when);
  std::vector<double> bytes_per_s;
  for (int t : threads) bytes_per_s.push_back(ProbeBandwidth(probe, t, kBandwidthRuns));
  return bytes_per_s;
}

ordered_json RunBenchmark(const BenchOptions& o) {
  ordered_json warnings = ordered_json::array();
  const double load_start = LoadAverage1m();  // before the busy core adds to it
  if (load_start > kQuietLoadAverage)
    Warn("the 1-minute load average was " + Format("%.2f", load_start) + " before the run: other work shares "
             "the cores",
         &warnings);
  std::fprintf(stderr, "edgelm-bench: linear engine %s%s\n", LinearEngine().c_str(),
               o.busy_core ? ", a busy loop at nice 19 competing for a core" : "");
  const Clock::time_point start = Clock::now();
  // First: they fork, and the models below start threads.
  std::unique_ptr<edgelm_bench::BusyCoreProcess> busy_core;
  if (o.busy_core) {
    busy_core = std::make_unique<edgelm_bench::BusyCoreProcess>();
    if (!busy_core->running()) Die("could not start the busy core process");
  }
  edgelm_bench::ChildReadBandwidthProbe probe(o.bandwidth_bytes);
  ordered_json run;
  run["schema"] = "edgelm-bench/1";
  run["edgelm_version"] = edgelm_version();
  run["date_utc"] = UtcNow();
  const long pages = sysconf(_SC_PHYS_PAGES), page_bytes = sysconf(_SC_PAGESIZE);
  run["machine"] = {{"cpu", CpuName()}, {"logical_cores", std::thread::hardware_concurrency()},
                    {"mem_total_bytes", static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_bytes)},
                    {"load_avg_1m_start", load_start}};

  edgelm_model_info info;
  {
    ModelPtr model = LoadModel(o.model_path, 1, EDGELM_VERIFY_NONE, o.packed_cache);
    info = ModelInfo(model.get());
    run["model"] = {{"file", BaseName(o.model_path)}, {"file_bytes", info.file_bytes}, {"recipe", info.recipe},
                    {"family", info.family}, {"hidden_size", info.hidden_size}, {"num_layers", info.num_layers},
                    {"vocab_size", info.vocab_size}, {"weight_bytes_per_token", info.weight_bytes_per_token},
                    {"xnnpack_linears", info.xnnpack_linears}, {"packed_weight_bytes", info.packed_weight_bytes},
                    {"xnnpack_linears_from_cache", info.xnnpack_linears_from_cache}};
  }
  const int context_length = ContextLengthFor(o);
  run["settings"] = {{"reps", o.reps}, {"seed", o.seed}, {"context_length", context_length},
                     {"prefill_chunk", kPrefillChunk}, {"n_gen", o.n_gen}, {"prefill_lengths", o.prefill_lengths},
                     {"decode_depths", o.decode_depths}, {"threads", o.threads},
                     {"linear_engine", LinearEngine()}, {"busy_core", o.busy_core},
                     {"packed_weights_cache", !o.packed_cache.empty()}};

  // The tested thread counts, and 1: the single-core figure is the one to compare across machines.
  std::vector<int> bandwidth_threads = o.threads;
  bandwidth_threads.push_back(1);
  std::sort(bandwidth_threads.begin(), bandwidth_threads.end());
  bandwidth_threads.erase(std::unique(bandwidth_threads.begin(), bandwidth_threads.end()), bandwidth_threads.end());
  const std::vector<double> bandwidth_before = ReadBandwidth(&probe, bandwidth_threads, "before the tests");

  ordered_json startup = ordered_json::array(), tests = ordered_json::array(), verify = ordered_json::array();
  ordered_json constrained = ordered_json::array(), speculative = ordered_json::array();
  const std::vector<Workload> workloads = o.speculate.empty() ? std::vector<Workload>() : ReadWorkloads(o.workloads_path);
  uint64_t kv_bytes = 0;
  for (int threads : o.threads) {
    std::fprintf(stderr, "edgelm-bench: %d threads\n", threads);
    startup.push_back(MeasureStartup(o, threads, context_length));
    ModelPtr model = LoadModel(o.model_path, threads, EDGELM_VERIFY_NONE, o.packed_cache);
    SessionPtr session = NewSession(model.get(), context_length);
    for (int length : o.prefill_lengths)
      tests.push_back(MeasurePrefill(o, session.get(), info.vocab_size, threads, length));
    for (int depth : o.decode_depths) {
      tests.push_back(MeasureDecode(o, session.get(), info, &probe, threads, depth));
      WarnAboutPageFaults(tests.back(), info.weight_bytes_per_token, &warnings);
      kv_bytes = std::max(kv_bytes, tests.back()["kv_bytes"].get<uint64_t>());
      if (!o.verify_lengths.empty())
        for (ordered_json& row : MeasureVerify(o, session.get(), info.vocab_size, threads, depth))
          verify.push_back(std::move(row));
    }
    if (!o.json_schema.empty()) constrained.push_back(MeasureConstrained(o, session.get(), info.vocab_size, threads));
    if (!o.speculate.empty()) {
      session.reset();
      const ModelPtr draft = o.speculate == "lookup" ? ModelPtr(nullptr, edgelm_model_free) : LoadModel(o.speculate, threads);
      for (const Workload& workload : workloads)
        speculative.push_back(MeasureSpeculation(o, model.get(), draft.get(), threads, context_length, workload));
    }
  }
  const uint64_t peak_rss_bytes = edgelm_bench::PeakRssBytes();

  const std::vector<double> bandwidth_after = ReadBandwidth(&probe, bandwidth_threads, "after the tests");
  ordered_json bandwidth = ordered_json::array();
  for (size_t i = 0; i < bandwidth_threads.size(); ++i) {
    const int threads = bandwidth_threads[i];
    const double bytes_per_s = std::max(bandwidth_before[i], bandwidth_after[i]);
    bandwidth.push_back(
        {{"n_threads", threads}, {"read_bytes_per_s", bytes_per_s}, {"buffer_bytes", o.bandwidth_bytes}});
    for (ordered_json& test : tests) {
      if (test["kind"] != "decode" || test["n_threads"] != threads) continue;
      const double roofline = bytes_per_s / static_cast<double>(info.weight_bytes_per_token);
      test["roofline_t_s"] = roofline;
      test["roofline_fraction"] = test["t_s"]["median"].get<double>() / roofline;
    }
  }
  run["bandwidth"] = bandwidth;
  run["startup"] = startup;
  run["tests"] = tests;
  if (!verify.empty()) run["verify"] = verify;
  if (!constrained.empty()) run["constrained"] = constrained;
  if (!speculative.empty()) run["speculative"] = speculative;
  run["memory"] = {{"peak_rss_bytes", peak_rss_bytes}, {"kv_bytes", kv_bytes}};
  run["machine"]["load_avg_1m_end"] = LoadAverage1m();
  if (busy_core) {
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    run["machine"]["busy_core_cpu_fraction"] = busy_core->Stop() / seconds;
  }
  run["warnings"] = warnings;
  return run;
}

// ---- Tables ----------------------------------------------------------------------------------

std::string Gigabytes(const ordered_json& bytes) { return Format("%.2f", bytes.get<double>() / kBytesPerGB); }

void PrintSpeedTable(const std::vector<ordered_json>& runs) {
  std::printf("| model | recipe | engine | busy core | size GB | threads | test | t/s | min t/s | max t/s | TTFT ms "
              "| roofline t/s | of roofline | of paired roofline |\n"
              "|---|---|---|---|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|\n");
  for (const ordered_json& run : runs)
    for (const ordered_json& test : run["tests"]) {
      const bool decode = test["kind"] == "decode";
      std::printf("| %s | %s | %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n",
                  run["model"]["file"].get<std::string>().c_str(), run["model"]["recipe"].get<std::string>().c_str(),
                  run["settings"].value("linear_engine", "n/a").c_str(),
                  run["settings"].value("busy_core", false) ? "yes" : "no",
                  Gigabytes(run["model"]["file_bytes"]).c_str(), test["n_threads"].get<int>(),
                  test["name"].get<std::string>().c_str(), Format("%.2f", test["t_s"]["median"]).c_str(),
                  Format("%.2f", test["t_s"]["min"]).c_str(), Format("%.2f", test["t_s"]["max"]).c_str(),
                  decode ? "" : Format("%.0f", test["ttft_ms"]["median"]).c_str(),
                  decode && test.contains("roofline_t_s") ? Format("%.2f", test["roofline_t_s"]).c_str() : "",
                  decode && test.contains("roofline_fraction")
                      ? Format("%.1f%%", 100 * test["roofline_fraction"].get<double>()).c_str()
                      : "",
                  decode && test.contains("paired_roofline_fraction")
                      ? Format("%.1f%%", 100 * test["paired_roofline_fraction"]["median"].get<double>()).c_str()
                      : "");
    }
}

// Largest current RSS seen after a decode test, with that test's proportional breakdown.
const ordered_json* LargestDecodeRss(const ordered_json& run) {
  const ordered_json* largest = nullptr;
  for (const ordered_json& test : run["tests"])
    if (test.contains("rss_bytes") && (!largest || test["rss_bytes"] > (*largest)["rss_bytes"])) largest = &test;
  return largest;
}

std::string SpreadText(const ordered_json& load, const char* key) {
  if (!load.contains(key)) return "n/a";
  const ordered_json& s = load[key];
  return Format("%.0f", s["median"]) + " (" + Format("%.0f", s["min"]) + "-" + Format("%.0f", s["max"]) + ")";
}

void PrintMemoryTable(const std::vector<ordered_json>& runs) {
  std::printf("| model | file GB | weights/token GB | packed GB | peak RSS GB | RSS after tg GB | PSS file GB "
              "| PSS anon GB | KV MB | context |\n"
              "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
  for (const ordered_json& run : runs) {
    const ordered_json* rss = LargestDecodeRss(run);
    std::printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", run["model"]["file"].get<std::string>().c_str(),
                Gigabytes(run["model"]["file_bytes"]).c_str(),
                Gigabytes(run["model"]["weight_bytes_per_token"]).c_str(),
                run["model"].contains("packed_weight_bytes") ? Gigabytes(run["model"]["packed_weight_bytes"]).c_str() : "n/a",
                Gigabytes(run["memory"]["peak_rss_bytes"]).c_str(),
                rss ? Gigabytes((*rss)["rss_bytes"]).c_str() : "n/a",
                rss ? Gigabytes((*rss)["pss_file_bytes"]).c_str() : "n/a",
                rss ? Gigabytes((*rss)["pss_anon_bytes"]).c_str() : "n/a",
                Format("%.1f", run["memory"]["kv_bytes"].get<double>() / kBytesPerMB).c_str(),
                run["settings"]["context_length"].get<int>());
  }
}

void PrintStartupTable(const std::vector<ordered_json>& runs) {
  std::printf("| model | threads | load warm ms | load to first token warm ms | load cold ms | "
              "load to first token cold ms | cache left after drop | load warm, weights verified, ms |\n"
              "|---|--:|--:|--:|--:|--:|--:|--:|\n");
  for (const ordered_json& run : runs)
    for (const ordered_json& load : run["startup"]) {
      const std::string left = load.contains("cold_resident_fraction") && load["cold_resident_fraction"] >= 0
                                   ? Format("%.1f%%", 100 * load["cold_resident_fraction"].get<double>())
                                   : "n/a";
      std::printf("| %s | %d | %s | %s | %s | %s | %s | %s |\n", run["model"]["file"].get<std::string>().c_str(),
                  load["n_threads"].get<int>(), SpreadText(load, "warm_load_ms").c_str(),
                  SpreadText(load, "warm_first_token_ms").c_str(), SpreadText(load, "cold_load_ms").c_str(),
                  SpreadText(load, "cold_first_token_ms").c_str(), left.c_str(),
                  SpreadText(load, "warm_verified_load_ms").c_str());
    }
}

void PrintMachineTable(const std::vector<ordered_json>& runs) {
  std::printf("| model | date (UTC) | cpu | cores | load avg 1m start/end | busy core got | "
              "read bandwidth GB/s (threads) |\n"
              "|---|---|---|--:|--:|--:|---|\n");
  for (const ordered_json& run : runs) {
    std::string bandwidth;
    for (const ordered_json& b : run["bandwidth"])
      bandwidth += (bandwidth.empty() ? "" : ", ") + Format("%.1f", b["read_bytes_per_s"].get<double>() / kBytesPerGB) +
                   " (" + std::to_string(b["n_threads"].get<int>()) + ")";
    const ordered_json& m = run["machine"];
    const std::string busy_core = m.contains("busy_core_cpu_fraction")
                                      ? Format("%.0f%% of a core", 100 * m["busy_core_cpu_fraction"].get<double>())
                                      : "";
    std::printf("| %s | %s | %s | %d | %s / %s | %s | %s |\n", run["model"]["file"].get<std::string>().c_str(),
                run["date_utc"].get<std::string>().c_str(), m["cpu"].get<std::string>().c_str(),
                m["logical_cores"].get<int>(), Format("%.2f", m["load_avg_1m_start"]).c_str(),
                Format("%.2f", m["load_avg_1m_end"]).c_str(), busy_core.c_str(), bandwidth.c_str());
  }
}

void PrintWarnings(const std::vector<ordered_json>& runs) {
  for (const ordered_json& run : runs)
    if (run.contains("warnings"))
      for (const ordered_json& warning : run["warnings"])
        std::printf("\n**Warning** (%s): %s\n", run["model"]["file"].get<std::string>().c_str(),
                    warning.get<std::string>().c_str());
}

// --verify: what speculation can gain from these costs. A draft of k tokens is verified by one forward
// over k + 1 (the sampled token and the guesses); with each guess accepted with probability a (while
// all before it were), it yields 1 + a + ... + a^k tokens. Drafting is taken as free (prompt lookup).
void PrintAchievableSpeedupTable(const std::vector<ordered_json>& runs) {
  const double acceptances[] = {0.5, 0.7, 0.8, 0.9, 0.95};
  std::printf("| model | threads | depth |");
  for (double a : acceptances) std::printf(" acceptance %.2f |", a);
  std::printf("\n|---|--:|--:|");
  for (size_t i = 0; i < sizeof acceptances / sizeof acceptances[0]; ++i) std::printf("--:|");
  std::printf("\n");
  for (const ordered_json& run : runs) {
    const ordered_json rows = run.value("verify", ordered_json::array());
    for (const ordered_json& base : rows) {
      if (base["n_tokens"] != 1) continue;
      std::printf("| %s | %d | %d |", run["model"]["file"].get<std::string>().c_str(), base["n_threads"].get<int>(),
                  base["n_depth"].get<int>());
      for (double a : acceptances) {
        double best = 1.0;
        int best_k = 0;
        for (const ordered_json& row : rows) {
          const int k = row["n_tokens"].get<int>() - 1;
          if (row["n_threads"] != base["n_threads"] || row["n_depth"] != base["n_depth"] || k < 1) continue;
          const double yield = (1.0 - std::pow(a, k + 1)) / (1.0 - a);
          const double speedup = yield / row["vs_one_token"].get<double>();
          if (speedup > best) best = speedup, best_k = k;
        }
        std::printf(" %s |", best_k ? (Format("%.2fx", best) + " (k = " + std::to_string(best_k) + ")").c_str() : "1 (none pays)");
      }
      std::printf("\n");
    }
  }
  std::printf("\n");
}

// --verify: a forward over k drafted tokens against one decode step.
void PrintVerifyTable(const std::vector<ordered_json>& runs) {
  bool any = false;
  for (const ordered_json& run : runs) any = any || run.contains("verify");
  if (!any) return;
  std::printf("| model | engine | threads | depth | tokens verified | ms | min ms | max ms | vs one token |\n"
              "|---|---|--:|--:|--:|--:|--:|--:|--:|\n");
  for (const ordered_json& run : runs)
    for (const ordered_json& row : run.value("verify", ordered_json::array()))
      std::printf("| %s | %s | %d | %d | %d | %s | %s | %s | %s |\n", run["model"]["file"].get<std::string>().c_str(),
                  run["settings"].value("linear_engine", "n/a").c_str(), row["n_threads"].get<int>(),
                  row["n_depth"].get<int>(), row["n_tokens"].get<int>(), Format("%.1f", row["ms"]["median"]).c_str(),
                  Format("%.1f", row["ms"]["min"]).c_str(), Format("%.1f", row["ms"]["max"]).c_str(),
                  Format("%.2fx", row["vs_one_token"]).c_str());
  std::printf("\n");
  PrintAchievableSpeedupTable(runs);
}

// --speculate: plain against speculative greedy decode per workload.
void PrintSpeculativeTable(const std::vector<ordered_json>& runs) {
  bool any = false;
  for (const ordered_json& run : runs) any = any || run.contains("speculative");
  if (!any) return;
  std::printf("| model | drafts by | threads | workload | plain t/s | speculative t/s | speed-up | drafted | accepted "
              "| acceptance | tokens per pass |\n"
              "|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|\n");
  for (const ordered_json& run : runs)
    for (const ordered_json& row : run.value("speculative", ordered_json::array()))
      std::printf("| %s | %s | %d | %s | %s | %s | %s | %lld | %lld | %s | %s |\n",
                  run["model"]["file"].get<std::string>().c_str(), row["mode"].get<std::string>().c_str(),
                  row["n_threads"].get<int>(), row["workload"].get<std::string>().c_str(),
                  Format("%.2f", row["t_s_plain"]["median"]).c_str(),
                  Format("%.2f", row["t_s_speculative"]["median"]).c_str(), Format("%.2fx", row["speedup"]).c_str(),
                  static_cast<long long>(row["drafted_tokens"].get<int64_t>()),
                  static_cast<long long>(row["accepted_draft_tokens"].get<int64_t>()),
                  Format("%.1f%%", 100 * row["acceptance"].get<double>()).c_str(),
                  Format("%.2f", row["tokens_per_pass"]).c_str());
  std::printf("\n");
}

// --json-schema: the grammar's cost per decode step.
void PrintConstrainedTable(const std::vector<ordered_json>& runs) {
  bool any = false;
  for (const ordered_json& run : runs) any = any || run.contains("constrained");
  if (!any) return;
  std::printf("| model | threads | tokens | constrained t/s | plain t/s | grammar cost per step |\n"
              "|---|--:|--:|--:|--:|--:|\n");
  for (const ordered_json& run : runs)
    for (const ordered_json& row : run.value("constrained", ordered_json::array()))
      std::printf("| %s | %d | %d | %s | %s | %s |\n", run["model"]["file"].get<std::string>().c_str(),
                  row["n_threads"].get<int>(), row["n_tokens"].get<int>(),
                  Format("%.2f", row["t_s_constrained"]["median"]).c_str(),
                  Format("%.2f", row["t_s_plain"]["median"]).c_str(),
                  Format("%.1f%%", row["overhead"].get<double>() * 100.0).c_str());
  std::printf("\n");
}

void PrintTables(const std::vector<ordered_json>& runs) {
  PrintSpeedTable(runs);
  std::printf("\n");
  PrintVerifyTable(runs);
  PrintConstrainedTable(runs);
  PrintSpeculativeTable(runs);
  PrintMemoryTable(runs);
  std::printf("\n");
  PrintStartupTable(runs);
  std::printf("\n");
  PrintMachineTable(runs);
  PrintWarnings(runs);
}

// ---- Comparing runs --------------------------------------------------------------------------

// Every number worth comparing, keyed by a name that is the same in both runs when the test is.
std::vector<std::pair<std::string, double>> Metrics(const ordered_json& run) {
  std::vector<std::pair<std::string, double>> metrics;
  for (const ordered_json& test : run["tests"]) {
    const std::string name = test["name"].get<std::string>() + ", " + std::to_string(test["n_threads"].get<int>()) +
                             " threads";
    metrics.emplace_back(name + ", t/s", test["t_s"]["median"].get<double>());
    if (test.contains("paired_roofline_fraction"))
      metrics.emplace_back(name + ", of paired roofline", test["paired_roofline_fraction"]["median"].get<double>());
  }
  for (const ordered_json& load : run["startup"])
    for (const char* key :
         {"warm_load_ms", "warm_first_token_ms", "cold_load_ms", "cold_first_token_ms", "warm_verified_load_ms"})
      if (load.contains(key))
        metrics.emplace_back(
            std::string(key) + ", " + std::to_string(load["n_threads"].get<int>()) + " threads (median)",
            load[key]["median"].get<double>());
  metrics.emplace_back("peak_rss_bytes", run["memory"]["peak_rss_bytes"].get<double>());
  metrics.emplace_back("file_bytes", run["model"]["file_bytes"].get<double>());
  for (const ordered_json& b : run["bandwidth"])
    metrics.emplace_back("read bandwidth, " + std::to_string(b["n_threads"].get<int>()) + " threads, bytes/s",
                         b["read_bytes_per_s"].get<double>());
  return metrics;
}

// "file (date, engine E[, busy core])": what a run measured, and under which conditions.
std::string RunLabel(const ordered_json& run) {
  const ordered_json& settings = run["settings"];
  return run["model"]["file"].get<std::string>() + " (" + run["date_utc"].get<std::string>() + ", engine " +
         settings.value("linear_engine", "n/a") + (settings.value("busy_core", false) ? ", busy core" : "") + ")";
}

void PrintComparison(const ordered_json& a, const ordered_json& b) {
  std::printf("A: %s\nB: %s\nt/s and bandwidth: higher is better; ms and bytes: lower is better.\n\n",
              RunLabel(a).c_str(), RunLabel(b).c_str());
  std::printf("| metric | A | B | B/A |\n|---|--:|--:|--:|\n");
  const auto b_metrics = Metrics(b);
  for (const auto& [metric, a_value] : Metrics(a)) {
    const std::string& name = metric;  // a structured binding can't be captured in C++17
    const auto match = std::find_if(b_metrics.begin(), b_metrics.end(), [&](const auto& m) { return m.first == name; });
    if (match == b_metrics.end()) continue;
    std::printf("| %s | %.4g | %.4g | %s |\n", name.c_str(), a_value, match->second,
                a_value != 0 ? Format("%.3f", match->second / a_value).c_str() : "n/a");
  }
}

// ---- Command line ----------------------------------------------------------------------------

ordered_json ReadRun(const std::string& path) {
  std::ifstream in(path);
  if (!in) Die("cannot read " + path);
  ordered_json run = ordered_json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (run.is_discarded() || !run.contains("schema") || run["schema"] != "edgelm-bench/1")
    Die(path + " is not an edgelm-bench/1 result");
  return run;
}

void Usage(FILE* out) {
  std::fprintf(out,
      "usage: edgelm-bench MODEL.edgelm [options]\n"
      "       edgelm-bench --table RUN.json...\n"
      "       edgelm-bench --compare A.json B.json\n"
      "\n"
      "options (lists are comma separated):\n"
      "  -p, --prefill N,...     prompt lengths, tokens (default 128,512,1024)\n"
      "  -d, --depths D,...      context depths for decode tests, tokens (default 0,1024,4096)\n"
      "  -n, --n-gen N           decode tokens per test (default 128)\n"
      "  -t, --threads T,...     thread counts (default 1 and every core)\n"
      "  -r, --reps R            repetitions; tables show the median and min/max (default 3)\n"
      "  -c, --context N         session context length, tokens (default: fits every test, >= 4096)\n"
      "  --seed S                seed of the random prompt tokens (default 1)\n"
      "  --bandwidth-mib M       buffer of the memory read bandwidth probe, MiB (default 1024), held by a\n"
      "                          child process for the whole run (lower it on a phone)\n"
      "  --no-cold               skip the cold (page cache dropped) load measurement\n"
      "  --packed-cache FILE     keep XNNPACK's packed weights in FILE between loads (written by the first)\n"
      "  --busy-core             run a competing busy loop (a process at nice 19, on no particular core)\n"
      "                          for the whole run, as another app would on a phone\n"
      "  --verify K,...          also time one forward over K new tokens with every position's logits\n"
      "                          (verifying a speculative draft) at each depth, against K = 1\n"
      "  --speculate lookup|DRAFT.edgelm\n"
      "                          also decode each speculation workload greedily, plainly and with prompt\n"
      "                          lookup or this draft model (same tokenizer), and compare (same output)\n"
      "  --workloads FILE        speculation workloads: [{\"name\", \"prompts\": [text, ...]}]\n"
      "                          (default benchmarks/data/speculation_workloads.json)\n"
      "  --json-schema FILE      also time greedy decode constrained by this JSON schema against plain\n"
      "                          greedy decode (the grammar's cost per token)\n"
      "  --json FILE             also write the results as JSON (schema: top of benchmarks/bench.cc)\n");
}

std::vector<int> ParseList(const std::string& text, int minimum, const char* flag) {
  std::vector<int> values;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    const long value = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || value < minimum || value > (1 << 24))
      Die(std::string(flag) + ": '" + item + "' is not a whole number >= " + std::to_string(minimum));
    values.push_back(static_cast<int>(value));
  }
  if (values.empty()) Die(std::string(flag) + " needs at least one value");
  return values;
}

int ParseNumber(const std::string& text, int minimum, const char* flag) {
  const std::vector<int> values = ParseList(text, minimum, flag);
  if (values.size() != 1) Die(std::string(flag) + " takes one number");
  return values[0];
}

}  // namespace

int main(int argc, char** argv) {
  BenchOptions o;
  std::vector<std::string> table_files, compare_files;
  bool table_mode = false, compare_mode = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(a + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") { Usage(stdout); return 0; }
    else if (a == "--table") table_mode = true;
    else if (a == "--compare") compare_mode = true;
    else if (a == "-p" || a == "--prefill") o.prefill_lengths = ParseList(value(), 1, "--prefill");
    else if (a == "-d" || a == "--depths") o.decode_depths = ParseList(value(), 0, "--depths");
    else if (a == "-n" || a == "--n-gen") o.n_gen = ParseNumber(value(), 1, "--n-gen");
    else if (a == "-t" || a == "--threads") o.threads = ParseList(value(), 1, "--threads");
    else if (a == "-r" || a == "--reps") o.reps = ParseNumber(value(), 1, "--reps");
    else if (a == "-c" || a == "--context") o.context_length = ParseNumber(value(), 1, "--context");
    else if (a == "--seed") o.seed = std::strtoull(value().c_str(), nullptr, 10);
    else if (a == "--bandwidth-mib")
      o.bandwidth_bytes = static_cast<size_t>(ParseNumber(value(), 1, "--bandwidth-mib")) << 20;
    else if (a == "--no-cold") o.cold = false;
    else if (a == "--json-schema") {
      std::ifstream file(value());
      std::stringstream text;
      text << file.rdbuf();
      if (!file) Die("cannot read the JSON schema file");
      o.json_schema = text.str();
    }
    else if (a == "--busy-core") o.busy_core = true;
    else if (a == "--packed-cache") o.packed_cache = value();
    else if (a == "--verify") o.verify_lengths = ParseList(value(), 1, "--verify");
    else if (a == "--speculate") o.speculate = value();
    else if (a == "--workloads") o.workloads_path = value();
    else if (a == "--json") o.json_path = value();
    else if (!a.empty() && a[0] == '-') { Usage(stderr); Die("unknown option " + a); }
    else if (table_mode) table_files.push_back(a);
    else if (compare_mode) compare_files.push_back(a);
    else if (o.model_path.empty()) o.model_path = a;
    else Die("more than one model: " + o.model_path + " and " + a);
  }

  if (table_mode == compare_mode && (table_mode || o.model_path.empty())) { Usage(stderr); return 2; }
  if (table_mode) {
    std::vector<ordered_json> runs;
    for (const std::string& path : table_files) runs.push_back(ReadRun(path));
    if (runs.empty()) Die("--table needs at least one RUN.json");
    PrintTables(runs);
    return 0;
  }
  if (compare_mode) {
    if (compare_files.size() != 2) Die("--compare takes exactly two result files");
    PrintComparison(ReadRun(compare_files[0]), ReadRun(compare_files[1]));
    return 0;
  }
  if (o.threads.empty()) {
    o.threads = {1};
    const int cores = static_cast<int>(std::thread::hardware_concurrency());
    if (cores > 1) o.threads.push_back(cores);
  }
  const ordered_json run = RunBenchmark(o);
  if (!o.json_path.empty()) {
    std::ofstream out(o.json_path);
    out << run.dump(2) << "\n";
    if (!out) Die("cannot write " + o.json_path);
  }
  PrintTables({run});
  return 0;
}
