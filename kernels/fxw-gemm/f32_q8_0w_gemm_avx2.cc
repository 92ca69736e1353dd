// f32 x Q8_0 weights GEMM with AVX2/FMA. As for Q4_0, a 32-weight block is widened once per tile to
// its codes in f32 (exact) and the block's d scales the block's dot product once, instead of every
// weight as in the scalar reference: only the rounding differs.
#include "gemm.h"
#include "simd/f32_gemm_avx2.h"

namespace {

struct Q8_0wAvx2 {
  static constexpr size_t kCodes = 32, kChunkBytes = 34;  // fp16 d, then 32 int8 codes
  static constexpr bool kRaggedK = false;                 // Q8_0 rows are whole blocks
  static constexpr int kMR = 3, kNR = 2, kGemvNR = 2;     // 5 vectors per decoded block limit the tile
  using Codes = ScaledBlock32;
  static __m256 Widen(const uint8_t* codes) {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(codes))));
  }
  static Codes Decode(const uint8_t* p) {
    return {{Widen(p + 2), Widen(p + 10), Widen(p + 18), Widen(p + 26)},
            _mm256_set1_ps(_cvtsh_ss(static_cast<unsigned short>(p[0] | (p[1] << 8))))};
  }
  static __m256 Accumulate(__m256 acc, const Codes& c, const float* x) { return AccumulateBlock32(acc, c, x); }
};

}  // namespace

extern "C" void edgelm_f32_q8_0w_gemm_avx2(size_t M, size_t N, size_t K, const float* x, size_t x_stride,
                                           const uint8_t* w, size_t w_row_bytes, float* y, size_t y_stride) {
  F32Gemm<Q8_0wAvx2>(M, N, K, x, x_stride, w, w_row_bytes, y, y_stride);
}
