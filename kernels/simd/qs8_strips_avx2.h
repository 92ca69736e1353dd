// AVX2 GEMM over channel strips (gemm.h): a 64-byte block is two vectors of 8 channels. The dtype
// policies of the row-major kernels (qs8_gemm_avx2.h) decode and multiply them unchanged: their
// Accumulate meets code plane j with the 32 activation bytes at x + 32 j, so each block's activations
// are expanded into that form as the block is reached (ExpandBlock): expanding whole rows up front took
// 8 bytes per activation, and a long row (K = 12288: 96 KB) left L1 and halved the GEMV. Every
// vpmaddubsw then feeds 8 channels, and a GEMV reads each strip as one linear stream.
#pragma once

#include "simd/qs8_gemm_avx2.h"

namespace {

constexpr size_t kAvx2StripLanes = 8, kAvx2StripMR = 4;

struct Qs8StripsArgs {
  size_t blocks, x_stride;  // x: rows of x_stride bytes, zero-padded to whole blocks
  const uint8_t* strips;
  size_t strip_bytes;
  const int8_t* x;
  const int32_t* x_sum;
  const float* w_scale;
  const float* x_scale;
  float* y;
  size_t y_stride;
};

// y[m][n, n + min(valid, 8)) from 8 channels' integer dots, scaled as the scalar reference does.
template <class P>
inline void StoreAvx2Lanes(const Qs8StripsArgs& a, __m256i acc, size_t m, size_t n, size_t valid) {
  const __m256i dots = _mm256_sub_epi32(acc, _mm256_set1_epi32(P::kOffset * a.x_sum[m]));
  float* y = a.y + m * a.y_stride + n;
  const float* w_scale = a.w_scale + n;
  const float x_scale = a.x_scale[m];
  if (valid < kAvx2StripLanes) {  // the last channels of the matrix
    alignas(32) int32_t lanes[kAvx2StripLanes];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), dots);
    for (size_t i = 0; i < valid; ++i) y[i] = static_cast<float>(lanes[i]) * w_scale[i] * x_scale;
    return;
  }
  const __m256 scaled = _mm256_mul_ps(_mm256_cvtepi32_ps(dots), _mm256_loadu_ps(w_scale));
  _mm256_storeu_ps(y, _mm256_mul_ps(scaled, _mm256_set1_ps(x_scale)));
}

// Block b's activations of one token (a padded row), expanded: plane j's 32 bytes are activation dword
// b * cpb + j eight times, as Accumulate reads them.
template <class P>
inline void ExpandBlock(const int8_t* x, size_t b, int8_t* expanded) {
  for (size_t j = 0; j < P::kCodesPerByte; ++j) {
    int32_t dword;
    memcpy(&dword, x + 4 * (b * P::kCodesPerByte + j), 4);
    _mm256_store_si256(reinterpret_cast<__m256i*>(expanded + 32 * j), _mm256_set1_epi32(dword));
  }
}

// Decode: the 16 channels of strip `s`, both halves of each block in turn; two accumulators per half.
template <class P>
void Avx2StripGemv(const Qs8StripsArgs& a, size_t s, size_t cols) {
  const uint8_t* strip = a.strips + s * a.strip_bytes;
  typename P::Acc acc[2][2] = {{P::Zero(), P::Zero()}, {P::Zero(), P::Zero()}};
  for (size_t b = 0; b < a.blocks; ++b) {
    PrefetchStripAhead(strip + b * 64);
    alignas(32) int8_t expanded[32 * P::kCodesPerByte];
    ExpandBlock<P>(a.x, b, expanded);
    for (size_t h = 0; h < 2; ++h)
      acc[h][b % 2] = P::Accumulate(acc[h][b % 2], P::Decode(strip + b * 64 + h * 32), expanded);
  }
  for (size_t h = 0; h < 2 && h * kAvx2StripLanes < cols; ++h)
    StoreAvx2Lanes<P>(a, _mm256_add_epi32(acc[h][0], acc[h][1]), 0, s * 16 + h * kAvx2StripLanes,
                      cols - h * kAvx2StripLanes);
}

// Prefill: tokens [m0, m0 + MR) x the 16 channels of strip `s`; each half-block is decoded once per tile.
template <class P, int MR>
void Avx2StripTile(const Qs8StripsArgs& a, size_t m0, size_t s, size_t cols) {
  constexpr size_t C = 32 * P::kCodesPerByte;
  const uint8_t* strip = a.strips + s * a.strip_bytes;
  typename P::Acc acc[MR][2];
  for (int m = 0; m < MR; ++m) acc[m][0] = acc[m][1] = P::Zero();
  const int8_t* x = a.x + m0 * a.x_stride;
  for (size_t b = 0; b < a.blocks; ++b) {
    alignas(32) int8_t expanded[MR][C];
    for (int m = 0; m < MR; ++m) ExpandBlock<P>(x + m * a.x_stride, b, expanded[m]);
    for (size_t h = 0; h < 2; ++h) {
      const typename P::Codes codes = P::Decode(strip + b * 64 + h * 32);
      for (int m = 0; m < MR; ++m) acc[m][h] = P::Accumulate(acc[m][h], codes, expanded[m]);
    }
  }
  for (int m = 0; m < MR; ++m)
    for (size_t h = 0; h < 2 && h * kAvx2StripLanes < cols; ++h)
      StoreAvx2Lanes<P>(a, acc[m][h], m0 + m, s * 16 + h * kAvx2StripLanes, cols - h * kAvx2StripLanes);
}

template <class P, int MR>
void Avx2StripRows(const Qs8StripsArgs& a, size_t m0, size_t rows, size_t s, size_t cols) {
  if constexpr (MR > 1) {
    if (rows < MR) return Avx2StripRows<P, MR - 1>(a, m0, rows, s, cols);
  }
  Avx2StripTile<P, MR>(a, m0, s, cols);
}

// The qs8_qcxw_strips_gemm_fn contract.
template <class P>
void Qs8StripsGemmAvx2(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* strips,
                       const float* w_scale, const float* x_scale, float* y, size_t y_stride) {
  if (M == 0 || N == 0) return;
  constexpr size_t cpb = P::kCodesPerByte, V = P::kVectorBytes;
  const size_t blocks = (K + 4 * cpb - 1) / (4 * cpb), padded = blocks * cpb * 4;
  const size_t sum_bytes = (M * sizeof(int32_t) + 63) / 64 * 64;
  uint8_t* scratch = static_cast<uint8_t*>(edgelm_scratch(sum_bytes + M * padded));
  if (!scratch) {
    for (size_t m = 0; m < M; ++m) memset(y + m * y_stride, 0, N * sizeof(float));
    return;
  }
  int32_t* x_sum = reinterpret_cast<int32_t*>(scratch);
  int8_t* xe = reinterpret_cast<int8_t*>(scratch + sum_bytes);  // rows zero-padded to whole blocks
  for (size_t m = 0; m < M; ++m) {
    const int8_t* row = x + m * x_stride;
    typename P::Acc sums = P::Zero();
    size_t k = 0;
    for (; k + V <= K; k += V) sums = P::AddByteSums(sums, row + k);
    int32_t sum = P::Reduce(sums);
    for (; k < K; ++k) sum += row[k];
    x_sum[m] = sum;
    memcpy(xe + m * padded, row, K);
    memset(xe + m * padded + K, 0, padded - K);
  }
  const Qs8StripsArgs a{blocks, padded, strips, blocks * 64, xe, x_sum, w_scale, x_scale, y, y_stride};
  for (size_t s = 0; s * 16 < N; ++s) {
    const size_t cols = N - s * 16;
    if (M == 1) {
      Avx2StripGemv<P>(a, s, cols);
      continue;
    }
    for (size_t m0 = 0; m0 < M; m0 += kAvx2StripMR)
      Avx2StripRows<P, kAvx2StripMR>(a, m0, M - m0 < kAvx2StripMR ? M - m0 : kAvx2StripMR, s, cols);
  }
}

}  // namespace
