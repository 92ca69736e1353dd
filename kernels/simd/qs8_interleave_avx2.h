// AVX2 repacking of int8 activations into the order packed I4/I2 weight codes come out of a vector
// (see qs8_gemm_tiles.h): for 32 consecutive groups of `cpb` values, x[cpb*b + j] goes to
// out[j * group_stride + b], b < 32. The AVX-512 kernels run it on both halves of a 64-byte chunk.
#pragma once

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

namespace {

inline __m256i LoadBytes(const int8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline void StoreBytes(int8_t* p, __m256i v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }

// Reads 32 * cpb bytes at x.
template <size_t cpb>
void InterleaveActivations(const int8_t* x, int8_t* out, size_t group_stride) {
  static_assert(cpb == 1 || cpb == 2 || cpb == 4, "codes per byte");
  if constexpr (cpb == 1) {
    StoreBytes(out, LoadBytes(x));
  } else if constexpr (cpb == 2) {
    // Per 128-bit lane: 8 even bytes, then 8 odd ones; then gather the even/odd qwords of both lanes.
    const __m256i split = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,  //
                                           0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    const __m256i a = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(LoadBytes(x), split), _MM_SHUFFLE(3, 1, 2, 0));
    const __m256i b = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(LoadBytes(x + 32), split), _MM_SHUFFLE(3, 1, 2, 0));
    StoreBytes(out, _mm256_permute2x128_si256(a, b, 0x20));
    StoreBytes(out + group_stride, _mm256_permute2x128_si256(a, b, 0x31));
  } else {
    // Per lane: dword j = byte j of the lane's four groups; then qword j = byte j of a vector's eight
    // groups; then a 4x4 transpose of qwords across the four vectors.
    const __m256i split = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,  //
                                           0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    const __m256i pair_lanes = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    __m256i v[4];
    for (int i = 0; i < 4; ++i)
      v[i] = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(LoadBytes(x + 32 * i), split), pair_lanes);
    const __m256i q02_01 = _mm256_unpacklo_epi64(v[0], v[1]), q13_01 = _mm256_unpackhi_epi64(v[0], v[1]);
    const __m256i q02_23 = _mm256_unpacklo_epi64(v[2], v[3]), q13_23 = _mm256_unpackhi_epi64(v[2], v[3]);
    StoreBytes(out, _mm256_permute2x128_si256(q02_01, q02_23, 0x20));
    StoreBytes(out + group_stride, _mm256_permute2x128_si256(q13_01, q13_23, 0x20));
    StoreBytes(out + 2 * group_stride, _mm256_permute2x128_si256(q02_01, q02_23, 0x31));
    StoreBytes(out + 3 * group_stride, _mm256_permute2x128_si256(q13_01, q13_23, 0x31));
  }
}

}  // namespace
