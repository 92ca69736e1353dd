#include "model/activations.h"

#include "dispatch.h"

namespace edgelm {

float tanh_float(float x) { return edgelm_f32_tanh_scalar(x); }

namespace {

struct GeluCall {
  f32_gelu_tanh_mul_fn kernel;
  const float* gate;
  const float* up;
  float* out;
};

void RunGeluSpan(void* context, size_t start, size_t count) {
  const GeluCall& c = *static_cast<const GeluCall*>(context);
  c.kernel(count, c.gate + start, c.up + start, c.out + start);
}

}  // namespace

void GeluTanhMul(const float* gate, const float* up, size_t n, float* out, pthreadpool_t pool) {
  constexpr size_t kSpan = 16384;  // per task: 16-75 us (AVX-512 to SSE2), far above dispatch cost
  GeluCall call{edgelm_kernels_select()->gelu_tanh_mul, gate, up, out};
  if (!pool || n < 2 * kSpan) return call.kernel(n, gate, up, out);
  pthreadpool_parallelize_1d_tile_1d_dynamic(pool, RunGeluSpan, &call, n, kSpan, 0);
}

void SoftCap(float* x, size_t n, float cap, float reciprocal) { edgelm_kernels_select()->softcap(n, x, cap, reciprocal); }

}  // namespace edgelm
