// f32 x bf16 weights GEMM with AVX2/FMA: a bf16 is the top half of an f32, so widening is a shift.
#include <string.h>

#include "gemm.h"
#include "simd/f32_gemm_avx2.h"

namespace {

struct Bf16wAvx2 : F32Lanes8 {
  static constexpr size_t kChunkBytes = 16;
  static Codes Decode(const uint8_t* p) {
    const __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return {_mm256_castsi256_ps(_mm256_slli_epi32(wide, 16))};
  }
  static float DecodeOne(const uint8_t* row, size_t k) {
    const uint32_t bits = static_cast<uint32_t>(row[2 * k] | (row[2 * k + 1] << 8)) << 16;
    float v;
    memcpy(&v, &bits, 4);
    return v;
  }
};

}  // namespace

extern "C" void edgelm_f32_bf16w_gemm_avx2(size_t M, size_t N, size_t K, const float* x, size_t x_stride,
                                           const uint8_t* w, size_t w_row_bytes, float* y, size_t y_stride) {
  F32Gemm<Bf16wAvx2>(M, N, K, x, x_stride, w, w_row_bytes, y, y_stride);
}
