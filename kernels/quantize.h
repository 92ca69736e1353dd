// Activation quantization to int8 (kernels in qs8-quantize/), the input of the gemm.h qs8 kernels.
// Variant suffixes as in gemm.h; every variant's codes equal the scalar reference's bit for bit.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// q[k] = clamp(round_half_even(x[k] / scale), -127, 127) for k < K (a division, not a multiplication by
// 1 / scale; NaN gives -127).
typedef void (*qs8_quantize_fn)(size_t K, const float* x, float scale, int8_t* q);

#define EDGELM_DECLARE_QS8_QUANTIZE(variant) \
  void edgelm_qs8_quantize_##variant(size_t K, const float* x, float scale, int8_t* q);

EDGELM_DECLARE_QS8_QUANTIZE(scalar)
#if defined(__x86_64__) || defined(_M_X64)
EDGELM_DECLARE_QS8_QUANTIZE(avx2)
#endif
#if defined(__aarch64__)
EDGELM_DECLARE_QS8_QUANTIZE(neon)
#endif

// Dynamic per-token scale: max|x| / 127 (1 for an all-zero row, which then quantizes to zeros).
float edgelm_qs8_dynamic_scale_scalar(size_t K, const float* x);

#ifdef __cplusplus
}
#endif
