// f32 x Q4_0 weights GEMM with AVX2/FMA. Each 32-weight block is dequantized to (q - 8) * d in f32,
// the same rounding as the scalar reference, then reused for every token row of the tile.
#include "common/f32_gemm_avx2.h"
#include "gemm_x86.h"

namespace {

struct Q4_0wAvx2 {
  static constexpr size_t kCodes = 32, kChunkBytes = 18;  // fp16 d, then q[j] | q[j + 16] << 4
  static constexpr bool kRaggedK = false;                 // Q4_0 rows are whole blocks
  static constexpr int kMR = 3, kNR = 2, kGemvNR = 2;     // 4 code vectors per row limit the tile
  struct Codes {
    __m256 w[4];  // k = 0..7, 8..15, 16..23, 24..31
  };
  static __m256 Dequantize(__m128i q8, __m256 d) {
    const __m256i centered = _mm256_sub_epi32(_mm256_cvtepu8_epi32(q8), _mm256_set1_epi32(8));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(centered), d);
  }
  static Codes Decode(const uint8_t* p) {
    const __m256 d = _mm256_set1_ps(_cvtsh_ss(static_cast<unsigned short>(p[0] | (p[1] << 8))));
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
    const __m128i low = _mm_and_si128(q, _mm_set1_epi8(0x0f));
    const __m128i high = _mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0x0f));
    return {{Dequantize(low, d), Dequantize(_mm_unpackhi_epi64(low, low), d), Dequantize(high, d),
             Dequantize(_mm_unpackhi_epi64(high, high), d)}};
  }
  static __m256 Accumulate(__m256 acc, const Codes& c, const float* x) {
    for (int i = 0; i < 4; ++i) acc = _mm256_fmadd_ps(c.w[i], _mm256_loadu_ps(x + 8 * i), acc);
    return acc;
  }
};

}  // namespace

extern "C" void f32_q4_0w_gemm_avx2(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                                    size_t w_row_bytes, float* y, size_t y_stride) {
  F32Gemm<Q4_0wAvx2>(M, N, K, x, x_stride, w, w_row_bytes, y, y_stride);
}
