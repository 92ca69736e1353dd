// Elementwise activations of the Gemma 4 graph over float rows (kernels in f32-vtanh/): GELU (tanh
// form) gating and the final logit soft-capping, both built on one tanh of at most 2 float ulps.
// Every variant is the same loop (simd/f32_vtanh.h) compiled for its ISA, with no multiply-add fused
// (-ffp-contract=off), so all of them equal the scalar reference bit for bit.
#pragma once

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// out[i] = gelu_tanh(gate[i]) * up[i] for i < n; out may be gate.
typedef void (*f32_gelu_tanh_mul_fn)(size_t n, const float* gate, const float* up, float* out);
// x[i] = cap * tanh(x[i] * reciprocal) for i < n, with reciprocal the fp32 1 / cap.
typedef void (*f32_softcap_fn)(size_t n, float* x, float cap, float reciprocal);

#define EDGELM_DECLARE_F32_VTANH(variant)                                                               \
  void edgelm_f32_gelu_tanh_mul_##variant(size_t n, const float* gate, const float* up, float* out); \
  void edgelm_f32_softcap_##variant(size_t n, float* x, float cap, float reciprocal);

EDGELM_DECLARE_F32_VTANH(scalar)
#if defined(__x86_64__) || defined(_M_X64)
EDGELM_DECLARE_F32_VTANH(avx2)
EDGELM_DECLARE_F32_VTANH(avx512f)
#endif

// tanh(x) within 2 float ulps of the correctly rounded value on [0, 10] (relative error below 3e-7);
// exactly +-1 from |x| = 9.01 on; NaN stays NaN.
float edgelm_f32_tanh_scalar(float x);

#ifdef __cplusplus
}
#endif
