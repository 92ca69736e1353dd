#include "model/linear.h"

#include "dispatch.h"

namespace edgelm {
namespace {

// Output channels per task: enough work to amortize dispatch, small enough to balance 2-8 threads.
constexpr size_t kChannelsPerTask = 32;
// Below this many multiply-adds a fork/join costs more than it saves.
constexpr size_t kMinParallelMacs = size_t{1} << 21;

struct GemmTask {
  size_t M, N, K, row_bytes;
  const TensorView* w;
  const float* x;            // float path
  const int8_t* x_q;         // integer path
  const float* x_scale;
  float* y;
  f32_gemm_fn f32_gemm;
  qs8_qcxw_gemm_fn qs8_gemm;
};

void RunChannels(void* context, size_t n0, size_t count) {
  const GemmTask& t = *static_cast<const GemmTask*>(context);
  const uint8_t* w = t.w->data + n0 * t.row_bytes;
  if (t.f32_gemm)
    t.f32_gemm(t.M, count, t.K, t.x, t.K, w, t.row_bytes, t.y + n0, t.N);
  else
    t.qs8_gemm(t.M, count, t.K, t.x_q, t.K, w, t.row_bytes, t.w->scales + n0, t.x_scale, t.y + n0, t.N);
}

f32_gemm_fn FloatGemm(const edgelm_kernels& k, DType dtype) {
  switch (dtype) {
    case DType::F32: return k.f32_f32w_gemm;
    case DType::BF16: return k.f32_bf16w_gemm;
    case DType::F16: return k.f32_f16w_gemm;
    case DType::Q4_0: return k.f32_q4_0w_gemm;
    default: return nullptr;
  }
}

}  // namespace

void Linear(const TensorView& w, const float* x, int M, float* y, LinearScratch* s, pthreadpool_t pool) {
  GemmTask task{};
  task.M = static_cast<size_t>(M);
  task.N = static_cast<size_t>(w.rows());
  task.K = static_cast<size_t>(w.cols());
  const size_t K = task.K;
  uint64_t row_bytes = 0;
  (void)RowBytes(w.dtype, w.cols(), &row_bytes);  // validated at load
  task.row_bytes = row_bytes;
  task.w = &w;
  task.x = x;
  task.y = y;
  const edgelm_kernels& kernels = *edgelm_kernels_select();
  task.f32_gemm = FloatGemm(kernels, w.dtype);
  if (task.M * task.N * task.K < kMinParallelMacs) pool = nullptr;
  if (task.f32_gemm) {
    pthreadpool_parallelize_1d_tile_1d(pool, RunChannels, &task, task.N, kChannelsPerTask, 0);
    return;
  }
  s->x_q.resize(static_cast<size_t>(M) * K);
  s->x_scale.resize(static_cast<size_t>(M));
  for (int m = 0; m < M; ++m) {
    const float* xm = x + static_cast<size_t>(m) * K;
    // Integer weights without a static scale (e.g. the tied head) quantize each token dynamically.
    const float scale = w.activation == ActivationQuant::StaticInt8 ? w.input_scale : qs8_dynamic_scale_scalar(K, xm);
    s->x_scale[m] = scale;
    qs8_quantize_scalar(K, xm, scale, s->x_q.data() + static_cast<size_t>(m) * K);
  }
  task.qs8_gemm = w.dtype == DType::I8 ? kernels.qs8_qc8w_gemm
                : w.dtype == DType::I4 ? kernels.qs8_qc4w_gemm
                                       : kernels.qs8_qc2w_gemm;
  task.x_q = s->x_q.data();
  task.x_scale = s->x_scale.data();
  pthreadpool_parallelize_1d_tile_1d(pool, RunChannels, &task, task.N, kChannelsPerTask, 0);
}

}  // namespace edgelm
