#include "model/linear.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>

#include "dispatch.h"
#include "model/thread_pool.h"

namespace edgelm {
namespace {

// Tasks of 32 output channels or more, handed out dynamically (a thread another app holds back takes
// fewer). Every task repacks the M activation rows it reads (M * K bytes against M * K * channels
// multiply-adds), so prefill tasks grow towards N / 8 per thread, up to 256 channels: the repacking
// then costs under 1% of the task (measured: 0-9% more GOPS at M = 128, docs/performance.md).
size_t ChannelsPerTask(size_t M, size_t N, size_t threads) {
  constexpr size_t kMinChannels = 32, kMaxChannels = 256, kTasksPerThread = 8;
  if (M == 1) return kMinChannels;
  const size_t share = N / (kTasksPerThread * std::max<size_t>(1, threads));
  return std::min(kMaxChannels, std::max(kMinChannels, (share + kMinChannels - 1) / kMinChannels * kMinChannels));
}

// The kernel over rows [m0, m0 + M) and channels [n0, n0 + count); n0 a multiple of 16 (whole strips).
void RunKernel(const GemmCall& c, size_t m0, size_t M, size_t n0, size_t count, const float* w_scale,
               const float* x_scale) {
  float* y = c.y + m0 * c.N + n0;
  if (c.strips.gemm)
    c.strips.gemm(M, count, c.K, c.x_q + m0 * c.K, c.K, c.strips.data + n0 / 16 * c.strips.strip_bytes, w_scale,
                  x_scale, y, c.N);
  else if (c.qs8)
    c.qs8(M, count, c.K, c.x_q + m0 * c.K, c.K, c.w + n0 * c.row_bytes, c.row_bytes, w_scale, x_scale, y, c.N);
  else
    c.f32(M, count, c.K, c.x + m0 * c.K, c.K, c.w + n0 * c.row_bytes, c.row_bytes, y, c.N);
}

// Unit scales for RunZeroPointChannels' kernel calls, which cover at most this many rows and channels.
constexpr size_t kUnitScales = 256;
struct UnitScales {
  float one[kUnitScales];
  constexpr UnitScales() : one() {
    for (float& v : one) v = 1.0f;
  }
};
constexpr UnitScales kUnitScale{};

// GemmCall::code_sums: the kernel's sums come out exact at unit scales, then take the zero point and
// the scales in the kernel epilogue's order, so the result is what a kernel given the codes minus the
// zero point would write.
void RunZeroPointChannels(const GemmCall& c, size_t n0, size_t count) {
  for (size_t m0 = 0; m0 < c.M; m0 += kUnitScales)
    for (size_t c0 = n0; c0 < n0 + count; c0 += kUnitScales) {
      const size_t rows = std::min(kUnitScales, c.M - m0), channels = std::min(kUnitScales, n0 + count - c0);
      RunKernel(c, m0, rows, c0, channels, kUnitScale.one, kUnitScale.one);
      for (size_t m = m0; m < m0 + rows; ++m) {
        float* y = c.y + m * c.N;
        for (size_t n = c0; n < c0 + channels; ++n) {
          const int32_t sum = static_cast<int32_t>(y[n]) - c.zero_point[m] * c.code_sums[n];
          y[n] = static_cast<float>(sum) * c.w_scale[n] * c.x_scale[m];
        }
      }
    }
}

void RunChannels(void* context, size_t n0, size_t count) {
  const GemmCall& c = *static_cast<const GemmCall*>(context);
  // n0 is a multiple of the tile, itself of 32 channels: whole strips.
  if (c.code_sums)
    RunZeroPointChannels(c, n0, count);
  else
    RunKernel(c, 0, c.M, n0, count, c.qs8 ? c.w_scale + n0 : nullptr, c.x_scale);
}

f32_gemm_fn FloatGemm(const edgelm_kernels& k, DType dtype) {
  switch (dtype) {
    case DType::F32: return k.f32_f32w_gemm;
    case DType::BF16: return k.f32_bf16w_gemm;
    case DType::F16: return k.f32_f16w_gemm;
    case DType::Q4_0: return k.f32_q4_0w_gemm;
    case DType::Q8_0: return k.f32_q8_0w_gemm;
    case DType::Q6_K: return k.f32_q6_kw_gemm;
    default: return nullptr;
  }
}

qs8_qcxw_gemm_fn IntegerGemm(const edgelm_kernels& k, DType dtype) {
  switch (dtype) {
    case DType::I8: return k.qs8_qc8w_gemm;
    case DType::I4: return k.qs8_qc4w_gemm;
    case DType::I2: return k.qs8_qc2w_gemm;
    default: return nullptr;
  }
}

// Splits integer codes `v[K]` of token `token` (asymmetric codes minus their zero point, within
// [-255, 255]) into extra kernel rows of [-127, 127] whose outputs are summed into the token's.
void SplitCodes(const int* v, size_t K, int token, float scale, LinearScratch* s) {
  bool rest = true;
  for (int part = 0; rest; ++part) {
    const size_t base = s->extra_q.size();
    s->extra_q.resize(base + K);
    s->extra_scale.push_back(scale);
    s->extra_token.push_back(token);
    int8_t* dst = s->extra_q.data() + base;
    rest = false;
    for (size_t k = 0; k < K; ++k) {
      int left = v[k];
      for (int p = 0; p < part; ++p) left -= std::min(127, std::max(-127, left));  // what earlier rows took
      dst[k] = static_cast<int8_t>(std::min(127, std::max(-127, left)));
      rest |= dst[k] != left;
    }
  }
}

// The int4 and int2 kernels take activation codes of -128; the int8 ones stop at -127 (gemm.h).
bool KernelsTakeMinus128(DType weights) { return weights == DType::I4 || weights == DType::I2; }

// TFLite/XNNPACK static int8 rounds x / scale half to even and saturates to [-128, 127]; the kernels'
// quantizer does the same within [-127, 127]. Only inputs below -127 * scale can round to -128.
bool RoundsToMinus128(float x, float scale) { return x < -127.0f * scale && std::nearbyint(x / scale) <= -128.0f; }

// Sub-byte weights: the -128 codes go into the token's row `q` itself. Only codes the quantizer
// clamped to -127 can be -128, and a byte scan (vectorized) passes over the rows that have none.
void SetSaturatedLow(const float* x, size_t K, float scale, int8_t* q) {
  int clamped = 0;
  for (size_t k = 0; k < K; ++k) clamped |= q[k] == -127;
  if (clamped == 0) return;
  for (size_t k = 0; k < K; ++k)
    if (q[k] == -127 && RoundsToMinus128(x[k], scale)) q[k] = -128;
}

// Int8 weights: a code of -128 keeps -127 in the token's row and gets a -1 in an extra row of that
// token.
void AddSaturatedLow(const float* x, size_t K, int token, float scale, LinearScratch* s) {
  size_t row = SIZE_MAX;
  for (size_t k = 0; k < K; ++k) {
    if (!RoundsToMinus128(x[k], scale)) continue;
    if (row == SIZE_MAX) {
      row = s->extra_q.size();
      s->extra_q.resize(row + K, 0);
      s->extra_scale.push_back(scale);
      s->extra_token.push_back(token);
    }
    s->extra_q[row + k] = -1;
  }
}

}  // namespace

AsymmetricQuant QuantizeAsymmetric(const float* x, size_t K, int8_t* q) {
  float lo = 0.0f, hi = 0.0f;
  for (size_t k = 0; k < K; ++k) {
    lo = std::min(lo, x[k]);
    hi = std::max(hi, x[k]);
  }
  if (!(hi > lo)) {  // all zero
    std::fill(q, q + K, int8_t{0});
    return {1.0f, 0};
  }
  const float inv_scale = 255.0f / (hi - lo);
  const float zero_from_min = -128.0f - lo * inv_scale, zero_from_max = 127.0f - hi * inv_scale;
  const float zero = (-128.0f + lo * inv_scale) + (127.0f + hi * inv_scale) > 0.0f ? zero_from_min : zero_from_max;
  const int zp = static_cast<int>(std::lrint(std::min(127.0f, std::max(-128.0f, zero))));
  const float q_lo = static_cast<float>(-128 - zp), q_hi = static_cast<float>(127 - zp);
  for (size_t k = 0; k < K; ++k)
    q[k] = static_cast<int8_t>(std::nearbyint(std::min(q_hi, std::max(q_lo, x[k] * inv_scale))) + zp);
  return {1.0f / inv_scale, zp};
}

namespace {

// The published static FC: the output goes to int8 with its own scale and back to float, rounding half
// to even. Clamped to [-129, 128] first, v + 1.5 * 2^23 - 1.5 * 2^23 is exactly that rounding in the
// default rounding mode (what nearbyint does; checked over every float), and unlike a libm call per
// output the loop vectorizes (with -fno-trapping-math, src/CMakeLists.txt). A NaN ends at -128 both ways.
void RequantizeOutput(float scale, size_t n, float* y) {
  constexpr float kRoundingBias = 12582912.0f;  // 1.5 * 2^23: floats near it have integer steps
  for (size_t i = 0; i < n; ++i) {
    const float v = std::min(128.0f, std::max(-129.0f, y[i] / scale));
    const float q = (v + kRoundingBias) - kRoundingBias;
    y[i] = std::min(127.0f, std::max(-128.0f, q)) * scale;
  }
}

// Tokens per pool task when quantizing a chunk's activations (a 1536-wide row is well under a
// microsecond).
constexpr size_t kMinQuantizeRows = 16;

}  // namespace

void LinearScratch::Release() {
  std::vector<int8_t>().swap(x_q);
  std::vector<float>().swap(x_scale);
  std::vector<int8_t>().swap(extra_q);
  std::vector<float>().swap(extra_scale);
  std::vector<int>().swap(extra_token);
  std::vector<float>().swap(extra_y);
  std::vector<int>().swap(codes);
  std::vector<int32_t>().swap(zero_point);
}

void RunGemm(const GemmCall& call, pthreadpool_t pool) {
  const size_t tile = ChannelsPerTask(call.M, call.N, pthreadpool_get_threads_count(pool));
  ParallelizeTiles(pool, RunChannels, const_cast<GemmCall*>(&call), call.N, tile);
}

bool LinearTakesCodeSums(const TensorView& w) {
  if (w.activation != ActivationQuant::DynamicInt8Asymmetric) return false;
  const int64_t max_code = w.dtype == DType::I4 ? 8 : 2;
  return KernelsTakeMinus128(w.dtype) && w.cols() * 128 * max_code <= (int64_t{1} << 24);
}

namespace {

// Which kernel rows a tensor's tokens take (Linear and LinearScratchEstimate).
struct RowPlan {
  bool zero_point_in_sums;   // asymmetric codes as they are, the zero point taken off with code sums
  // Without code sums, asymmetric codes minus their zero point nearly always need a second row: every
  // row of those tokens then runs in the extra passes (one weight pass for a decoded token, not two);
  // the main GEMM gets no tokens.
  bool all_rows_extra;
  bool extra_rows_possible;  // some token may need rows of codes beyond [-127, 127]
};

RowPlan PlanRows(const TensorView& w, const PreparedWeights& prepared) {
  RowPlan plan;
  plan.zero_point_in_sums = prepared.code_sums && LinearTakesCodeSums(w);
  plan.all_rows_extra = w.activation == ActivationQuant::DynamicInt8Asymmetric && !plan.zero_point_in_sums;
  plan.extra_rows_possible =
      plan.all_rows_extra || (w.activation == ActivationQuant::StaticInt8Full && !KernelsTakeMinus128(w.dtype));
  return plan;
}

}  // namespace

void LinearScratchEstimate::Add(const TensorView& w, const PreparedWeights& prepared, int rows) {
  if (w.dtype != DType::I8 && w.dtype != DType::I4 && w.dtype != DType::I2) return;  // float GEMMs: none
  const uint64_t M = static_cast<uint64_t>(rows), K = static_cast<uint64_t>(w.cols()), N = static_cast<uint64_t>(w.rows());
  const RowPlan plan = PlanRows(w, prepared);
  x_q_ = std::max(x_q_, M * K);
  x_scale_ = std::max(x_scale_, M);
  if (plan.zero_point_in_sums) zero_point_ = std::max(zero_point_, M);
  if (plan.all_rows_extra) codes_ = std::max(codes_, K);
  if (plan.extra_rows_possible) {  // up to three rows per token (|code| <= 381)
    extra_q_ = std::max(extra_q_, 3 * M * K);
    extra_rows_ = std::max(extra_rows_, 3 * M);
    extra_y_ = std::max(extra_y_, kExtraRowsPerPass * N);
  }
}

uint64_t LinearScratchEstimate::bytes() const {
  return x_q_ + extra_q_ + (x_scale_ + extra_rows_ + extra_y_) * sizeof(float) + (extra_rows_ + codes_) * sizeof(int) +
         zero_point_ * sizeof(int32_t);
}

bool LinearSupports(const TensorView& w) {
  const edgelm_kernels& k = *edgelm_kernels_select();
  if (FloatGemm(k, w.dtype)) return true;
  return IntegerGemm(k, w.dtype) && w.scales && w.scale_group_size == 0;
}

void Linear(const TensorView& w, const PreparedWeights& prepared, const float* x, int M, float* y, LinearScratch* s,
            pthreadpool_t pool) {
  GemmCall call{};
  call.M = static_cast<size_t>(M);
  call.N = static_cast<size_t>(w.rows());
  call.K = static_cast<size_t>(w.cols());
  const size_t K = call.K, N = call.N;
  uint64_t row_bytes = 0;
  (void)RowBytes(w.dtype, w.cols(), &row_bytes);  // validated at load
  call.row_bytes = row_bytes;
  call.w = w.data;
  call.x = x;
  call.y = y;
  if (call.M * call.N * call.K < kMinParallelMacs) pool = nullptr;
  const edgelm_kernels& kernels = *edgelm_kernels_select();
  call.f32 = FloatGemm(kernels, w.dtype);
  if (call.f32) {
    RunGemm(call, pool);
    return;
  }
  call.qs8 = IntegerGemm(kernels, w.dtype);
  if (prepared.strips.gemm) call.strips = prepared.strips;
  call.w_scale = w.scales;
  s->x_q.resize(static_cast<size_t>(M) * K);
  s->x_scale.resize(static_cast<size_t>(M));
  s->extra_q.clear();
  s->extra_scale.clear();
  s->extra_token.clear();
  const RowPlan plan = PlanRows(w, prepared);
  const bool zero_point_in_sums = plan.zero_point_in_sums, all_rows_extra = plan.all_rows_extra;
  const bool full_range = w.activation == ActivationQuant::StaticInt8Full;
  if (zero_point_in_sums) {
    s->zero_point.resize(static_cast<size_t>(M));
    call.code_sums = prepared.code_sums;
    call.zero_point = s->zero_point.data();
  }
  if (all_rows_extra) s->codes.resize(K);
  // Tokens are quantized in parallel (their rows are independent); the extra rows of codes beyond
  // [-127, 127] are then collected in token order.
  const auto row = [&](size_t m) { return std::make_pair(x + m * K, s->x_q.data() + m * K); };
  ForEachRowTile(pool, static_cast<size_t>(M), kMinQuantizeRows, [&](size_t first, size_t count) {
    for (size_t m = first; m < first + count; ++m) {
      const auto [xm, qm] = row(m);
      switch (w.activation) {
        case ActivationQuant::StaticInt8Full:
        case ActivationQuant::StaticInt8:
          s->x_scale[m] = w.input_scale;
          kernels.qs8_quantize(K, xm, w.input_scale, qm);
          if (full_range && KernelsTakeMinus128(w.dtype)) SetSaturatedLow(xm, K, w.input_scale, qm);
          break;
        case ActivationQuant::DynamicInt8Asymmetric:
          if (zero_point_in_sums) {
            const AsymmetricQuant a = QuantizeAsymmetric(xm, K, qm);
            s->x_scale[m] = a.scale;
            s->zero_point[m] = a.zero_point;
          }  // else below, with its extra rows
          break;
        default:  // integer weights without a static scale (e.g. the tied head): per token
          s->x_scale[m] = edgelm_qs8_dynamic_scale_scalar(K, xm);
          kernels.qs8_quantize(K, xm, s->x_scale[m], qm);
          break;
      }
    }
  });
  for (int m = 0; m < M && plan.extra_rows_possible; ++m) {
    const auto [xm, qm] = row(static_cast<size_t>(m));
    if (w.activation == ActivationQuant::StaticInt8Full) {
      AddSaturatedLow(xm, K, m, w.input_scale, s);
    } else {
      const AsymmetricQuant a = QuantizeAsymmetric(xm, K, qm);
      for (size_t k = 0; k < K; ++k) s->codes[k] = qm[k] - a.zero_point;
      SplitCodes(s->codes.data(), K, m, a.scale, s);
    }
  }
  if (all_rows_extra) {
    std::fill(y, y + static_cast<size_t>(M) * N, 0.0f);
  } else {
    call.x_q = s->x_q.data();
    call.x_scale = s->x_scale.data();
    RunGemm(call, pool);
  }

  // Rows of codes beyond [-127, 127], a few at a time, added to their tokens' outputs.
  const size_t extra_rows = s->extra_token.size();
  if (extra_rows > 0) s->extra_y.resize(kExtraRowsPerPass * N);
  for (size_t r0 = 0; r0 < extra_rows; r0 += kExtraRowsPerPass) {
    GemmCall extra = call;
    extra.M = std::min<size_t>(kExtraRowsPerPass, extra_rows - r0);
    extra.x_q = s->extra_q.data() + r0 * K;
    extra.x_scale = s->extra_scale.data() + r0;
    extra.y = s->extra_y.data();
    RunGemm(extra, extra.M * N * K < kMinParallelMacs ? nullptr : pool);
    for (size_t r = 0; r < extra.M; ++r) {
      float* out = y + static_cast<size_t>(s->extra_token[r0 + r]) * N;
      const float* add = s->extra_y.data() + r * N;
      for (size_t n = 0; n < N; ++n) out[n] += add[n];
    }
  }
  if (w.output_scale > 0.0f)
    ForEachRowTile(pool, static_cast<size_t>(M), kMinQuantizeRows,
                   [&](size_t first, size_t count) { RequantizeOutput(w.output_scale, count * N, y + first * N); });
}

}  // namespace edgelm
