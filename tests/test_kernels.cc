// The scalar references against independent double-precision computations (integer GEMMs from
// dequantized weights, kv-attention from decoded records), then every kernel variant this CPU runs (plus,
// where SIMDe is installed, the AVX-512 sources built with portable intrinsics) against the scalar
// references: integer and kv-attention kernels bit for bit, float GEMM kernels within 1e-5 of
// sum_k |x_k * w_k| (only the summation order may differ). On a CPU with no SIMD variant the
// comparisons report "SKIPPED:" (ctest counts them as skipped, see tests/CMakeLists.txt).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "dispatch.h"
#include "format/tensor.h"
#include "simd/scratch.h"

#ifdef EDGELM_HAVE_AVX512VNNI_SIMDE
extern "C" {
EDGELM_DECLARE_QS8_QCXW_GEMM(avx512vnni_simde)
EDGELM_DECLARE_QS8_QCXW_STRIPS_GEMM(avx512vnni_simde)
EDGELM_DECLARE_KV_ATTENTION(avx512f_simde)
}
#endif

namespace edgelm {
namespace {

// Every variant under test; the first is the scalar reference.
std::vector<edgelm_kernels> Variants() {
  const edgelm_kernels* all[16];
  const size_t n = edgelm_kernels_available(all, 16);
  std::vector<edgelm_kernels> out;
  for (size_t i = 0; i < n && i < 16; ++i) out.push_back(*all[i]);
#ifdef EDGELM_HAVE_AVX512VNNI_SIMDE
  // Built with the AVX2 flags (SIMDe implements AVX-512 with AVX2): only where AVX2 runs.
  if (!edgelm_kernels_find("avx2")) return out;
  edgelm_kernels emulated = out.front();
  emulated.name = "avx512vnni (SIMDe)";
  emulated.qs8_qc8w_gemm = edgelm_qs8_qc8w_gemm_avx512vnni_simde;
  emulated.qs8_qc4w_gemm = edgelm_qs8_qc4w_gemm_avx512vnni_simde;
  emulated.qs8_qc2w_gemm = edgelm_qs8_qc2w_gemm_avx512vnni_simde;
  emulated.qs8_qc8w_strips_gemm = edgelm_qs8_qc8w_strips_gemm_avx512vnni_simde;
  emulated.qs8_qc4w_strips_gemm = edgelm_qs8_qc4w_strips_gemm_avx512vnni_simde;
  emulated.qs8_qc2w_strips_gemm = edgelm_qs8_qc2w_strips_gemm_avx512vnni_simde;
  const f32_kv_scores_fn scores[] = {edgelm_f32_kvf32_scores_avx512f_simde, edgelm_f32_kvbf16_scores_avx512f_simde,
                                     edgelm_f32_kvi8_scores_avx512f_simde, edgelm_f32_kvi4_scores_avx512f_simde};
  const f32_kv_accumulate_fn accumulate[] = {
      edgelm_f32_kvf32_accumulate_avx512f_simde, edgelm_f32_kvbf16_accumulate_avx512f_simde,
      edgelm_f32_kvi8_accumulate_avx512f_simde, edgelm_f32_kvi4_accumulate_avx512f_simde};
  std::copy(std::begin(scores), std::end(scores), emulated.kv_scores);
  std::copy(std::begin(accumulate), std::end(accumulate), emulated.kv_accumulate);
  out.push_back(emulated);
#endif
  return out;
}

// True if `variants` holds something to compare with the scalar reference; otherwise says SKIPPED
// (which ctest reports as a skipped test) so that a pass with no assertions cannot look like coverage.
bool HasSimdVariants(const std::vector<edgelm_kernels>& variants) {
  if (variants.size() > 1) return true;
  WARN("SKIPPED: this CPU runs only the scalar kernels; there is no SIMD variant to compare");
  return false;
}

struct IntKernel {
  const char* name;
  qs8_qcxw_gemm_fn edgelm_kernels::*fn;
  DType dtype;
  int bits;
  qs8_qcxw_strips_gemm_fn edgelm_kernels::*strips_fn;  // the same GEMM over channel strips
  qs8_qcxw_strips_gemm_fn strips_reference;
};
const IntKernel kIntKernels[] = {
    {"qs8_qc8w", &edgelm_kernels::qs8_qc8w_gemm, DType::I8, 8, &edgelm_kernels::qs8_qc8w_strips_gemm, edgelm_qs8_qc8w_strips_gemm_scalar},
    {"qs8_qc4w", &edgelm_kernels::qs8_qc4w_gemm, DType::I4, 4, &edgelm_kernels::qs8_qc4w_strips_gemm, edgelm_qs8_qc4w_strips_gemm_scalar},
    {"qs8_qc2w", &edgelm_kernels::qs8_qc2w_gemm, DType::I2, 2, &edgelm_kernels::qs8_qc2w_strips_gemm, edgelm_qs8_qc2w_strips_gemm_scalar}};

struct FloatKernel {
  const char* name;
  f32_gemm_fn edgelm_kernels::*fn;
  DType dtype;
};
const FloatKernel kFloatKernels[] = {{"f32_f32w", &edgelm_kernels::f32_f32w_gemm, DType::F32},
                                     {"f32_bf16w", &edgelm_kernels::f32_bf16w_gemm, DType::BF16},
                                     {"f32_f16w", &edgelm_kernels::f32_f16w_gemm, DType::F16},
                                     {"f32_q4_0w", &edgelm_kernels::f32_q4_0w_gemm, DType::Q4_0},
                                     {"f32_q8_0w", &edgelm_kernels::f32_q8_0w_gemm, DType::Q8_0},
                                     {"f32_q6_kw", &edgelm_kernels::f32_q6_kw_gemm, DType::Q6_K}};

size_t RowBytesOf(DType dtype, size_t K) {
  uint64_t bytes = 0;
  REQUIRE(RowBytes(dtype, static_cast<int64_t>(K), &bytes).ok());
  return bytes;
}

// How the generator fills activations and weight codes: uniformly random, or one constant code
// everywhere (padding bits of a row's last byte stay random either way).
struct Fill {
  bool random = true;
  int x = 0;     // activation value when !random
  int code = 0;  // weight code when !random, in the dtype's two's-complement range
};

// The most negative activation the kernels take with these codes (gemm.h).
int LowestActivation(int bits) { return bits == 8 ? -127 : -128; }

// One GEMM problem with data in the kernels' input layout; x rows carry 5 bytes (or floats) of slack
// so that x_stride != K is covered too.
struct Problem {
  size_t M, N, K, x_stride, row_bytes;
  std::vector<int8_t> x_q;
  std::vector<float> x, x_scale, w_scale;
  std::vector<uint8_t> w;
};

void FillRandomBytes(std::vector<uint8_t>* bytes, std::mt19937& rng) {
  for (size_t i = 0; i < bytes->size(); i += 4) {
    const uint32_t r = rng();
    std::memcpy(bytes->data() + i, &r, bytes->size() - i < 4 ? bytes->size() - i : 4);
  }
}

// A random bf16 or f16 with magnitude in [2^-7, 1): random sign and mantissa bits, bounded exponent.
uint16_t RandomHalfBits(DType dtype, uint32_t r) {
  const uint32_t exponent = (r >> 16) % 7;
  return dtype == DType::BF16 ? static_cast<uint16_t>((r & 0x807f) | (120 + exponent) << 7)
                              : static_cast<uint16_t>((r & 0x83ff) | (8 + exponent) << 10);
}

// Where a block dtype keeps its f16 scale d; size 0 for other dtypes.
struct BlockScale {
  size_t size = 0, bytes = 0, d_offset = 0;
};
BlockScale BlockScaleOf(DType dtype) {
  switch (dtype) {
    case DType::Q4_0: return {kQ4_0BlockSize, kQ4_0BlockBytes, 0};
    case DType::Q8_0: return {kQ8_0BlockSize, kQ8_0BlockBytes, 0};
    case DType::Q6_K: return {kQ6_KBlockSize, kQ6_KBlockBytes, kQ6_KBlockBytes - 2};  // d comes last
    default: return {};
  }
}

Problem MakeProblem(DType dtype, int bits, size_t M, size_t N, size_t K, std::mt19937& rng, const Fill& fill = {}) {
  Problem p{M, N, K, K + 5, RowBytesOf(dtype, K), {}, {}, {}, {}, {}};
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f), scale(0.001f, 0.1f);
  p.w.resize(N * p.row_bytes);
  FillRandomBytes(&p.w, rng);
  if (bits > 0) {
    std::vector<uint8_t> x_bytes(M * p.x_stride);
    FillRandomBytes(&x_bytes, rng);
    // I8 codes take activations in [-127, 127], sub-byte codes every int8 (gemm.h).
    for (uint8_t b : x_bytes) p.x_q.push_back(static_cast<int8_t>(!fill.random ? fill.x : bits == 8 ? b % 255 - 127 : b - 128));
    for (size_t m = 0; m < M; ++m) p.x_scale.push_back(scale(rng));
    for (size_t n = 0; n < N; ++n) p.w_scale.push_back(scale(rng));
    if (!fill.random) {
      const unsigned mask = (1u << bits) - 1, code = static_cast<unsigned>(fill.code) & mask;
      for (size_t n = 0; n < N; ++n)
        for (size_t k = 0; k < K; ++k) {
          uint8_t& b = p.w[n * p.row_bytes + k * bits / 8];
          const unsigned shift = k * bits % 8;
          b = static_cast<uint8_t>((b & ~(mask << shift)) | (code << shift));
        }
    }
    return p;
  }
  p.x.resize(M * p.x_stride);
  for (float& v : p.x) v = unit(rng);
  for (size_t n = 0; n < N; ++n) {
    uint8_t* row = p.w.data() + n * p.row_bytes;
    for (size_t i = 0; i < K; ++i) {
      if (dtype == DType::F32) {
        const float v = unit(rng);
        std::memcpy(row + 4 * i, &v, 4);
      } else if (const BlockScale block = BlockScaleOf(dtype); block.size > 0) {
        if (i % block.size) continue;  // random bytes stay as the codes; d gets a sane value
        const uint16_t d = RandomHalfBits(DType::F16, rng());
        std::memcpy(row + i / block.size * block.bytes + block.d_offset, &d, 2);
      } else {
        const uint16_t half = RandomHalfBits(dtype, rng());
        std::memcpy(row + 2 * i, &half, 2);
      }
    }
  }
  return p;
}

std::vector<float> Run(qs8_qcxw_gemm_fn fn, const Problem& p) {
  std::vector<float> y(p.M * p.N, NAN);
  fn(p.M, p.N, p.K, p.x_q.data(), p.x_stride, p.w.data(), p.row_bytes, p.w_scale.data(), p.x_scale.data(), y.data(), p.N);
  return y;
}

std::vector<float> Run(f32_gemm_fn fn, const Problem& p) {
  std::vector<float> y(p.M * p.N, NAN);
  fn(p.M, p.N, p.K, p.x.data(), p.x_stride, p.w.data(), p.row_bytes, y.data(), p.N);
  return y;
}

// Checks every non-scalar variant's `kernel` on `p` against the scalar one.
void CheckIntVariants(const IntKernel& kernel, const Problem& p, const std::vector<edgelm_kernels>& variants) {
  const std::vector<float> want = Run(variants.front().*kernel.fn, p);
  for (size_t v = 1; v < variants.size(); ++v) {
    const std::vector<float> got = Run(variants[v].*kernel.fn, p);
    for (size_t i = 0; i < got.size(); ++i) {
      if (got[i] == want[i]) continue;
      FAIL_CHECK(variants[v].name << " " << kernel.name << " M=" << p.M << " N=" << p.N << " K=" << p.K << " at ["
                                  << i / p.N << "][" << i % p.N << "]: " << got[i] << " != " << want[i]);
      break;
    }
  }
}

std::vector<uint8_t> PackStrips(const IntKernel& kernel, const Problem& p) {
  // Poisoned first: packing must write every byte of every strip.
  std::vector<uint8_t> strips((p.N + 15) / 16 * edgelm_qs8_strip_bytes(kernel.bits, p.K), 0xa5);
  edgelm_qs8_pack_strips(kernel.bits, p.N, p.K, p.w.data(), p.row_bytes, strips.data());
  return strips;
}

std::vector<float> RunStrips(qs8_qcxw_strips_gemm_fn fn, const Problem& p, const std::vector<uint8_t>& strips) {
  std::vector<float> y(p.M * p.N, NAN);
  fn(p.M, p.N, p.K, p.x_q.data(), p.x_stride, strips.data(), p.w_scale.data(), p.x_scale.data(), y.data(), p.N);
  return y;
}

// Packs p's weights into strips and checks the scalar strips reference and every variant's strips
// GEMM against the row-major scalar reference, and again over the strips from channel 16 on (a
// thread's share of the channels). Returns how many variants had a strips GEMM.
size_t CheckStripVariants(const IntKernel& kernel, const Problem& p, const std::vector<edgelm_kernels>& variants) {
  const std::vector<float> want = Run(variants.front().*kernel.fn, p);
  const std::vector<uint8_t> strips = PackStrips(kernel, p);
  std::vector<std::pair<std::string, qs8_qcxw_strips_gemm_fn>> fns{{"scalar strips", kernel.strips_reference}};
  for (const edgelm_kernels& v : variants)
    if (v.*kernel.strips_fn) fns.emplace_back(std::string(v.name) + " strips", v.*kernel.strips_fn);
  for (const auto& [name, fn] : fns) {
    const std::vector<float> got = RunStrips(fn, p, strips);
    for (size_t i = 0; i < got.size(); ++i) {
      if (got[i] == want[i]) continue;
      FAIL_CHECK(name << " " << kernel.name << " M=" << p.M << " N=" << p.N << " K=" << p.K << " at [" << i / p.N
                      << "][" << i % p.N << "]: " << got[i] << " != " << want[i]);
      break;
    }
    if (p.N <= 16) continue;
    std::vector<float> part(p.M * (p.N - 16), NAN);
    fn(p.M, p.N - 16, p.K, p.x_q.data(), p.x_stride, strips.data() + edgelm_qs8_strip_bytes(kernel.bits, p.K),
       p.w_scale.data() + 16, p.x_scale.data(), part.data(), p.N - 16);
    for (size_t m = 0; m < p.M; ++m)
      for (size_t n = 16; n < p.N; ++n)
        if (part[m * (p.N - 16) + n - 16] != want[m * p.N + n]) {
          FAIL_CHECK(name << " " << kernel.name << " from channel 16, M=" << p.M << " N=" << p.N << " K=" << p.K
                          << " at [" << m << "][" << n << "]");
          m = p.M;
          break;
        }
  }
  return fns.size() - 1;
}

// |y - y_ref| <= 1e-5 * sum_k |w_k| (activations lie in [-1, 1]): relative to the magnitude of the
// terms, which a reordered float sum can be off by, rather than to a result that may cancel to ~0.
void CheckFloatVariants(const FloatKernel& kernel, const Problem& p, const std::vector<edgelm_kernels>& variants) {
  const std::vector<float> want = Run(variants.front().*kernel.fn, p);
  TensorView view;
  view.dtype = kernel.dtype;
  view.shape = std::vector<int64_t>{static_cast<int64_t>(p.N), static_cast<int64_t>(p.K)};  // a move: GCC 12 -Wnonnull misfires on copy-assigning the list
  view.data = p.w.data();
  std::vector<float> bound(p.N), row(p.K);
  for (size_t n = 0; n < p.N; ++n) {
    DequantizeRow(view, static_cast<int64_t>(n), row.data());
    double magnitude = 0;
    for (float w : row) magnitude += std::fabs(w);
    bound[n] = static_cast<float>(1e-5 * magnitude);
  }
  for (size_t v = 1; v < variants.size(); ++v) {
    const std::vector<float> got = Run(variants[v].*kernel.fn, p);
    for (size_t i = 0; i < got.size(); ++i) {
      if (std::fabs(got[i] - want[i]) <= bound[i % p.N]) continue;
      FAIL_CHECK(variants[v].name << " " << kernel.name << " M=" << p.M << " N=" << p.N << " K=" << p.K << " at ["
                                  << i / p.N << "][" << i % p.N << "]: " << got[i] << " vs " << want[i]
                                  << " (bound " << bound[i % p.N] << ")");
      break;
    }
  }
}

const size_t kRaggedM[] = {1, 2, 3, 5, 7, 16, 33, 39};  // >= 32: AVX-512 lane strips
const size_t kRaggedN[] = {1, 3, 17, 63, 64, 65};
// Around every vector width (8 floats; 32..256 codes per chunk) plus K % 4 != 0 for packed rows.
const size_t kRaggedK[] = {1, 3, 4, 5, 28, 31, 32, 33, 36, 64, 100, 127, 129, 256, 257, 1000, 1001};
// Block dtypes: whole blocks only (one, several, and more than the AVX2 prefetch distance).
std::vector<size_t> BlockK(DType dtype) {
  if (dtype == DType::Q6_K) return {256, 512, 768, 1536, 2560};
  return {32, 64, 96, 256, 1024};
}

TEST_CASE("variants: the scalar reference comes first, then what this CPU runs") {
  const std::vector<edgelm_kernels> variants = Variants();
  REQUIRE(std::string(variants.front().name) == "scalar");
  std::string names;
  for (const edgelm_kernels& v : variants) names += std::string(" ") + v.name;
  WARN("kernel variants under test:" << names);
  for (const edgelm_kernels& v : variants) {
    for (const IntKernel& k : kIntKernels) CHECK(v.*k.fn != nullptr);
    for (const FloatKernel& k : kFloatKernels) CHECK(v.*k.fn != nullptr);
    for (int f = 0; f < EDGELM_KV_FORMAT_COUNT; ++f) CHECK((v.kv_scores[f] != nullptr && v.kv_accumulate[f] != nullptr));
    CHECK(v.qs8_quantize != nullptr);
  }
}

TEST_CASE("qs8_quantize: the scalar reference rounds x / scale half to even and clamps to +-127") {
  const float x[] = {0.0f, -0.0f, 0.5f, 1.5f, 2.5f, -2.5f, 0.49999997f, 126.5f, 127.5f, -127.5f, 1e30f,
                     -1e30f, INFINITY, -INFINITY, NAN, 1e-40f};
  const int8_t want[] = {0, 0, 0, 2, 2, -2, 0, 126, 127, -127, 127, -127, 127, -127, -127, 0};
  int8_t got[sizeof x / sizeof x[0]];
  edgelm_qs8_quantize_scalar(sizeof x / sizeof x[0], x, 1.0f, got);
  for (size_t i = 0; i < sizeof x / sizeof x[0]; ++i) CHECK(int{got[i]} == int{want[i]});
  // Division, not multiplication by 1 / scale: 0.3 / 0.1 rounds to 3, 0.3 * (1 / 0.1f) may not.
  const float tenths[] = {0.3f, 0.7f, -0.9f};
  int8_t q[3];
  edgelm_qs8_quantize_scalar(3, tenths, 0.1f, q);
  for (int i = 0; i < 3; ++i) CHECK(int{q[i]} == static_cast<int>(std::nearbyint(tenths[i] / 0.1f)));
}

// --- the scalar integer GEMMs against an independent reference -----------------------------------
// XNNPACK's GemmMicrokernelTester idea: weights unpacked by DequantizeRow (the format's own decoder,
// not the kernels'), then a plain double-precision dot product, y_ref = x_scale[m] * sum_k x[m][k] *
// w_deq[n][k]. The scalar kernels sum int32 exactly and round only in the two final float products
// (and DequantizeRow rounds code * w_scale to float), so the bound is tight: 1e-6 of the magnitude
// x_scale[m] * sum_k |x[m][k] * w_deq[n][k]|, ten times the worst case of those roundings. A wrong
// code, sign, stride or K tail changes a result by at least x_scale * w_scale, far above it for the
// shapes here.
void CheckIntAgainstDouble(const IntKernel& kernel, const Problem& p, qs8_qcxw_gemm_fn fn) {
  const std::vector<float> got = Run(fn, p);
  TensorView view;
  view.dtype = kernel.dtype;
  view.shape = std::vector<int64_t>{static_cast<int64_t>(p.N), static_cast<int64_t>(p.K)};
  view.data = p.w.data();
  view.size = p.w.size();
  view.scales = p.w_scale.data();
  std::vector<float> row(p.K);
  for (size_t n = 0; n < p.N; ++n) {
    DequantizeRow(view, static_cast<int64_t>(n), row.data());
    for (size_t m = 0; m < p.M; ++m) {
      double dot = 0, magnitude = 0;
      for (size_t k = 0; k < p.K; ++k) {
        const double product = static_cast<double>(p.x_q[m * p.x_stride + k]) * row[k];
        dot += product;
        magnitude += std::fabs(product);
      }
      const double want = p.x_scale[m] * dot, bound = 1e-6 * p.x_scale[m] * magnitude;
      const double y = got[m * p.N + n];
      if (std::fabs(y - want) <= bound) continue;
      FAIL_CHECK(kernel.name << "_scalar M=" << p.M << " N=" << p.N << " K=" << p.K << " at [" << m << "][" << n
                             << "]: " << y << ", want " << want << " (bound " << bound << ")");
      return;
    }
  }
}

TEST_CASE("integer scalar kernels match a double-precision reference from dequantized weights") {
  const edgelm_kernels scalar = Variants().front();
  std::mt19937 rng(7);
  for (const IntKernel& k : kIntKernels) {
    // Every ragged edge once with a small K range, then random shapes.
    for (size_t M : {size_t{1}, size_t{2}, size_t{5}})
      for (size_t N : kRaggedN)
        for (size_t K : kRaggedK) CheckIntAgainstDouble(k, MakeProblem(k.dtype, k.bits, M, N, K, rng), scalar.*k.fn);
    std::uniform_int_distribution<size_t> m_dist(1, 20), n_dist(1, 80), k_dist(1, 1100);
    for (int i = 0; i < 60; ++i) {
      const size_t M = m_dist(rng), N = n_dist(rng), K = k_dist(rng);
      CheckIntAgainstDouble(k, MakeProblem(k.dtype, k.bits, M, N, K, rng), scalar.*k.fn);
    }
    // Extreme codes and activations: the most negative code, and the largest sums K allows here.
    const int lowest = -(1 << (k.bits - 1)), highest = (1 << (k.bits - 1)) - 1;
    for (int x : {LowestActivation(k.bits), 127})
      for (int code : {lowest, highest}) {
        INFO("x=" << x << " code=" << code);
        CheckIntAgainstDouble(k, MakeProblem(k.dtype, k.bits, 3, 5, 12288, rng, Fill{false, x, code}), scalar.*k.fn);
      }
  }
}

// The float scalar references decode block weights themselves (kernels/ is a leaf); the format's
// DequantizeRow is the independent decoder. Products of decoded weights and activations in [-1, 1],
// summed in double: the kernel's float sum may differ by rounding only (1e-5 of the magnitude), while
// one wrong code or scale moves a result by far more.
TEST_CASE("float scalar kernels match a double-precision reference from DequantizeRow") {
  const edgelm_kernels scalar = Variants().front();
  std::mt19937 rng(9);
  for (const FloatKernel& k : kFloatKernels) {
    const std::vector<size_t> ks = BlockScaleOf(k.dtype).size > 0 ? BlockK(k.dtype) : std::vector<size_t>{1, 33, 257};
    for (size_t K : ks) {
      const Problem p = MakeProblem(k.dtype, 0, 3, 17, K, rng);
      const std::vector<float> got = Run(scalar.*k.fn, p);
      TensorView view;
      view.dtype = k.dtype;
      view.shape = std::vector<int64_t>{static_cast<int64_t>(p.N), static_cast<int64_t>(p.K)};
      view.data = p.w.data();
      std::vector<float> row(p.K);
      for (size_t n = 0; n < p.N; ++n) {
        DequantizeRow(view, static_cast<int64_t>(n), row.data());
        for (size_t m = 0; m < p.M; ++m) {
          double want = 0, magnitude = 0;
          for (size_t i = 0; i < p.K; ++i) {
            want += static_cast<double>(p.x[m * p.x_stride + i]) * row[i];
            magnitude += std::fabs(static_cast<double>(p.x[m * p.x_stride + i]) * row[i]);
          }
          if (std::fabs(got[m * p.N + n] - want) <= 1e-5 * magnitude) continue;
          FAIL_CHECK(k.name << "_scalar K=" << K << " at [" << m << "][" << n << "]: " << got[m * p.N + n] << ", want "
                            << want);
        }
      }
    }
  }
}

// --- out of memory ----------------------------------------------------------------------------------

// Restores the scratch limit however the test ends.
struct ScratchLimit {
  explicit ScratchLimit(size_t bytes) { edgelm_scratch_set_limit_for_testing(bytes); }
  ~ScratchLimit() { edgelm_scratch_set_limit_for_testing(SIZE_MAX); }
};

TEST_CASE("a kernel that cannot get scratch memory writes zeros and raises the scratch-failure flag") {
  const std::vector<edgelm_kernels> variants = Variants();
  std::mt19937 rng(8);
  edgelm_kernels_take_scratch_failure();  // clear anything earlier tests left
  REQUIRE(edgelm_kernels_take_scratch_failure() == 0);

  SECTION("edgelm_scratch itself") {
    {
      const ScratchLimit limit(4096);
      CHECK(edgelm_scratch(4096) != nullptr);
      CHECK(edgelm_kernels_take_scratch_failure() == 0);
      CHECK(edgelm_scratch(4097) == nullptr);
      CHECK(edgelm_kernels_take_scratch_failure() == 1);
      CHECK(edgelm_kernels_take_scratch_failure() == 0);  // taking it cleared it
    }
    void* p = edgelm_scratch(1 << 20);
    REQUIRE(p != nullptr);
    CHECK(reinterpret_cast<uintptr_t>(p) % 64 == 0);
    CHECK(edgelm_scratch(SIZE_MAX) == nullptr);  // too large to round up: fails without the test limit
    CHECK(edgelm_kernels_take_scratch_failure() == 1);
    CHECK(edgelm_scratch(1 << 20) == p);  // the thread's buffer survived the failure
  }

  SECTION("every integer and float GEMM variant that uses scratch") {
    // The scalar references, the x86 integer kernels and the NEON sub-byte kernels (activations in lane
    // order) use scratch. Each kernel either fails cleanly (zeros, flag) or computes the result.
    size_t failed = 0;
    for (const edgelm_kernels& v : variants) {
      for (const IntKernel& k : kIntKernels) {
        const Problem p = MakeProblem(k.dtype, k.bits, 5, 17, 300, rng);
        const std::vector<float> want = Run(variants.front().*k.fn, p);
        std::vector<float> got;
        {
          const ScratchLimit limit(0);
          got = Run(v.*k.fn, p);
        }
        INFO(v.name << " " << k.name);
        if (edgelm_kernels_take_scratch_failure()) {
          ++failed;
          CHECK(got == std::vector<float>(got.size(), 0.0f));
        } else {
          CHECK(got == want);
        }
      }
      for (const FloatKernel& k : kFloatKernels) {
        const Problem p = MakeProblem(k.dtype, 0, 3, 9, 256, rng);
        std::vector<float> got;
        {
          const ScratchLimit limit(0);
          got = Run(v.*k.fn, p);
        }
        INFO(v.name << " " << k.name);
        if (edgelm_kernels_take_scratch_failure()) {
          ++failed;
          CHECK(got == std::vector<float>(got.size(), 0.0f));
        } else {
          CHECK(std::isfinite(got.front()));
        }
      }
    }
    // At least the scalar references (three integer, six float) depend on scratch.
    CHECK(failed >= 9);
    // With the limit gone, the same kernels work again and nothing is reported.
    for (const edgelm_kernels& v : variants) {
      const Problem p = MakeProblem(DType::I8, 8, 2, 3, 64, rng);
      CHECK(Run(v.qs8_qc8w_gemm, p) == Run(variants.front().qs8_qc8w_gemm, p));
    }
    CHECK(edgelm_kernels_take_scratch_failure() == 0);
  }
}

TEST_CASE("kernel selection prints nothing and reports an EDGELM_KERNELS it could not honour") {
  const edgelm_kernels* selected = edgelm_kernels_select();
  REQUIRE(selected != nullptr);
  const char* forced = std::getenv("EDGELM_KERNELS");
  const char* warning = edgelm_kernels_selection_warning();
  if (forced == nullptr || *forced == '\0') {
    CHECK(warning == nullptr);
  } else if (const edgelm_kernels* k = edgelm_kernels_find(forced)) {
    CHECK(warning == nullptr);
    CHECK(selected == k);
  } else {
    REQUIRE(warning != nullptr);
    CHECK(std::string(warning).find(forced) != std::string::npos);
    CHECK(std::string(warning).find(selected->name) != std::string::npos);
  }
}

TEST_CASE("qs8_quantize variants equal the scalar reference bit for bit") {
  const std::vector<edgelm_kernels> variants = Variants();
  if (!HasSimdVariants(variants)) return;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> value(-200.0f, 200.0f);
  const float specials[] = {NAN, INFINITY, -INFINITY, 0.5f, -0.5f, 1.5f, 126.5f, -127.5f, 1e-40f, -0.0f};
  for (size_t K : kRaggedK) {
    std::vector<float> x(K);
    for (float& v : x) v = value(rng);
    // Exact halves (ties), specials and out-of-range values at random positions.
    for (size_t i = 0; i < K; i += 3) x[i] = std::round(x[i]) + 0.5f;
    for (size_t i = 0; i < K; i += 7) x[i] = specials[(i / 7) % (sizeof specials / sizeof specials[0])];
    for (const float scale : {1.0f, 0.0314961f, 3.7f}) {
      std::vector<int8_t> want(K), got(K);
      variants.front().qs8_quantize(K, x.data(), scale, want.data());
      for (size_t v = 1; v < variants.size(); ++v) {
        variants[v].qs8_quantize(K, x.data(), scale, got.data());
        for (size_t i = 0; i < K; ++i) {
          if (got[i] == want[i]) continue;
          FAIL_CHECK(variants[v].name << " qs8_quantize K=" << K << " scale=" << scale << " at " << i << " (x = "
                                      << x[i] << "): " << int{got[i]} << " != " << int{want[i]});
          break;
        }
      }
    }
  }
}

TEST_CASE("integer kernels equal the scalar reference bit for bit on ragged shapes") {
  const std::vector<edgelm_kernels> variants = Variants();
  if (!HasSimdVariants(variants)) return;
  std::mt19937 rng(1);
  for (const IntKernel& k : kIntKernels)
    for (size_t M : kRaggedM)
      for (size_t N : kRaggedN)
        for (size_t K : kRaggedK) CheckIntVariants(k, MakeProblem(k.dtype, k.bits, M, N, K, rng), variants);
}

TEST_CASE("integer kernels equal the scalar reference at extreme codes") {
  const std::vector<edgelm_kernels> variants = Variants();
  if (!HasSimdVariants(variants)) return;
  std::mt19937 rng(2);
  for (const IntKernel& k : kIntKernels) {
    const int lowest = -(1 << (k.bits - 1)), highest = (1 << (k.bits - 1)) - 1;
    for (int x : {LowestActivation(k.bits), 127})
      for (int code : {lowest, highest, k.bits == 8 ? -127 : lowest + 1, 0})
        for (size_t K : {size_t{1000}, size_t{12288}})
          for (size_t M : {size_t{3}, size_t{13}, size_t{33}}) {  // NEON SDOT: in-loop decode, decoded panels; AVX-512: lane strips
            INFO("x=" << x << " code=" << code << " M=" << M);
            CheckIntVariants(k, MakeProblem(k.dtype, k.bits, M, 5, K, rng, Fill{false, x, code}), variants);
          }
  }
}

TEST_CASE("strips: packing and every strips GEMM equal the row-major scalar reference bit for bit") {
  const std::vector<edgelm_kernels> variants = Variants();
  std::mt19937 rng(12);
  size_t simd = 0;
  for (const IntKernel& k : kIntKernels) {
    for (size_t M : kRaggedM)
      for (size_t N : {size_t{1}, size_t{16}, size_t{17}, size_t{33}, size_t{65}})
        for (size_t K : kRaggedK) simd += CheckStripVariants(k, MakeProblem(k.dtype, k.bits, M, N, K, rng), variants);
    const int lowest = -(1 << (k.bits - 1)), highest = (1 << (k.bits - 1)) - 1;
    for (int x : {LowestActivation(k.bits), 127})
      for (int code : {lowest, highest, 0})
        for (size_t M : {size_t{1}, size_t{9}})
          for (size_t K : {size_t{12288}, size_t{70001}}) {  // 70001: past the GEMV's int32 fold of 4096 blocks for every type
            INFO("x=" << x << " code=" << code << " K=" << K);
            simd += CheckStripVariants(k, MakeProblem(k.dtype, k.bits, M, 21, K, rng, Fill{false, x, code}), variants);
          }
  }
  if (simd == 0) WARN("no variant on this CPU has strips GEMMs: only the scalar strips reference was checked");
}

TEST_CASE("code sums: each channel's sum of its decoded codes, whatever a row's padding bits hold") {
  std::mt19937 rng(13);
  for (const IntKernel& k : kIntKernels) {
    std::vector<Problem> problems;
    for (size_t K : kRaggedK) problems.push_back(MakeProblem(k.dtype, k.bits, 1, 9, K, rng));
    const int lowest = -(1 << (k.bits - 1)), highest = (1 << (k.bits - 1)) - 1;
    for (int code : {lowest, highest}) problems.push_back(MakeProblem(k.dtype, k.bits, 1, 3, 12288, rng, Fill{false, 0, code}));
    for (const Problem& p : problems) {
      std::vector<int32_t> sums(p.N, 0x5a5a5a5a);
      edgelm_qs8_code_sums(k.bits, p.N, p.K, p.w.data(), p.row_bytes, sums.data());
      TensorView view;
      view.dtype = k.dtype;
      view.shape = std::vector<int64_t>{static_cast<int64_t>(p.N), static_cast<int64_t>(p.K)};
      view.data = p.w.data();
      view.size = p.w.size();
      const std::vector<float> unit(p.N, 1.0f);
      view.scales = unit.data();
      std::vector<float> row(p.K);
      for (size_t n = 0; n < p.N; ++n) {
        DequantizeRow(view, static_cast<int64_t>(n), row.data());
        double want = 0;
        for (float c : row) want += c;
        INFO(k.name << " K=" << p.K << " channel " << n);
        CHECK(sums[n] == want);
      }
    }
  }
}

TEST_CASE("float kernels match the scalar reference on ragged shapes") {
  const std::vector<edgelm_kernels> variants = Variants();
  if (!HasSimdVariants(variants)) return;
  std::mt19937 rng(3);
  for (const FloatKernel& k : kFloatKernels)
    for (size_t M : kRaggedM)
      for (size_t N : kRaggedN) {
        if (BlockScaleOf(k.dtype).size > 0)
          for (size_t K : BlockK(k.dtype)) CheckFloatVariants(k, MakeProblem(k.dtype, 0, M, N, K, rng), variants);
        else
          for (size_t K : kRaggedK) CheckFloatVariants(k, MakeProblem(k.dtype, 0, M, N, K, rng), variants);
      }
}

TEST_CASE("every kernel matches the scalar reference at Gemma 4 E2B shapes") {
  const std::vector<edgelm_kernels> variants = Variants();
  if (!HasSimdVariants(variants)) return;
  std::mt19937 rng(4);
  const size_t shapes[][2] = {{2048, 1536}, {1536, 2048}, {6144, 1536}, {1536, 6144}};  // N x K
  for (size_t M : {size_t{1}, size_t{16}})
    for (const auto& nk : shapes) {
      for (const IntKernel& k : kIntKernels)
        CheckIntVariants(k, MakeProblem(k.dtype, k.bits, M, nk[0], nk[1], rng), variants);
      for (const FloatKernel& k : kFloatKernels)
        CheckFloatVariants(k, MakeProblem(k.dtype, 0, M, nk[0], nk[1], rng), variants);
    }
}

// --- kv-attention kernels -----------------------------------------------------------------------

const char* const kKvFormatNames[EDGELM_KV_FORMAT_COUNT] = {"f32", "bf16", "i8", "i4"};

// n cached records of one head (kernels/attention.h layout) with 3 bytes of slack between rows, so
// records sit at odd addresses; the values they decode to; and query heads / softmax weights.
struct KvProblem {
  int format;
  size_t n, d, group, record_bytes, row_stride;
  float static_scale;  // I8 only; 0 = per-row scales stored after the codes
  std::vector<uint8_t> rows;
  std::vector<double> values;  // [n][d], decoded
  std::vector<float> q, p;     // [group][d], [group][n]
};

KvProblem MakeKvProblem(int format, size_t n, size_t d, size_t group, bool static_scale, std::mt19937& rng) {
  KvProblem kv{format, n, d, group, 0, 0, 0.0f, {}, {}, {}, {}};
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f), scale(0.001f, 0.1f);
  const size_t record_bytes[] = {4 * d, 2 * d, d + (static_scale ? 0 : 4), d / 2 + 4 * (d / 32)};
  kv.record_bytes = record_bytes[format];
  kv.row_stride = kv.record_bytes + 3;
  kv.static_scale = format == EDGELM_KV_FORMAT_I8 && static_scale ? scale(rng) : 0.0f;
  kv.rows.resize(n * kv.row_stride);
  FillRandomBytes(&kv.rows, rng);
  kv.values.resize(n * d);
  for (size_t j = 0; j < n; ++j) {
    uint8_t* record = kv.rows.data() + j * kv.row_stride;
    double* value = kv.values.data() + j * d;
    switch (format) {
      case EDGELM_KV_FORMAT_F32:
        for (size_t e = 0; e < d; ++e) {
          const float v = unit(rng);
          std::memcpy(record + 4 * e, &v, 4);
          value[e] = v;
        }
        break;
      case EDGELM_KV_FORMAT_BF16:
        for (size_t e = 0; e < d; ++e) {
          const uint16_t bits = RandomHalfBits(DType::BF16, rng());
          std::memcpy(record + 2 * e, &bits, 2);
          value[e] = BF16ToFloat(bits);
        }
        break;
      case EDGELM_KV_FORMAT_I8: {  // every byte is a valid code, -128 included
        float row_scale = kv.static_scale;
        if (row_scale == 0.0f) {
          row_scale = scale(rng);
          std::memcpy(record + d, &row_scale, 4);
        }
        for (size_t e = 0; e < d; ++e) value[e] = static_cast<int8_t>(record[e]) * static_cast<double>(row_scale);
        break;
      }
      case EDGELM_KV_FORMAT_I4:
        for (size_t b = 0; b < d / 32; ++b) {
          const float block_scale = scale(rng);
          std::memcpy(record + d / 2 + 4 * b, &block_scale, 4);
          for (size_t e = 32 * b; e < 32 * b + 32; ++e) {
            const int code = (((record[e / 2] >> (4 * (e % 2))) & 0xf) ^ 8) - 8;
            value[e] = static_cast<double>(static_cast<float>(code) * block_scale);
          }
        }
        break;
    }
  }
  for (size_t i = 0; i < group * d; ++i) kv.q.push_back(unit(rng));
  for (size_t i = 0; i < group * n; ++i) kv.p.push_back(std::fabs(unit(rng)));
  return kv;
}

std::vector<float> RunScores(const edgelm_kernels& k, const KvProblem& kv) {
  std::vector<float> scores(kv.group * kv.n, NAN);
  k.kv_scores[kv.format](kv.n, kv.d, kv.group, kv.q.data(), kv.rows.data(), kv.row_stride, kv.static_scale,
                         scores.data(), kv.n);
  return scores;
}

// Starts from nonzero output, which the kernel must add to.
std::vector<float> RunAccumulate(const edgelm_kernels& k, const KvProblem& kv) {
  std::vector<float> out(kv.group * kv.d);
  for (size_t i = 0; i < out.size(); ++i) out[i] = 0.25f * static_cast<float>(i % 7);
  k.kv_accumulate[kv.format](kv.n, kv.d, kv.group, kv.p.data(), kv.n, kv.rows.data(), kv.row_stride,
                             kv.static_scale, out.data());
  return out;
}

void CheckKvAgainstDouble(const KvProblem& kv, const std::vector<float>& scores, const std::vector<float>& out) {
  for (size_t g = 0; g < kv.group; ++g) {
    for (size_t j = 0; j < kv.n; ++j) {
      double want = 0, magnitude = 0;
      for (size_t e = 0; e < kv.d; ++e) {
        want += kv.q[g * kv.d + e] * kv.values[j * kv.d + e];
        magnitude += std::fabs(kv.q[g * kv.d + e] * kv.values[j * kv.d + e]);
      }
      if (std::fabs(scores[g * kv.n + j] - want) > 1e-5 * magnitude + 1e-30)
        FAIL_CHECK("scores[" << g << "][" << j << "] = " << scores[g * kv.n + j] << ", want " << want);
    }
    for (size_t e = 0; e < kv.d; ++e) {
      double want = 0.25 * ((g * kv.d + e) % 7), magnitude = std::fabs(want);
      for (size_t j = 0; j < kv.n; ++j) {
        want += kv.p[g * kv.n + j] * kv.values[j * kv.d + e];
        magnitude += std::fabs(kv.p[g * kv.n + j] * kv.values[j * kv.d + e]);
      }
      if (std::fabs(out[g * kv.d + e] - want) > 1e-5 * magnitude + 1e-30)
        FAIL_CHECK("out[" << g << "][" << e << "] = " << out[g * kv.d + e] << ", want " << want);
    }
  }
}

TEST_CASE("kv-attention kernels: the scalar reference decodes every record format") {
  const std::vector<edgelm_kernels> variants = Variants();
  std::mt19937 rng(5);
  for (int format = 0; format < EDGELM_KV_FORMAT_COUNT; ++format)
    for (bool static_scale : {false, true})
      for (size_t d : {size_t{32}, size_t{64}, size_t{256}})
        for (size_t group : {size_t{1}, size_t{3}, size_t{8}}) {
          INFO(kKvFormatNames[format] << " d=" << d << " group=" << group << " static=" << static_scale);
          const KvProblem kv = MakeKvProblem(format, 37, d, group, static_scale, rng);
          CheckKvAgainstDouble(kv, RunScores(variants.front(), kv), RunAccumulate(variants.front(), kv));
        }
}

TEST_CASE("kv-attention kernels equal the scalar reference bit for bit on ragged shapes") {
  const std::vector<edgelm_kernels> variants = Variants();
  if (!HasSimdVariants(variants)) return;
  std::mt19937 rng(6);
  for (int format = 0; format < EDGELM_KV_FORMAT_COUNT; ++format)
    for (size_t n : {size_t{1}, size_t{2}, size_t{15}, size_t{16}, size_t{17}, size_t{100}})
      for (size_t d : {size_t{8}, size_t{24}, size_t{32}, size_t{96}, size_t{512}, size_t{544}})
        for (size_t group : {size_t{1}, size_t{2}, size_t{4}, size_t{7}, size_t{8}, size_t{9}, size_t{16}})
          for (bool static_scale : {false, true}) {
            if (format == EDGELM_KV_FORMAT_I4 && d % 32 != 0) continue;
            if (static_scale && format != EDGELM_KV_FORMAT_I8) continue;
            const KvProblem kv = MakeKvProblem(format, n, d, group, static_scale, rng);
            const std::vector<float> want_scores = RunScores(variants.front(), kv);
            const std::vector<float> want_out = RunAccumulate(variants.front(), kv);
            for (size_t v = 1; v < variants.size(); ++v) {
              INFO(variants[v].name << " " << kKvFormatNames[format] << " n=" << n << " d=" << d << " group=" << group
                                    << " static=" << static_scale);
              CHECK(RunScores(variants[v], kv) == want_scores);
              CHECK(RunAccumulate(variants[v], kv) == want_out);
            }
          }
}

// Activation inputs: a spread over the range where tanh is not yet +-1, both sides of the series /
// exponential switch at 0.3, the exponent range, and the special values.
std::vector<float> ActivationInputs(size_t n, std::mt19937& rng) {
  const float special[] = {0.0f, -0.0f, 0.29999998f, 0.3f, -0.3f, 9.01f, -9.01f, 10.0f, 1e-30f, -1e30f,
                           std::numeric_limits<float>::denorm_min(), INFINITY, -INFINITY, NAN};
  std::uniform_real_distribution<float> spread(-12.0f, 12.0f), exponent(-40.0f, 40.0f);
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) {
    if (i % 5 == 4) x[i] = special[(i / 5) % std::size(special)];
    else if (i % 5 == 3) x[i] = std::copysign(std::exp2(exponent(rng)), spread(rng));
    else x[i] = spread(rng);
  }
  return x;
}

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST_CASE("f32-vtanh kernels equal the scalar reference bit for bit, tails and special values included") {
  const std::vector<edgelm_kernels> variants = Variants();
  if (!HasSimdVariants(variants)) return;
  std::mt19937 rng(8);
  for (size_t n : {size_t{1}, size_t{3}, size_t{8}, size_t{15}, size_t{16}, size_t{17}, size_t{33}, size_t{1000}}) {
    const std::vector<float> gate = ActivationInputs(n, rng), up = ActivationInputs(n, rng);
    std::vector<float> want_gelu(n), want_cap = gate;
    variants.front().gelu_tanh_mul(n, gate.data(), up.data(), want_gelu.data());
    variants.front().softcap(n, want_cap.data(), 30.0f, 1.0f / 30.0f);
    for (size_t v = 1; v < variants.size(); ++v) {
      INFO(variants[v].name << " n=" << n);
      std::vector<float> gelu = gate, cap = gate;  // in place, as the model calls it
      variants[v].gelu_tanh_mul(n, gelu.data(), up.data(), gelu.data());
      variants[v].softcap(n, cap.data(), 30.0f, 1.0f / 30.0f);
      CHECK(SameBits(gelu, want_gelu));
      CHECK(SameBits(cap, want_cap));
    }
  }
}

}  // namespace
}  // namespace edgelm
