// AVX-512 VNNI pieces shared by the qs8 x {I8, I4, I2} kernels. vpdpbusd multiplies unsigned by signed
// bytes and adds groups of four straight into int32 lanes (no int16 saturation), so every dtype maps its
// codes to unsigned w + kOffset and the driver subtracts kOffset * sum(x). 32 zmm hold a 4x4 tile.
#pragma once

#include <immintrin.h>

#include "simd/qs8_gemm_tiles.h"
#include "simd/qs8_interleave_avx2.h"

namespace {

struct Qs8Avx512Vnni {
  using Acc = __m512i;
  static constexpr size_t kVectorBytes = 64;
  static constexpr int kMR = 4, kNR = 4, kGemvNR = 8;
  static Acc Zero() { return _mm512_setzero_si512(); }
  static int32_t Reduce(Acc v) {
    // Masked extracts: GCC 12's unmasked ones and casts trip -Wuninitialized inside its own headers.
    const __m256i s8 = _mm256_add_epi32(_mm512_maskz_extracti64x4_epi64(0xff, v, 0), _mm512_maskz_extracti64x4_epi64(0xff, v, 1));
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
  }
  static __m512i Load(const void* p) { return _mm512_loadu_si512(p); }
  static Acc AddByteSums(Acc acc, const int8_t* x) { return _mm512_dpbusd_epi32(acc, _mm512_set1_epi8(1), Load(x)); }
  // A 64-byte chunk is two AVX2 halves: groups b < 32 and b >= 32.
  template <size_t cpb>
  static void Interleave(const int8_t* x, int8_t* out) {
    InterleaveActivations<cpb>(x, out, kVectorBytes);
    InterleaveActivations<cpb>(x + 32 * cpb, out + 32, kVectorBytes);
  }
  // Biased codes of one chunk: XOR with 0x80 / 0x88 / 0xaa adds 2^(bits-1) to every two's-complement code.
  static __m512i LoadBiased(const uint8_t* p, char bias) { return _mm512_xor_si512(Load(p), _mm512_set1_epi8(bias)); }
};

}  // namespace
