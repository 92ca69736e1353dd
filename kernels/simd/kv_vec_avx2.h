// The AVX2 + FMA eight-lane vector of the kv-attention kernels (simd/kv_attention.h's V): the AVX2
// variant is built on it, and the AVX-512 one uses it for its record loads, reductions and odd heads.
// Include only from files compiled with at least -mavx2 -mfma.
#pragma once

#include <immintrin.h>
#include <stdint.h>

namespace {

struct Avx2Vec {
  __m256 v;

  static Avx2Vec Zero() { return {_mm256_setzero_ps()}; }
  static Avx2Vec LoadF32(const float* p) { return {_mm256_loadu_ps(p)}; }
  static Avx2Vec LoadBF16(const uint8_t* p) {
    const __m256i halves = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return {_mm256_castsi256_ps(_mm256_slli_epi32(halves, 16))};
  }
  static Avx2Vec LoadI8(const uint8_t* p) {
    return {_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))))};
  }
  // Four bytes to every lane, then lane l keeps nibble l: shift right by 4l, mask, sign-extend.
  static Avx2Vec LoadI4(const uint8_t* p) {
    int32_t word;
    __builtin_memcpy(&word, p, 4);
    const __m256i shifted = _mm256_srlv_epi32(_mm256_set1_epi32(word), _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28));
    const __m256i nibbles = _mm256_and_si256(shifted, _mm256_set1_epi32(0xf));
    const __m256i eight = _mm256_set1_epi32(8);
    return {_mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_xor_si256(nibbles, eight), eight))};
  }
  static Avx2Vec Mul(Avx2Vec a, float s) { return {_mm256_mul_ps(a.v, _mm256_set1_ps(s))}; }
  static Avx2Vec Fma(Avx2Vec a, Avx2Vec b, Avx2Vec acc) { return {_mm256_fmadd_ps(a.v, b.v, acc.v)}; }
  static Avx2Vec FmaScalar(float a, Avx2Vec b, Avx2Vec acc) { return {_mm256_fmadd_ps(_mm256_set1_ps(a), b.v, acc.v)}; }
  static void Store(float* p, Avx2Vec v) { _mm256_storeu_ps(p, v.v); }

  // Horizontal adds pair lanes (0,1), (2,3) then ((0,1),(2,3)) within each 128-bit half; adding the
  // halves finishes the tree. Four accumulators reduce together into one vector.
  template <int G>
  static void Reduce(const Avx2Vec* acc, float* sums) {
    alignas(32) float out[8];
    for (int g0 = 0; g0 < G; g0 += 4) {
      __m256 a[4];
      for (int i = 0; i < 4; ++i) a[i] = g0 + i < G ? acc[g0 + i].v : _mm256_setzero_ps();
      const __m256 pairs = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
      const __m128 total = _mm_add_ps(_mm256_castps256_ps128(pairs), _mm256_extractf128_ps(pairs, 1));
      _mm_store_ps(out + g0, total);
    }
    for (int g = 0; g < G; ++g) sums[g] = out[g];
  }
};

}  // namespace
