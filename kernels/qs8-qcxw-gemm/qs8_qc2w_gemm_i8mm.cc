// int8 activations x 2-bit weights with SMMLA for pairs of tokens and SDOT for a single one (this
// file is compiled with +dotprod+i8mm).
#include "gemm.h"
#include "simd/neon_qs8_mmla.h"

void edgelm_qs8_qc2w_gemm_i8mm(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                               size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y,
                               size_t y_stride) {
  Qs8MmlaGemm<I2Codes>({M, N, K, x, x_stride, w, w_row_bytes, w_scale, x_scale, y, y_stride});
}
