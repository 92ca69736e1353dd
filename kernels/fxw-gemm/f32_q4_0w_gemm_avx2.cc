// f32 x Q4_0 weights GEMM with AVX2/FMA. Each 32-weight block is decoded once per tile to q - 8 in
// f32 (exact), and its dot product with x is scaled by the block's d once, rather than d multiplying
// every weight as in the scalar reference: fewer conversions and multiplies per weight, and the
// accumulator waits on one FMA per block instead of four, which bounded decode at a third of the
// memory bandwidth. Only the rounding differs (within tests/test_kernels.cc's float bound).
#include "gemm.h"
#include "simd/f32_gemm_avx2.h"

namespace {

struct Q4_0wAvx2 {
  static constexpr size_t kCodes = 32, kChunkBytes = 18;  // fp16 d, then q[j] | q[j + 16] << 4
  static constexpr bool kRaggedK = false;                 // Q4_0 rows are whole blocks
  static constexpr int kMR = 3, kNR = 2, kGemvNR = 2;     // 5 vectors per decoded block limit the tile
  using Codes = ScaledBlock32;  // q - 8
  static __m256 Widen(__m128i codes) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(codes)); }
  static Codes Decode(const uint8_t* p) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
    const __m128i nibble = _mm_set1_epi8(0x0f), eight = _mm_set1_epi8(8);
    const __m128i low = _mm_sub_epi8(_mm_and_si128(q, nibble), eight);
    const __m128i high = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(q, 4), nibble), eight);
    return {{Widen(low), Widen(_mm_unpackhi_epi64(low, low)), Widen(high), Widen(_mm_unpackhi_epi64(high, high))},
            _mm256_set1_ps(_cvtsh_ss(static_cast<unsigned short>(p[0] | (p[1] << 8))))};
  }
  static __m256 Accumulate(__m256 acc, const Codes& c, const float* x) { return AccumulateBlock32(acc, c, x); }
};

}  // namespace

extern "C" void edgelm_f32_q4_0w_gemm_avx2(size_t M, size_t N, size_t K, const float* x, size_t x_stride,
                                           const uint8_t* w, size_t w_row_bytes, float* y, size_t y_stride) {
  F32Gemm<Q4_0wAvx2>(M, N, K, x, x_stride, w, w_row_bytes, y, y_stride);
}
