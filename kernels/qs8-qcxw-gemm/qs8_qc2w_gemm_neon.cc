// int8 activations x 2-bit weights, plain ARMv8.0 NEON: widening multiplies into int16, then
// pairwise adds into int32.
#include "gemm.h"
#include "simd/neon_qs8_gemm.h"

void edgelm_qs8_qc2w_gemm_neon(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                               size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y,
                               size_t y_stride) {
  Qs8DotGemm<I2Codes, MullEngine>({M, N, K, x, x_stride, w, w_row_bytes, w_scale, x_scale, y, y_stride});
}
