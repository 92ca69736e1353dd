// f32 x f32 weights GEMM with AVX2/FMA.
#include <string.h>

#include "gemm.h"
#include "simd/f32_gemm_avx2.h"

namespace {

struct F32wAvx2 : F32Lanes8 {
  static constexpr size_t kChunkBytes = 32;
  static Codes Decode(const uint8_t* p) { return {_mm256_loadu_ps(reinterpret_cast<const float*>(p))}; }
  static float DecodeOne(const uint8_t* row, size_t k) {
    float v;
    memcpy(&v, row + 4 * k, 4);
    return v;
  }
};

}  // namespace

extern "C" void edgelm_f32_f32w_gemm_avx2(size_t M, size_t N, size_t K, const float* x, size_t x_stride,
                                          const uint8_t* w, size_t w_row_bytes, float* y, size_t y_stride) {
  F32Gemm<F32wAvx2>(M, N, K, x, x_stride, w, w_row_bytes, y, y_stride);
}
