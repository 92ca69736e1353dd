// Activation quantization with AVX2: the same IEEE division and round-half-to-even as the scalar
// reference, so the codes are bit-identical (NaN included: maxps returns its second operand, -127).
#include <immintrin.h>

#include "quantize.h"

extern "C" void edgelm_qs8_quantize_avx2(size_t K, const float* x, float scale, int8_t* q) {
  const __m256 divisor = _mm256_set1_ps(scale);
  const __m256 low = _mm256_set1_ps(-127.0f), high = _mm256_set1_ps(127.0f);
  // packs interleaves the 128-bit lanes: codes 0-3 8-11 16-19 24-27 | 4-7 12-15 20-23 28-31.
  const __m256i lane_order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  auto codes = [&](const float* p) {
    const __m256 v = _mm256_round_ps(_mm256_div_ps(_mm256_loadu_ps(p), divisor),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    return _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v, low), high));
  };
  size_t k = 0;
  for (; k + 32 <= K; k += 32) {
    const __m256i lo = _mm256_packs_epi32(codes(x + k), codes(x + k + 8));
    const __m256i hi = _mm256_packs_epi32(codes(x + k + 16), codes(x + k + 24));
    const __m256i packed = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(lo, hi), lane_order);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + k), packed);
  }
  if (k < K) edgelm_qs8_quantize_scalar(K - k, x + k, scale, q + k);
}
