// AVX2 pieces shared by the qs8 x {I8, I4, I2} kernels: int32 accumulators of 8 lanes, activation
// repacking. Each dtype picks its register tile: 16 ymm hold kMR*kNR accumulators, one weight row's
// decoded codes, the constants and temporaries.
#pragma once

#include <immintrin.h>

#include "simd/qs8_gemm_tiles.h"
#include "simd/qs8_interleave_avx2.h"

namespace {

struct Qs8Avx2 {
  using Acc = __m256i;
  static constexpr size_t kVectorBytes = 32;
  static Acc Zero() { return _mm256_setzero_si256(); }
  static int32_t Reduce(Acc v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
  }
  // Adds the int16 pair sums of vpmaddubsw into int32 lanes.
  static Acc AddPairs(Acc acc, __m256i pairs) { return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1))); }
  static Acc AddByteSums(Acc acc, const int8_t* x) { return AddPairs(acc, _mm256_maddubs_epi16(_mm256_set1_epi8(1), LoadBytes(x))); }
  template <size_t cpb>
  static void Interleave(const int8_t* x, int8_t* out) { InterleaveActivations<cpb>(x, out, kVectorBytes); }
};

}  // namespace
