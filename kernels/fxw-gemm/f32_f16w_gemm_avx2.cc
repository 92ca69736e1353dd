// f32 x f16 weights GEMM with AVX2/FMA; F16C widens (exactly, like the scalar reference).
#include "gemm.h"
#include "simd/f32_gemm_avx2.h"

namespace {

struct F16wAvx2 : F32Lanes8 {
  static constexpr size_t kChunkBytes = 16;
  static Codes Decode(const uint8_t* p) { return {_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)))}; }
  static float DecodeOne(const uint8_t* row, size_t k) {
    return _cvtsh_ss(static_cast<unsigned short>(row[2 * k] | (row[2 * k + 1] << 8)));
  }
};

}  // namespace

extern "C" void edgelm_f32_f16w_gemm_avx2(size_t M, size_t N, size_t K, const float* x, size_t x_stride,
                                          const uint8_t* w, size_t w_row_bytes, float* y, size_t y_stride) {
  F32Gemm<F16wAvx2>(M, N, K, x, x_stride, w, w_row_bytes, y, y_stride);
}
