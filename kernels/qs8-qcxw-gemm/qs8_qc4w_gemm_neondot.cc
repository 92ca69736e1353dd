// int8 activations x 4-bit weights with SDOT (ARMv8.2 dotprod; this file is compiled with +dotprod).
#include "gemm.h"
#include "simd/neon_qs8_gemm.h"

void edgelm_qs8_qc4w_gemm_neondot(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                                  size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y,
                                  size_t y_stride) {
  Qs8DotGemm<I4Codes, SdotEngine>({M, N, K, x, x_stride, w, w_row_bytes, w_scale, x_scale, y, y_stride});
}
