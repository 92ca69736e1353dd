#include "model/linear.h"

#include "dispatch.h"

namespace edgelm {
namespace {

constexpr size_t kChannelsPerTask = 32;

void RunChannels(void* context, size_t n0, size_t count) {
  const GemmCall& c = *static_cast<const GemmCall*>(context);
  const uint8_t* w = c.w + n0 * c.row_bytes;
  if (c.qs8)
    c.qs8(c.M, count, c.K, c.x_q, c.K, w, c.row_bytes, c.w_scale + n0, c.x_scale, c.y + n0, c.N);
  else
    c.f32(c.M, count, c.K, c.x, c.K, w, c.row_bytes, c.y + n0, c.N);
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

}  // namespace

void RunGemm(const GemmCall& call, pthreadpool_t pool) {
  pthreadpool_parallelize_1d_tile_1d(pool, RunChannels, const_cast<GemmCall*>(&call), call.N, kChannelsPerTask, 0);
}

void Linear(const TensorView& w, const float* x, int M, float* y, LinearScratch* s, pthreadpool_t pool) {
  GemmCall call{};
  call.M = static_cast<size_t>(M);
  call.N = static_cast<size_t>(w.rows());
  call.K = static_cast<size_t>(w.cols());
  const size_t K = call.K;
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
  s->x_q.resize(static_cast<size_t>(M) * K);
  s->x_scale.resize(static_cast<size_t>(M));
  for (int m = 0; m < M; ++m) {
    const float* xm = x + static_cast<size_t>(m) * K;
    // Integer weights without a static scale (e.g. the tied head) quantize each token dynamically.
    const float scale = w.activation == ActivationQuant::StaticInt8 ? w.input_scale : edgelm_qs8_dynamic_scale_scalar(K, xm);
    s->x_scale[m] = scale;
    kernels.qs8_quantize(K, xm, scale, s->x_q.data() + static_cast<size_t>(m) * K);
  }
  call.qs8 = w.dtype == DType::I8 ? kernels.qs8_qc8w_gemm
           : w.dtype == DType::I4 ? kernels.qs8_qc4w_gemm
                                  : kernels.qs8_qc2w_gemm;
  call.w_scale = w.scales;
  call.x_q = s->x_q.data();
  call.x_scale = s->x_scale.data();
  RunGemm(call, pool);
}

}  // namespace edgelm
