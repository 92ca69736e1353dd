// Elementwise activations of the Gemma 4 graph over whole rows, run by the widest f32-vtanh kernel
// this CPU has (kernels/activation.h). They use a tanh of a few float ulps (tanh_float below) written
// without branches or calls, so the loops vectorize; libm's tanhf does not, and cost about 8 % of an
// E2B decode step.
#pragma once

#include <pthreadpool.h>

#include <cstddef>

namespace edgelm {

// tanh(x) within 2 float ulps of the correctly rounded value on [0, 10] (relative error below 3e-7);
// exactly +-1 from |x| = 9.01 on (1 - tanh(x) is then below half a float ulp of 1).
float tanh_float(float x);

// out[i] = gelu_tanh(gate[i]) * up[i]; out may be gate. Long rows (a prefill chunk's MLP, a wide
// decode row) are split over `pool` (may be null); every element is computed the same way either way.
void GeluTanhMul(const float* gate, const float* up, size_t n, float* out, pthreadpool_t pool = nullptr);

// x[i] = cap * tanh(x[i] * reciprocal): Gemma's final logit soft-capping, with reciprocal the fp32
// 1 / cap (a multiply, as the published graph stores it, rounds differently from a division). Split
// over `pool` (may be null) like GeluTanhMul.
void SoftCap(float* x, size_t n, float cap, float reciprocal, pthreadpool_t pool = nullptr);

}  // namespace edgelm
