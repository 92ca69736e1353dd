// edgelm-kernel-bench: speed of every GEMM kernel variant this CPU runs at Gemma 4 E2B shapes, next to
// XNNPACK's fully-connected operators run through edgelm's backend (src/model/xnn_linear.h, forced with
// LinearEngine::kXnnpack) and this machine's read bandwidth, measured the same way (a STREAM-like sum
// over the same 512 MB, in slices the size of a decode matrix). Every integer weight type (int8, int4,
// int2) runs at every E2B integer shape; XNNPACK runs each as a float-output tensor (static int8 input:
// qd8/qdu8 operators) and as an int8-output one (output scale > 0: qs8 operators), and a summary at the
// end gives XNNPACK's GOPS over those of the variant of ours that Linear() selects on this CPU.
// Decode (M = 1) cycles through enough copies of each matrix that the weights come from DRAM, as in a
// real decode step; prefill (M = 128) reuses one copy. Our output channels are split over a pthreadpool
// in tiles of 32, as src/model/linear.cc does; XNNPACK tiles them its own way over the same pool. The
// decode attention kernels (kv-attention) run at E2B's head shapes over f32, int8 and int4 K/V, and the
// activation quantization (qs8_quantize) over rows of E2B's hidden size, and the GELU gating and
// logit soft-capping (f32_gelu_tanh_mul over rows of E2B's MLP width, f32_softcap over its vocabulary).
//
//   edgelm-kernel-bench [--json] [--repeat N] [--min-time SECONDS] [--filter SUBSTRING] [--variant NAME] [--quick]
//
// --filter keeps the kernels whose name contains SUBSTRING; XNNPACK's rows go with our kernel of the
// same weight type (qs8_qc4w) and match their operator's name too ("xnnpack", "qd8_f32_qc4w").
// --variant keeps only that variant's rows ("avx512vnni", "scalar", ..., "avx512vnni-strips" (its GEMM over
// channel strips, kernels/gemm.h, which Linear runs where a variant has one), or "xnnpack").
// GOPS = 2*M*N*K / time; GB/s = weight bytes read per call / time (one pass over the matrix; XNNPACK
// reads its packed copy, whose size each XNNPACK configuration prints next to the source's). Each
// configuration reports the median call time and the best single call; GOPS, GB/s and %BW use the best
// call, which on a shared machine is the one no other process interrupted. "ms cpu" is the process CPU
// time per call (median of the runs): with 1 thread it excludes the time other processes held the core,
// which makes it the fairest number for the compute-bound M = 128 rows on a loaded machine.
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
#include "model/xnn_linear.h"

namespace {

using edgelm::DType;

struct Options {
  bool json = false;
  int repeat = 5;             // timed runs per configuration
  double min_seconds = 0.2;   // per timed run
  std::string filter;         // only kernels whose name contains this
  std::string variant;        // only this variant of ours, or "xnnpack"; empty: all
  size_t weight_set_bytes = size_t{512} << 20;  // decode weights cycled through: >> any L3
};

struct KernelSpec {
  const char* name;
  DType dtype;
  qs8_qcxw_gemm_fn edgelm_kernels::*qs8;  // exactly one of qs8 / f32 is set
  f32_gemm_fn edgelm_kernels::*f32;
  qs8_qcxw_strips_gemm_fn edgelm_kernels::*strips = nullptr;  // qs8's GEMM over channel strips
  int bits = 0;
};

const KernelSpec kKernels[] = {
    {"qs8_qc8w", DType::I8, &edgelm_kernels::qs8_qc8w_gemm, nullptr, &edgelm_kernels::qs8_qc8w_strips_gemm, 8},
    {"qs8_qc4w", DType::I4, &edgelm_kernels::qs8_qc4w_gemm, nullptr, &edgelm_kernels::qs8_qc4w_strips_gemm, 4},
    {"qs8_qc2w", DType::I2, &edgelm_kernels::qs8_qc2w_gemm, nullptr, &edgelm_kernels::qs8_qc2w_strips_gemm, 2},
    {"f32_f32w", DType::F32, nullptr, &edgelm_kernels::f32_f32w_gemm},
    {"f32_bf16w", DType::BF16, nullptr, &edgelm_kernels::f32_bf16w_gemm},
    {"f32_f16w", DType::F16, nullptr, &edgelm_kernels::f32_f16w_gemm},
    {"f32_q4_0w", DType::Q4_0, nullptr, &edgelm_kernels::f32_q4_0w_gemm},
};

struct Shape {
  size_t N, K;
};

// E2B: hidden 1536, attention q 2048, MLP 6144 (12288 where the MLP is double-wide), vocab 262144.
// The recipes put int8, int4 and int2 at each of these (README, "Converting models"), so every integer
// kernel runs at all of them; the float and block kernels at the attention shape.
const std::vector<Shape> kIntegerShapes = {{2048, 1536}, {6144, 1536}, {12288, 1536}, {1536, 12288}, {262144, 1536}};
const std::vector<Shape> kFloatShapes = {{2048, 1536}};

const std::vector<Shape>& ShapesOf(const KernelSpec& spec) { return spec.qs8 ? kIntegerShapes : kFloatShapes; }

// Static int8 activations and per-channel weight scales of a QAT model's magnitudes; with the output
// scale a calibration would choose (max |y| / 127), XNNPACK's qs8 requantization scale
// input * weight / output is well inside the (0, 256) it accepts.
constexpr float kInputScale = 0.05f;
constexpr float kWeightScale = 0.01f;

// What an integer tensor's output is: XNNPACK runs the two with different operators.
enum class OutputKind { kFloat, kInt8 };
const char* OutputKindName(OutputKind kind) { return kind == OutputKind::kFloat ? "f32" : "int8"; }

const size_t kTokenCounts[] = {1, 128};
const size_t kThreadCounts[] = {1, 2};
// XNNPACK's outputs are checked against ours at one row (its GEMV kernels) and at a prime number of
// rows: whole tiles of every GEMM kernel (up to 8 rows each) and a partial one, at a seventh of the
// cost of 128 rows.
const size_t kCheckedTokenCounts[] = {1, 19};
constexpr size_t kBandwidthSliceBytes = size_t{4} << 20;  // like a 2048x1536 int8 matrix
// The scalar reference takes minutes on prefill of the largest matrices; those rows are skipped.
constexpr size_t kScalarPrefillMaxWeights = size_t{16} << 20;

struct Result {
  std::string kernel, variant;
  size_t M, N, K, threads;
  double median_seconds, seconds, cpu_seconds, weight_bytes;  // seconds: the best call
  double bandwidth_fraction = 0;  // decode only: of the measured read bandwidth at this thread count
  double ops = 0;                 // per call; 0 = a GEMM's 2*M*N*K
  // XNNPACK rows: "f32" or "int8", and the bytes of the source matrix (weight_bytes: its packed copy).
  std::string output = "";
  double source_bytes = 0;
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
  std::vector<uint8_t> strips;   // those copies repacked into channel strips, for the *-strips rows
  std::vector<int8_t> x_q;
  std::vector<float> x, x_scale, w_scale, y;
  double read_bandwidth[2] = {0, 0};  // bytes/s with 1 and 2 threads
  Pools pools;
  std::vector<Result> results;
  nlohmann::json xnnpack_notes = nlohmann::json::array();

  // XNNPACK's GOPS over ours, one per shape, for one weight type, output kind, M and thread count.
  struct XnnpackRatios {
    std::string kernel, op, output;  // our kernel of the weight type, XNNPACK's operator, OutputKindName
    size_t M, threads;
    std::vector<double> ratios;
    std::string ours;  // our variant's row name
  };
  std::vector<XnnpackRatios> xnnpack_ratios;

  explicit Bench(const Options& o) : options(o), weights(RandomWeights(o.weight_set_bytes)) {
    const size_t max_m = 128, max_k = 12288, max_n = 262144;
    std::vector<uint8_t> bytes = RandomWeights(max_m * max_k);
    for (uint8_t b : bytes) x_q.push_back(static_cast<int8_t>(b % 255 - 127));
    // x is exactly x_q * kInputScale, so XNNPACK's quantization of x gives back x_q.
    for (size_t i = 0; i < max_m * max_k; ++i) x.push_back(static_cast<float>(x_q[i]) * kInputScale);
    x_scale.assign(max_m, kInputScale);
    for (size_t n = 0; n < max_n; ++n) w_scale.push_back(kWeightScale * (1.0f + 0.1f * static_cast<float>(n % 7)));
    y.resize(max_m * max_n);
  }

  bool Selected(const std::string& kernel) const { return kernel.find(options.filter) != std::string::npos; }
  bool VariantSelected(const std::string& variant) const { return options.variant.empty() || options.variant == variant; }

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
    for (const KernelSpec& spec : kKernels)
      for (const Shape& shape : ShapesOf(spec)) {
        if (Selected(spec.name)) RunOurKernel(spec, shape, variants, count);
        if (spec.qs8 && VariantSelected("xnnpack")) RunXnnpack(spec, shape);
      }
  }

  void RunOurKernel(const KernelSpec& spec, const Shape& shape, const edgelm_kernels* const* variants, size_t count) {
    const size_t matrix_bytes = RowBytesOf(spec.dtype, shape.K) * shape.N;
    for (size_t M : kTokenCounts)
      for (size_t v = 0; v < count; ++v) {
        if (!VariantSelected(variants[v]->name)) continue;
        if (std::string(variants[v]->name) == "scalar" && M > 1 && shape.N * shape.K > kScalarPrefillMaxWeights)
          continue;
        for (size_t t = 0; t < std::size(kThreadCounts); ++t) {
          edgelm::GemmCall c = Gemm(spec, *variants[v], shape, M, y.data());
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
    for (size_t v = 0; v < count; ++v) RunOurStrips(spec, shape, *variants[v]);
  }

  // Row name of a variant's GEMM over channel strips (what Linear runs where the variant has one).
  static std::string StripsVariantName(const edgelm_kernels& variant) { return std::string(variant.name) + "-strips"; }

  // spec's GEMM over the weight copies repacked into strips, as Linear runs it where `variant` has one.
  void RunOurStrips(const KernelSpec& spec, const Shape& shape, const edgelm_kernels& variant) {
    if (!spec.strips || !(variant.*spec.strips) || !VariantSelected(StripsVariantName(variant))) return;
    const size_t row_bytes = RowBytesOf(spec.dtype, shape.K), matrix_bytes = row_bytes * shape.N;
    const size_t strip_bytes = edgelm_qs8_strip_bytes(spec.bits, shape.K);
    const size_t packed_bytes = (shape.N + 15) / 16 * strip_bytes;
    const size_t copies = std::max<size_t>(1, weights.size() / std::max(matrix_bytes, packed_bytes));
    if (strips.size() < copies * packed_bytes) strips.resize(copies * packed_bytes);
    for (size_t c = 0; c < copies; ++c)
      edgelm_qs8_pack_strips(spec.bits, shape.N, shape.K, weights.data() + c * matrix_bytes, row_bytes,
                              strips.data() + c * packed_bytes);
    for (size_t M : kTokenCounts)
      for (size_t t = 0; t < std::size(kThreadCounts); ++t) {
        edgelm::GemmCall c = Gemm(spec, variant, shape, M, y.data());
        c.strips = {strips.data(), strip_bytes, variant.*spec.strips};
        const size_t cycled = M == 1 ? copies : 1;
        const Timing s = SecondsPerCall(options, [&](size_t i) {
          c.strips.data = strips.data() + (i % cycled) * packed_bytes;
          edgelm::RunGemm(c, pools.get(t));
        });
        Record({spec.name, StripsVariantName(variant), M, shape.N, shape.K, kThreadCounts[t], s.median_seconds,
                s.best_seconds, s.cpu_seconds, static_cast<double>(packed_bytes)},
               t);
      }
  }

  // spec's kernel in `variant`: M rows of x times the first weight copy, into `out`.
  edgelm::GemmCall Gemm(const KernelSpec& spec, const edgelm_kernels& variant, const Shape& shape, size_t M,
                        float* out) const {
    return {M, shape.N, shape.K, RowBytesOf(spec.dtype, shape.K), weights.data(), w_scale.data(), x_q.data(),
            x_scale.data(), x.data(), out, spec.qs8 ? variant.*spec.qs8 : nullptr,
            spec.f32 ? variant.*spec.f32 : nullptr, {}, nullptr, nullptr};
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
      if (!Selected(names[format])) continue;
      for (const AttentionShape& shape : shapes) {
        const size_t record_bytes[] = {4 * shape.d, 2 * shape.d, shape.d + 4, shape.d / 2 + shape.d / 8};
        const size_t row_bytes = 2 * record_bytes[format];  // K then V
        const size_t block_bytes = shape.n * row_bytes, copies = std::max<size_t>(1, weights.size() / block_bytes);
        std::vector<float> scores(shape.group * shape.n, 1.0f / static_cast<float>(shape.n)), out(shape.group * shape.d);
        for (size_t v = 0; v < count; ++v) {
          if (!VariantSelected(variants[v]->name)) continue;
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
    if (!Selected("qs8_quantize")) return;
    const edgelm_kernels* variants[16];
    const size_t count = std::min<size_t>(edgelm_kernels_available(variants, 16), 16);
    const size_t K = 1536;
    std::vector<int8_t> codes(kTokenCounts[std::size(kTokenCounts) - 1] * K);
    for (size_t M : kTokenCounts)
      for (size_t v = 0; v < count; ++v) {
        if (!VariantSelected(variants[v]->name)) continue;
        const Timing s = SecondsPerCall(options, [&](size_t) {
          for (size_t m = 0; m < M; ++m) variants[v]->qs8_quantize(K, x.data() + m * K, kInputScale, codes.data() + m * K);
        });
        Result r{"qs8_quantize", variants[v]->name, M, 1, K, 1, s.median_seconds, s.best_seconds, s.cpu_seconds,
                 4.0 * static_cast<double>(M * K)};
        r.ops = static_cast<double>(M * K);
        Record(r, 0);
      }
  }

  // The f32-vtanh kernels from cache-resident rows: GELU gating over M rows of E2B's MLP width, the
  // soft-capping over one row of its vocabulary. Reported as N = 1; GB/s counts the floats read.
  void RunActivations() {
    const edgelm_kernels* variants[16];
    const size_t count = std::min<size_t>(edgelm_kernels_available(variants, 16), 16);
    constexpr size_t kMlpWidth = 6144, kVocab = 262144;
    std::vector<float> out(std::max(kTokenCounts[std::size(kTokenCounts) - 1] * kMlpWidth, kVocab));
    const auto record = [&](const char* name, const edgelm_kernels& k, size_t M, size_t K, size_t inputs,
                            const Timing& s) {
      Result r{name, k.name, M, 1, K, 1, s.median_seconds, s.best_seconds, s.cpu_seconds,
               4.0 * static_cast<double>(inputs * M * K)};
      r.ops = static_cast<double>(M * K);
      Record(r, 0);
    };
    for (size_t v = 0; v < count; ++v) {
      const edgelm_kernels& k = *variants[v];
      if (!VariantSelected(k.name)) continue;
      if (Selected("f32_gelu_tanh_mul")) {
        for (size_t M : kTokenCounts) {
          const size_t n = M * kMlpWidth;
          record("f32_gelu_tanh_mul", k, M, kMlpWidth, 2,
                 SecondsPerCall(options, [&](size_t) { k.gelu_tanh_mul(n, x.data(), x.data() + n, out.data()); }));
        }
      }
      if (Selected("f32_softcap")) {
        // In place, as the model runs it: the values stay in (-30, 30) and the kernel has no branches.
        std::copy(x.begin(), x.begin() + kVocab, out.begin());
        record("f32_softcap", k, 1, kVocab, 1,
               SecondsPerCall(options, [&](size_t) { k.softcap(kVocab, out.data(), 30.0f, 1.0f / 30.0f); }));
      }
    }
  }

  // XNNPACK through edgelm's backend at one integer shape: the weights packed by XnnWeights (every
  // copy decode cycles through), run by XnnOperators from float activations to float outputs as
  // Linear() runs a tensor; once as a float-output tensor and once as an int8-output one.
  void RunXnnpack(const KernelSpec& spec, const Shape& shape) {
    const size_t matrix_bytes = RowBytesOf(spec.dtype, shape.K) * shape.N;
    std::vector<float> reference;  // ours over the first copy, computed on first need
    for (const OutputKind output : {OutputKind::kFloat, OutputKind::kInt8}) {
      // Any output scale XNNPACK accepts gives the operator's name, for the filter, before the
      // reference that calibrates the real one.
      edgelm::TensorView view = View(spec.dtype, shape, output == OutputKind::kInt8 ? kInputScale * kWeightScale : 0);
      if (!Selected(spec.name) && !Selected(edgelm::XnnOperatorName(ChooseXnnpack(view)))) continue;
      if (reference.empty()) reference = Reference(spec, shape);
      // The int8 output step a calibration would choose: the largest |y| maps to 127.
      if (output == OutputKind::kInt8) view.output_scale = static_cast<float>(MaxAbs(reference) / 127);
      const edgelm::XnnOperator op = ChooseXnnpack(view);
      const std::string op_name = edgelm::XnnOperatorName(op);
      if (op == edgelm::XnnOperator::kNone) {
        std::fprintf(stderr, "XNNPACK has no operator for %s with %s output at N=%zu K=%zu on this CPU\n", spec.name,
                     OutputKindName(output), shape.N, shape.K);
        continue;
      }
      std::vector<edgelm::TensorView> views(Copies(1, matrix_bytes), view);
      std::vector<const edgelm::TensorView*> tensors;
      for (size_t i = 0; i < views.size(); ++i) {
        views[i].data = weights.data() + i * matrix_bytes;
        tensors.push_back(&views[i]);
      }
      std::unique_ptr<edgelm::XnnWeights> packed;
      const edgelm::Status status =
          edgelm::XnnWeights::Create(nullptr, tensors, edgelm::LinearEngine::kXnnpack, {}, &packed);
      if (!status.ok() || packed->size() != views.size()) {
        std::fprintf(stderr, "XNNPACK did not pack %s for N=%zu K=%zu; skipping it\n", op_name.c_str(), shape.N,
                     shape.K);
        continue;
      }
      edgelm::XnnOperators operators(packed.get());
      double max_error = 0;
      bool ran = true;
      for (size_t M : kCheckedTokenCounts) {
        ran = ran && operators.Run(views[0], x.data(), static_cast<int>(M), y.data(), nullptr);
        if (ran) max_error = std::max(max_error, MaxAbsDifference(y.data(), reference.data(), M * shape.N));
      }
      if (!ran) {
        std::fprintf(stderr, "XNNPACK failed to run %s for N=%zu K=%zu; skipping it\n", op_name.c_str(), shape.N,
                     shape.K);
        continue;
      }
      const double packed_per_matrix = static_cast<double>(packed->packed_bytes()) / static_cast<double>(views.size());
      NoteXnnpack(spec, shape, op_name, output, packed_per_matrix, max_error / MaxAbs(reference));
      for (size_t M : kTokenCounts)
        for (size_t t = 0; t < std::size(kThreadCounts); ++t) {
          const size_t copies = Copies(M, matrix_bytes);
          const auto run = [&](size_t i) {
            return operators.Run(views[i % copies], x.data(), static_cast<int>(M), y.data(), pools.get(t));
          };
          // Each copy's operator is created, and reshaped for M and the pool, on its first run: untimed.
          bool ok = true;
          for (size_t i = 0; i < copies && ok; ++i) ok = run(i);
          if (!ok) {
            std::fprintf(stderr, "XNNPACK failed to run %s for N=%zu K=%zu; skipping XNNPACK at this shape\n",
                         op_name.c_str(), shape.N, shape.K);
            return;
          }
          const Timing s = SecondsPerCall(options, [&](size_t i) { run(i); });
          Result r{op_name, "xnnpack", M, shape.N, shape.K, kThreadCounts[t], s.median_seconds, s.best_seconds,
                   s.cpu_seconds, packed_per_matrix};
          r.output = OutputKindName(output);
          r.source_bytes = static_cast<double>(matrix_bytes);
          Record(r, t);
          AddXnnpackRatio(spec, r);
        }
    }
  }

  static edgelm::XnnOperator ChooseXnnpack(const edgelm::TensorView& view) {
    return edgelm::ChooseXnnOperator(view, edgelm::LinearEngine::kXnnpack);
  }

  // A static-int8-input tensor of `dtype` over the first weight copy; int8 output when output_scale > 0.
  edgelm::TensorView View(DType dtype, const Shape& shape, float output_scale) const {
    edgelm::TensorView v;
    v.name = "bench";
    v.dtype = dtype;
    v.shape = {static_cast<int64_t>(shape.N), static_cast<int64_t>(shape.K)};
    v.data = weights.data();
    v.size = RowBytesOf(dtype, shape.K) * shape.N;
    v.scales = w_scale.data();
    v.activation = edgelm::ActivationQuant::StaticInt8;
    v.input_scale = kInputScale;
    v.output_scale = output_scale;
    return v;
  }

  // y of the checked rows over the first copy by the variant Linear() selects (float output).
  std::vector<float> Reference(const KernelSpec& spec, const Shape& shape) {
    const size_t M = *std::max_element(std::begin(kCheckedTokenCounts), std::end(kCheckedTokenCounts));
    std::vector<float> reference(M * shape.N);
    edgelm::RunGemm(Gemm(spec, *edgelm_kernels_select(), shape, M, reference.data()),
                    pools.get(std::size(kThreadCounts) - 1));
    return reference;
  }

  static double MaxAbs(const std::vector<float>& v) {
    double m = 0;
    for (float value : v) m = std::max(m, static_cast<double>(std::fabs(value)));
    return m;
  }

  static double MaxAbsDifference(const float* a, const float* b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; ++i) m = std::max(m, std::fabs(static_cast<double>(a[i]) - b[i]));
    return m;
  }

  // The packed size next to the source's, and how far XNNPACK's y is from ours (kCheckedTokenCounts): a
  // float output within float rounding, an int8 output within half an output step (1/254 of max |y|).
  void NoteXnnpack(const KernelSpec& spec, const Shape& shape, const std::string& op, OutputKind output,
                   double packed_bytes, double relative_error) {
    const double source_bytes = static_cast<double>(RowBytesOf(spec.dtype, shape.K) * shape.N);
    xnnpack_notes.push_back({{"op", op}, {"kernel", spec.name}, {"output", OutputKindName(output)},
                             {"N", shape.N}, {"K", shape.K}, {"source_bytes_per_matrix", source_bytes},
                             {"packed_bytes_per_matrix", packed_bytes},
                             {"packed_over_file_bytes", packed_bytes / source_bytes},
                             {"max_abs_error_over_max_abs_y", relative_error}});
    if (!options.json)
      std::printf("  (%s N=%zu K=%zu: packed %.2f MB per matrix for %.2f MB of %s = %.3fx; "
                  "max |y - ours| = %.1e of max |y|)\n",
                  op.c_str(), shape.N, shape.K, packed_bytes * 1e-6, source_bytes * 1e-6,
                  edgelm::DTypeName(spec.dtype), packed_bytes / source_bytes, relative_error);
  }

  // Pairs an XNNPACK row with our selected variant's row at the same weight type, shape, M and threads.
  void AddXnnpackRatio(const KernelSpec& spec, const Result& xnnpack) {
    const edgelm_kernels& selected = *edgelm_kernels_select();
    const std::string ours_variant =
        spec.strips && selected.*spec.strips ? StripsVariantName(selected) : std::string(selected.name);
    const auto ours = std::find_if(results.begin(), results.end(), [&](const Result& r) {
      return r.kernel == spec.name && r.variant == ours_variant && r.M == xnnpack.M && r.N == xnnpack.N &&
             r.K == xnnpack.K && r.threads == xnnpack.threads;
    });
    if (ours == results.end()) return;
    auto entry = std::find_if(xnnpack_ratios.begin(), xnnpack_ratios.end(), [&](const XnnpackRatios& e) {
      return e.kernel == spec.name && e.output == xnnpack.output && e.M == xnnpack.M && e.threads == xnnpack.threads;
    });
    if (entry == xnnpack_ratios.end())
      entry = xnnpack_ratios.insert(xnnpack_ratios.end(),
                                    {spec.name, xnnpack.kernel, xnnpack.output, xnnpack.M, xnnpack.threads, {}, ours_variant});
    entry->ratios.push_back(xnnpack.gops() / ours->gops());
  }

  struct RatioSpread {
    double geomean, min, max;
  };
  static RatioSpread Spread(const std::vector<double>& ratios) {
    double log_sum = 0;
    for (double r : ratios) log_sum += std::log(r);
    return {std::exp(log_sum / static_cast<double>(ratios.size())), *std::min_element(ratios.begin(), ratios.end()),
            *std::max_element(ratios.begin(), ratios.end())};
  }

  void PrintXnnpackSummary() const {
    if (xnnpack_ratios.empty()) return;
    std::printf("\nxnnpack / ours (%s) in GOPS, per weight type, output, M and threads: geometric mean over the "
                "shapes (min-max)\n",
                xnnpack_ratios.front().ours.c_str());
    std::printf("%-9s %-6s %4s %3s %-21s %6s %6s  %s\n", "kernel", "output", "M", "thr", "xnnpack", "shapes", "ratio",
                "(min-max)");
    for (const XnnpackRatios& e : xnnpack_ratios) {
      const RatioSpread s = Spread(e.ratios);
      std::printf("%-9s %-6s %4zu %3zu %-21s %6zu %6.2f  (%.2f-%.2f)\n", e.kernel.c_str(), e.output.c_str(), e.M,
                  e.threads, e.op.c_str(), e.ratios.size(), s.geomean, s.min, s.max);
    }
  }

  static void PrintHeader() {
    std::printf("%-21s %-11s %4s %7s %6s %3s %9s %9s %9s %8s %8s %5s\n", "kernel", "variant", "M", "N", "K", "thr",
                "ms median", "ms best", "ms cpu", "GOPS", "GB/s", "%BW");
  }
  static void Print(const Result& r) {
    char fraction[16] = "";
    if (r.bandwidth_fraction > 0) std::snprintf(fraction, sizeof(fraction), "%.0f%%", 100 * r.bandwidth_fraction);
    std::printf("%-21s %-11s %4zu %7zu %6zu %3zu %9.3f %9.3f %9.3f %8.1f %8.2f %5s\n", r.kernel.c_str(),
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
      if (r.source_bytes > 0) {
        j["output"] = r.output;
        j["packed_bytes"] = r.weight_bytes;
        j["source_bytes"] = r.source_bytes;
      }
      out["results"].push_back(j);
    }
    out["xnnpack"] = xnnpack_notes;
    out["xnnpack_summary"] = nlohmann::json::array();
    for (const XnnpackRatios& e : xnnpack_ratios) {
      const RatioSpread s = Spread(e.ratios);
      out["xnnpack_summary"].push_back({{"kernel", e.kernel}, {"output", e.output}, {"op", e.op}, {"M", e.M},
                                        {"threads", e.threads}, {"ours_variant", e.ours},
                                        {"shapes", e.ratios.size()}, {"gops_ratio_geomean", s.geomean},
                                        {"gops_ratio_min", s.min}, {"gops_ratio_max", s.max}});
    }
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
    else if (a == "--variant" && has_value) o->variant = argv[++i];
    else return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!ParseOptions(argc, argv, &options)) {
    std::fprintf(stderr, "usage: %s [--json] [--repeat N] [--min-time SECONDS] [--filter SUBSTRING] [--variant NAME] [--quick]\n", argv[0]);
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
  bench.RunQuantize();
  bench.RunActivations();
  if (options.json) std::printf("%s\n", bench.Json().dump(2).c_str());
  else bench.PrintXnnpackSummary();
  return 0;
}
