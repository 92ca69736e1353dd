#include "model/activations.h"

#include "dispatch.h"
#include "model/thread_pool.h"

namespace edgelm {

float tanh_float(float x) { return edgelm_f32_tanh_scalar(x); }

namespace {

// Elements per pool task: 4096 take 4-19 us (AVX-512 to SSE2), several times what handing a task to
// another thread costs (0.6 us per parallel region with 2 threads on Zen 5). So a decode step's wider
// MLP rows (12288 in E2B) and its 262144 logits are shared too, not only a prefill chunk's rows.
constexpr size_t kMinElementsPerTask = 4096;

}  // namespace

void GeluTanhMul(const float* gate, const float* up, size_t n, float* out, pthreadpool_t pool) {
  const f32_gelu_tanh_mul_fn kernel = edgelm_kernels_select()->gelu_tanh_mul;
  ForEachRowTile(pool, n, kMinElementsPerTask,
                 [&](size_t first, size_t count) { kernel(count, gate + first, up + first, out + first); });
}

void SoftCap(float* x, size_t n, float cap, float reciprocal, pthreadpool_t pool) {
  const f32_softcap_fn kernel = edgelm_kernels_select()->softcap;
  ForEachRowTile(pool, n, kMinElementsPerTask, [&](size_t first, size_t count) { kernel(count, x + first, cap, reciprocal); });
}

}  // namespace edgelm
