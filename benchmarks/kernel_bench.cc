// edgelm-kernel-bench: speed of every GEMM kernel variant this CPU runs at Gemma 4 E2B shapes, next to
// XNNPACK's int8 operators (per-channel qc8 1x1 convolution, per-tensor qs8 fully-connected) and this
// machine's read bandwidth, measured the same way (a STREAM-like sum over the same 512 MB, in slices
// the size of a decode matrix). Decode (M = 1) cycles through enough copies of each matrix that
// the weights come from DRAM, as in a real decode step; prefill (M = 128) reuses one copy.
// Output channels are split over a pthreadpool in tiles of 32, as src/model/linear.cc does. The
// decode attention kernels (kv-attention) run at E2B's head shapes over f32, int8 and int4 K/V, and the
// activation quantization (qs8_quantize) over rows of E2B's hidden size.
//
//   edgelm-kernel-bench [--json] [--repeat N] [--min-time SECONDS] [--filter SUBSTRING] [--quick]
//
// GOPS = 2*M*N*K / time; GB/s = weight bytes read per call / time (one pass over the matrix). Each
// configuration reports the median call time and the best single call; GOPS, GB/s and %BW use the best
// call, which on a shared machine is the one no other process interrupted. "ms cpu" is the process CPU
// time per call (median of the runs): with 1 thread it excludes the time other processes held the core,
// which makes it the fairest number for the compute-bound M = 128 rows on a loaded machine.
#include <xnnpack.h>

#include <pthreadpool.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dispatch.h"
#include "format/tensor.h"
#include "memory_bandwidth.h"
#include "model/linear.h"
#include "xnnpack_linear.h"
#include "process_memory.h"

namespace {

using edgelm::DType;

struct Options {
  bool json = false;
  int repeat = 5;             // timed runs per configuration
  double min_seconds = 0.2;   // per timed run
  std::string filter;         // only kernels whose name contains this
  size_t weight_set_bytes = size_t{512} << 20;  // decode weights cycled through: >> any L3
};

struct KernelSpec {
  const char* name;
  DType dtype;
  qs8_qcxw_gemm_fn edgelm_kernels::*qs8;  // exactly one of qs8 / f32 is set
  f32_gemm_fn edgelm_kernels::*f32;
};

const KernelSpec kKernels[] = {
    {"qs8_qc8w", DType::I8, &edgelm_kernels::qs8_qc8w_gemm, nullptr},
    {"qs8_qc4w", DType::I4, &edgelm_kernels::qs8_qc4w_gemm, nullptr},
    {"qs8_qc2w", DType::I2, &edgelm_kernels::qs8_qc2w_gemm, nullptr},
    {"f32_f32w", DType::F32, nullptr, &edgelm_kernels::f32_f32w_gemm},
    {"f32_bf16w", DType::BF16, nullptr, &edgelm_kernels::f32_bf16w_gemm},
    {"f32_f16w", DType::F16, nullptr, &edgelm_kernels::f32_f16w_gemm},
    {"f32_q4_0w", DType::Q4_0, nullptr, &edgelm_kernels::f32_q4_0w_gemm},
};

struct Shape {
  const char* kernel;
  size_t N, K;
};

// E2B: hidden 1536, attention q 2048, MLP 6144 (12288 where the MLP is double-wide), vocab 262144.
// qc2w also runs 6144x1536 so it can be compared with qc8w at the same shape.
const Shape kShapes[] = {
    {"qs8_qc8w", 2048, 1536},  {"qs8_qc8w", 6144, 1536},   {"qs8_qc2w", 6144, 1536}, {"qs8_qc2w", 12288, 1536},
    {"qs8_qc2w", 1536, 12288}, {"qs8_qc4w", 262144, 1536}, {"f32_f32w", 2048, 1536}, {"f32_bf16w", 2048, 1536},
    {"f32_f16w", 2048, 1536},  {"f32_q4_0w", 2048, 1536},
};
const size_t kTokenCounts[] = {1, 128};
const size_t kThreadCounts[] = {1, 2};
constexpr size_t kBandwidthSliceBytes = size_t{4} << 20;  // like a 2048x1536 int8 matrix
// The scalar reference takes minutes on prefill of the largest matrices; those rows are skipped.
constexpr size_t kScalarPrefillMaxWeights = size_t{16} << 20;

struct Result {
  std::string kernel, variant;
  size_t M, N, K, threads;
  double median_seconds, seconds, cpu_seconds, weight_bytes;  // seconds: the best call
  double bandwidth_fraction = 0;  // decode only: of the measured read bandwidth at this thread count
  double ops = 0;                 // per call; 0 = a GEMM's 2*M*N*K
  double gops() const { return (ops > 0 ? ops : 2.0 * M * N * K) / seconds * 1e-9; }
  double gbps() const { return weight_bytes / seconds * 1e-9; }
};

size_t RowBytesOf(DType dtype, size_t K) {
  uint64_t bytes = 0;
  (void)edgelm::RowBytes(dtype, static_cast<int64_t>(K), &bytes);
  return bytes;
}

// Sane values under every interpretation the kernels use: each 16-bit word is a bf16 (and so an f16,
// and the high half of an f32) of magnitude in [2^-7, 1); integer codes take any byte.
std::vector<uint8_t> RandomWeights(size_t bytes) {
  std::vector<uint8_t> w((bytes + 1) / 2 * 2);
  uint64_t s = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < w.size(); i += 2) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    const uint16_t bits = static_cast<uint16_t>((s & 0x807f) | (120 + (s >> 16) % 7) << 7);
    std::memcpy(&w[i], &bits, 2);
  }
  return w;
}

struct Timing {
  double median_seconds;  // of the per-run averages
  double best_seconds;    // fastest single call
  double cpu_seconds;     // process CPU time per call, median of the runs
};

double CpuSeconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// `repeat` runs of at least min_seconds each; call(i) runs iteration i.
Timing SecondsPerCall(const Options& o, const std::function<void(size_t)>& call) {
  call(0);  // warm-up: page faults, pool threads, scratch buffers
  std::vector<double> averages, cpu;
  double best = 1e30;
  size_t i = 1;
  for (int r = 0; r < o.repeat; ++r) {
    double elapsed = 0;
    size_t calls = 0;
    const double cpu_start = CpuSeconds();
    do {
      const auto start = std::chrono::steady_clock::now();
      call(i++);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      best = std::min(best, s), elapsed += s, ++calls;
    } while (elapsed < o.min_seconds);
    averages.push_back(elapsed / static_cast<double>(calls));
    cpu.push_back((CpuSeconds() - cpu_start) / static_cast<double>(calls));
  }
  std::sort(averages.begin(), averages.end());
  std::sort(cpu.begin(), cpu.end());
  return {averages[averages.size() / 2], best, cpu[cpu.size() / 2]};
}

// One slice of the bandwidth probe in 64 parts; sums land in `sink` so the reads are not dropped.
struct ReadSlice {
  const uint64_t* words;
  size_t words_per_part;
  uint64_t sink[64];
};

void SumSlicePart(void* context, size_t part) {
  ReadSlice& s = *static_cast<ReadSlice*>(context);
  s.sink[part] = edgelm_bench::SumWords(s.words + part * s.words_per_part, s.words_per_part);
}

struct Pools {
  std::vector<std::unique_ptr<pthreadpool, decltype(&pthreadpool_destroy)>> by_threads;
  Pools() {
    for (size_t t : kThreadCounts)
      by_threads.emplace_back(t == 1 ? nullptr : pthreadpool_create(t), &pthreadpool_destroy);
  }
  pthreadpool_t get(size_t index) const { return by_threads[index].get(); }
};

struct Bench {
  Options options;
  std::vector<uint8_t> weights;  // decode cycles through copies inside this buffer
  std::vector<int8_t> x_q;
  std::vector<float> x, x_scale, w_scale, y;
  double read_bandwidth[2] = {0, 0};  // bytes/s with 1 and 2 threads
  Pools pools;
  std::vector<Result> results;
  nlohmann::json xnnpack_notes = nlohmann::json::array();

  explicit Bench(const Options& o) : options(o), weights(RandomWeights(o.weight_set_bytes)) {
    const size_t max_m = 128, max_k = 12288, max_n = 262144;
    std::vector<uint8_t> bytes = RandomWeights(max_m * max_k);
    for (uint8_t b : bytes) x_q.push_back(static_cast<int8_t>(b % 255 - 127));
    for (size_t i = 0; i < max_m * max_k; ++i) x.push_back(static_cast<float>(x_q[i]) / 127.0f);
    x_scale.assign(max_m, 0.02f);
    for (size_t n = 0; n < max_n; ++n) w_scale.push_back(0.001f + 0.0001f * static_cast<float>(n % 7));
    y.resize(max_m * max_n);
  }

  // How many copies of a `matrix_bytes` matrix decode cycles through, and the stride between them.
  size_t Copies(size_t M, size_t matrix_bytes) const {
    return M == 1 ? std::max<size_t>(1, weights.size() / matrix_bytes) : 1;
  }

  // Sums 4 MB slices of the weight set (each thread a part), cycling through all of it: the same access
  // size, repetition and timing as a decode GEMV, with no arithmetic to hide behind.
  void MeasureBandwidth() {
    const size_t slices = weights.size() / kBandwidthSliceBytes;
    for (size_t t = 0; t < std::size(kThreadCounts); ++t) {
      ReadSlice slice{nullptr, kBandwidthSliceBytes / sizeof(uint64_t) / 64, {}};
      const Timing s = SecondsPerCall(options, [&](size_t i) {
        slice.words = reinterpret_cast<const uint64_t*>(weights.data() + (i % slices) * kBandwidthSliceBytes);
        pthreadpool_parallelize_1d(pools.get(t), SumSlicePart, &slice, 64, 0);
      });
      read_bandwidth[t] = kBandwidthSliceBytes / s.best_seconds;
    }
  }

  void Record(Result r, size_t thread_index) {
    if (r.M == 1 && r.ops == 0) r.bandwidth_fraction = r.gbps() * 1e9 / read_bandwidth[thread_index];
    if (!options.json) Print(r);
    results.push_back(r);
  }

  void RunKernels() {
    const edgelm_kernels* variants[16];
    const size_t count = std::min<size_t>(edgelm_kernels_available(variants, 16), 16);
    for (const Shape& shape : kShapes) {
      if (std::string(shape.kernel).find(options.filter) == std::string::npos) continue;
      const KernelSpec& spec = *std::find_if(std::begin(kKernels), std::end(kKernels),
                                             [&](const KernelSpec& k) { return shape.kernel == std::string(k.name); });
      const size_t row_bytes = RowBytesOf(spec.dtype, shape.K), matrix_bytes = row_bytes * shape.N;
      for (size_t M : kTokenCounts)
        for (size_t v = 0; v < count; ++v) {
          if (std::string(variants[v]->name) == "scalar" && M > 1 && shape.N * shape.K > kScalarPrefillMaxWeights)
            continue;
          for (size_t t = 0; t < std::size(kThreadCounts); ++t) {
            edgelm::GemmCall c{M, shape.N, shape.K, row_bytes, nullptr, w_scale.data(), x_q.data(), x_scale.data(),
                       x.data(), y.data(), spec.qs8 ? variants[v]->*spec.qs8 : nullptr,
                       spec.f32 ? variants[v]->*spec.f32 : nullptr};
            const size_t copies = Copies(M, matrix_bytes);
            const Timing s = SecondsPerCall(options, [&](size_t i) {
              c.w = weights.data() + (i % copies) * matrix_bytes;
              edgelm::RunGemm(c, pools.get(t));  // the same tiling as Linear()
            });
            Record({spec.name, variants[v]->name, M, shape.N, shape.K, kThreadCounts[t], s.median_seconds,
                    s.best_seconds, s.cpu_seconds, static_cast<double>(matrix_bytes)},
                   t);
          }
        }
    }
  }

  // Decode attention of one token over n cached positions (kv-attention kernels: scores, then values)
  // at E2B's shapes: 8 query heads per KV head, d = 512 on full layers, 256 on sliding ones (n = the
  // 512-token window). Reported as M = query heads, N = positions, K = head_dim; GB/s counts the K
  // and V records read, which cycle through the weight set so they come from DRAM as in decode.
  void RunAttention() {
    struct AttentionShape {
      size_t group, n, d;
    };
    const AttentionShape shapes[] = {{8, 512, 256}, {8, 4096, 512}};
    const int formats[] = {EDGELM_KV_FORMAT_F32, EDGELM_KV_FORMAT_I8, EDGELM_KV_FORMAT_I4};
    const char* const names[EDGELM_KV_FORMAT_COUNT] = {"f32_kvf32_attention", "f32_kvbf16_attention",
                                                       "f32_kvi8_attention", "f32_kvi4_attention"};
    const edgelm_kernels* variants[16];
    const size_t count = std::min<size_t>(edgelm_kernels_available(variants, 16), 16);
    for (int format : formats) {
      if (std::string(names[format]).find(options.filter) == std::string::npos) continue;
      for (const AttentionShape& shape : shapes) {
        const size_t record_bytes[] = {4 * shape.d, 2 * shape.d, shape.d + 4, shape.d / 2 + shape.d / 8};
        const size_t row_bytes = 2 * record_bytes[format];  // K then V
        const size_t block_bytes = shape.n * row_bytes, copies = std::max<size_t>(1, weights.size() / block_bytes);
        std::vector<float> scores(shape.group * shape.n, 1.0f / static_cast<float>(shape.n)), out(shape.group * shape.d);
        for (size_t v = 0; v < count; ++v) {
          const edgelm_kernels& k = *variants[v];
          const Timing s = SecondsPerCall(options, [&](size_t i) {
            const uint8_t* rows = weights.data() + (i % copies) * block_bytes;
            k.kv_scores[format](shape.n, shape.d, shape.group, x.data(), rows, row_bytes, 0.0f, scores.data(), shape.n);
            k.kv_accumulate[format](shape.n, shape.d, shape.group, scores.data(), shape.n, rows + record_bytes[format],
                                    row_bytes, 0.0f, out.data());
          });
          Result r{names[format], k.name, shape.group, shape.n, shape.d, 1, s.median_seconds, s.best_seconds,
                   s.cpu_seconds, static_cast<double>(block_bytes)};
          r.ops = 4.0 * shape.group * shape.n * shape.d;
          Record(r, 0);
        }
      }
    }
  }

  // Activation quantization of M rows of E2B's hidden size, as Linear does before every integer GEMM,
  // from cache-resident activations. Reported as N = 1; GB/s counts the floats read.
  void RunQuantize() {
    if (std::string("qs8_quantize").find(options.filter) == std::string::npos) return;
    const edgelm_kernels* variants[16];
    const size_t count = std::min<size_t>(edgelm_kernels_available(variants, 16), 16);
    const size_t K = 1536;
    std::vector<int8_t> codes(kTokenCounts[std::size(kTokenCounts) - 1] * K);
    for (size_t M : kTokenCounts)
      for (size_t v = 0; v < count; ++v) {
        const Timing s = SecondsPerCall(options, [&](size_t) {
          for (size_t m = 0; m < M; ++m) variants[v]->qs8_quantize(K, x.data() + m * K, 0.02f, codes.data() + m * K);
        });
        Result r{"qs8_quantize", variants[v]->name, M, 1, K, 1, s.median_seconds, s.best_seconds, s.cpu_seconds,
                 4.0 * static_cast<double>(M * K)};
        r.ops = static_cast<double>(M * K);
        Record(r, 0);
      }
  }

  // XNNPACK's qc8 1x1 convolution (through XnnpackQc8Linear) and qs8 fully-connected at the qc8w shapes.
  void RunXnnpack() {
    if (std::string("qs8_qc8w").find(options.filter) == std::string::npos) return;
    if (xnn_initialize(nullptr) != xnn_status_success) {
      std::fprintf(stderr, "XNNPACK failed to initialize; skipping it\n");
      return;
    }
    for (const Shape& shape : kShapes) {
      if (shape.kernel != std::string("qs8_qc8w")) continue;
      const size_t matrix_bytes = shape.N * shape.K;
      const float output_scale = OutputScale(shape);
      MeasureXnnpackError(shape, output_scale);
      for (size_t M : kTokenCounts) {
        const size_t copies = Copies(M, matrix_bytes);
        for (const bool per_channel : {true, false}) {
          const char* op = per_channel ? "xnnpack_qc8_conv1x1" : "xnnpack_qs8_fc";
          edgelm_bench::ProcessMemory before{}, after{};
          edgelm_bench::ReadProcessMemory(&before);
          std::vector<std::unique_ptr<edgelm::XnnpackQc8Linear>> qc8;
          std::vector<xnn_operator_t> qs8;
          for (size_t i = 0; i < copies; ++i) {
            const uint8_t* w = weights.data() + i * matrix_bytes;
            if (per_channel) {
              std::unique_ptr<edgelm::XnnpackQc8Linear> linear;
              const edgelm::Status s = edgelm::XnnpackQc8Linear::Create(View(shape, w), output_scale, &linear);
              if (!s.ok()) return (void)std::fprintf(stderr, "%s\n", s.message().c_str());
              qc8.push_back(std::move(linear));
            } else {
              xnn_operator_t fc = nullptr;
              // Per-tensor weight scale: the average of the per-channel ones, close enough for timing.
              if (xnn_create_fully_connected_nc_qs8(shape.K, shape.N, shape.K, shape.N, 0, x_scale[0], w_scale[3],
                                                    reinterpret_cast<const int8_t*>(w), nullptr, 0, output_scale,
                                                    -128, 127, 0, &fc) != xnn_status_success)
                return (void)std::fprintf(stderr, "xnn_create_fully_connected_nc_qs8 failed\n");
              qs8.push_back(fc);
            }
          }
          edgelm_bench::ReadProcessMemory(&after);
          const double packed_per_matrix = (static_cast<double>(after.rss_bytes) - before.rss_bytes) / copies;
          std::vector<int8_t> q(M * shape.N);
          for (size_t t = 0; t < std::size(kThreadCounts); ++t) {
            pthreadpool_t pool = pools.get(t);
            const Timing s = SecondsPerCall(options, [&](size_t i) {
              const size_t c = i % copies;
              if (!qc8.empty()) {
                (void)qc8[c]->RunInt8(x_q.data(), M, q.data(), pool);
              } else {
                xnn_setup_fully_connected_nc_qs8(qs8[c], M, x_q.data(), q.data(), pool);
                xnn_run_operator(qs8[c], pool);
              }
            });
            Record({op, "xnnpack", M, shape.N, shape.K, kThreadCounts[t], s.median_seconds, s.best_seconds,
                    s.cpu_seconds, static_cast<double>(matrix_bytes)},
                   t);
          }
          for (xnn_operator_t fc : qs8) xnn_delete_operator(fc);
          if (M != 1) continue;  // later operators reuse freed heap pages: only the first count is real
          xnnpack_notes.push_back({{"op", op}, {"N", shape.N}, {"K", shape.K},
                                   {"packed_bytes_per_matrix", packed_per_matrix},
                                   {"packed_over_file_bytes", packed_per_matrix / matrix_bytes}});
          if (!options.json)
            std::printf("  (%s N=%zu K=%zu: XNNPACK keeps %.1f MB packed per matrix = %.2fx the file's weights)\n",
                        op, shape.N, shape.K, packed_per_matrix * 1e-6, packed_per_matrix / matrix_bytes);
        }
      }
    }
    xnn_deinitialize();
  }

  edgelm::TensorView View(const Shape& shape, const uint8_t* w) const {
    edgelm::TensorView v;
    v.name = "bench";
    v.dtype = DType::I8;
    v.shape = {static_cast<int64_t>(shape.N), static_cast<int64_t>(shape.K)};
    v.data = w;
    v.scales = w_scale.data();
    v.activation = edgelm::ActivationQuant::StaticInt8;
    v.input_scale = x_scale[0];
    return v;
  }

  // y = edgelm's qs8_qc8w (bit-exact scalar contract) for the first copy at M = 128.
  std::vector<float> Reference(const Shape& shape) const {
    std::vector<float> ref(128 * shape.N);
    edgelm_kernels_select()->qs8_qc8w_gemm(128, shape.N, shape.K, x_q.data(), shape.K, weights.data(), shape.K,
                                           w_scale.data(), x_scale.data(), ref.data(), shape.N);
    return ref;
  }

  // The int8 output step that covers the largest |y| a calibration would see.
  float OutputScale(const Shape& shape) const {
    float max_abs = 0;
    for (float v : Reference(shape)) max_abs = std::max(max_abs, std::fabs(v));
    return max_abs / 127.0f;
  }

  // How far XNNPACK's requantized int8 output is from the float result Linear() returns.
  void MeasureXnnpackError(const Shape& shape, float output_scale) {
    std::unique_ptr<edgelm::XnnpackQc8Linear> linear;
    if (!edgelm::XnnpackQc8Linear::Create(View(shape, weights.data()), output_scale, &linear).ok()) return;
    const std::vector<float> ref = Reference(shape);
    std::vector<float> got(ref.size());
    if (!linear->Run(x_q.data(), 128, got.data(), nullptr).ok()) return;
    double max_err = 0, sum_err = 0, sum_abs = 0, max_abs = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      const double e = std::fabs(static_cast<double>(got[i]) - ref[i]);
      max_err = std::max(max_err, e), sum_err += e, sum_abs += std::fabs(ref[i]);
      max_abs = std::max(max_abs, static_cast<double>(std::fabs(ref[i])));
    }
    xnnpack_notes.push_back({{"op", "xnnpack_qc8_conv1x1"}, {"N", shape.N}, {"K", shape.K},
                             {"max_abs_error_over_max_abs_y", max_err / max_abs},
                             {"mean_abs_error_over_mean_abs_y", sum_err / sum_abs}});
    if (!options.json)
      std::printf("  (xnnpack_qc8 N=%zu K=%zu vs edgelm float output: max |err| = %.2e of max|y|, mean |err| = %.2e "
                  "of mean|y|)\n",
                  shape.N, shape.K, max_err / max_abs, sum_err / sum_abs);
  }

  static void PrintHeader() {
    std::printf("%-20s %-11s %4s %7s %6s %3s %9s %9s %9s %8s %8s %5s\n", "kernel", "variant", "M", "N", "K", "thr",
                "ms median", "ms best", "ms cpu", "GOPS", "GB/s", "%BW");
  }
  static void Print(const Result& r) {
    char fraction[16] = "";
    if (r.bandwidth_fraction > 0) std::snprintf(fraction, sizeof(fraction), "%.0f%%", 100 * r.bandwidth_fraction);
    std::printf("%-20s %-11s %4zu %7zu %6zu %3zu %9.3f %9.3f %9.3f %8.1f %8.2f %5s\n", r.kernel.c_str(),
                r.variant.c_str(), r.M, r.N, r.K, r.threads, r.median_seconds * 1e3, r.seconds * 1e3,
                r.cpu_seconds * 1e3, r.gops(), r.gbps(), fraction);
    std::fflush(stdout);
  }

  nlohmann::json Json() const {
    nlohmann::json out;
    out["read_bandwidth_gbps"] = {{"threads_1", read_bandwidth[0] * 1e-9}, {"threads_2", read_bandwidth[1] * 1e-9}};
    out["weight_set_bytes"] = options.weight_set_bytes;
    out["repeat"] = options.repeat;
    out["results"] = nlohmann::json::array();
    for (const Result& r : results) {
      nlohmann::json j = {{"kernel", r.kernel}, {"variant", r.variant}, {"M", r.M}, {"N", r.N}, {"K", r.K},
                          {"threads", r.threads}, {"median_seconds", r.median_seconds}, {"best_seconds", r.seconds},
                          {"cpu_seconds", r.cpu_seconds},
                          {"gops", r.gops()}, {"gbps", r.gbps()}};
      if (r.bandwidth_fraction > 0) j["bandwidth_fraction"] = r.bandwidth_fraction;
      out["results"].push_back(j);
    }
    out["xnnpack"] = xnnpack_notes;
    return out;
  }
};

bool ParseOptions(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--json") o->json = true;
    else if (a == "--quick") o->repeat = 1, o->min_seconds = 0.05;
    else if (a == "--repeat" && has_value) o->repeat = std::max(1, std::atoi(argv[++i]));
    else if (a == "--min-time" && has_value) o->min_seconds = std::atof(argv[++i]);
    else if (a == "--filter" && has_value) o->filter = argv[++i];
    else return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!ParseOptions(argc, argv, &options)) {
    std::fprintf(stderr, "usage: %s [--json] [--repeat N] [--min-time SECONDS] [--filter SUBSTRING] [--quick]\n", argv[0]);
    return 2;
  }
  Bench bench(options);
  bench.MeasureBandwidth();
  if (!options.json) {
    std::printf("read bandwidth (best 4 MB slice of %zu MB): %.1f GB/s with 1 thread, %.1f GB/s with 2\n",
                options.weight_set_bytes >> 20, bench.read_bandwidth[0] * 1e-9, bench.read_bandwidth[1] * 1e-9);
    std::printf("decode (M=1) cycles through %zu MB of weight copies; %%BW = GB/s over that bandwidth\n\n",
                options.weight_set_bytes >> 20);
    Bench::PrintHeader();
  }
  bench.RunKernels();
  bench.RunAttention();
  bench.RunXnnpack();
  bench.RunQuantize();
  if (options.json) std::printf("%s\n", bench.Json().dump(2).c_str());
  return 0;
}
