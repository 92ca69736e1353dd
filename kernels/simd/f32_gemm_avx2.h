// Register-tiled AVX2/FMA driver shared by the float-activation kernels (gemm.h's f32_gemm_fn). A
// weight-format policy P supplies:
//   kCodes, kChunkBytes               weights per chunk (a multiple of 8) and their packed bytes
//   Codes Decode(const uint8_t*)      one chunk of one row, decoded once for all the tile's token rows
//   __m256 Accumulate(__m256, const Codes&, const float* x_chunk)   adds the chunk's dot products
//   kRaggedK, float DecodeOne(const uint8_t* row, size_t k)   whether K % kCodes may be nonzero, and
//                                     the scalar decode for that tail
//   kMR x kNR prefill tile, kGemvNR for M == 1 (16 ymm: accumulators + one row's codes + temporaries)
// Results differ from the scalar reference only in rounding: the summation order, and (Q4_0) where the
// block scale multiplies.
// `static`/anonymous for the reason given in qs8_gemm_tiles.h.
#pragma once

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

namespace {

inline float SumLanes(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// The decoded form of a block of 32 codes sharing one scale (Q4_0, Q8_0), and its accumulation:
// acc + d * sum_k q[k] * x[k], the block's products summed before the scale multiplies.
struct ScaledBlock32 {
  __m256 q[4];  // codes k = 0..7, 8..15, 16..23, 24..31
  __m256 d;
};

inline __m256 AccumulateBlock32(__m256 acc, const ScaledBlock32& c, const float* x) {
  __m256 even = _mm256_mul_ps(c.q[0], _mm256_loadu_ps(x));
  __m256 odd = _mm256_mul_ps(c.q[1], _mm256_loadu_ps(x + 8));
  even = _mm256_fmadd_ps(c.q[2], _mm256_loadu_ps(x + 16), even);
  odd = _mm256_fmadd_ps(c.q[3], _mm256_loadu_ps(x + 24), odd);
  return _mm256_fmadd_ps(c.d, _mm256_add_ps(even, odd), acc);
}

// Dot products of MR token rows with NR weight rows, each weight chunk decoded once per tile.
template <class P, int MR, int NR>
void F32Tile(size_t K, const float* x, size_t x_stride, const uint8_t* w, size_t w_row_bytes, float* y,
             size_t y_stride) {
  __m256 acc[MR][NR];
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n) acc[m][n] = _mm256_setzero_ps();
  const size_t chunks = K / P::kCodes;
  for (size_t c = 0; c < chunks; ++c)
    for (int n = 0; n < NR; ++n) {
      __builtin_prefetch(w + NR * w_row_bytes + (c * NR + n) * P::kChunkBytes);  // see TileDots in qs8_gemm_tiles.h
      const typename P::Codes codes = P::Decode(w + n * w_row_bytes + c * P::kChunkBytes);
      for (int m = 0; m < MR; ++m) acc[m][n] = P::Accumulate(acc[m][n], codes, x + m * x_stride + c * P::kCodes);
    }
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n) {
      float sum = SumLanes(acc[m][n]);
      if constexpr (P::kRaggedK)
        for (size_t k = chunks * P::kCodes; k < K; ++k) sum += x[m * x_stride + k] * P::DecodeOne(w + n * w_row_bytes, k);
      y[m * y_stride + n] = sum;
    }
}

template <class P, int MR, int NR>
void F32Rows(size_t rows, size_t K, const float* x, size_t x_stride, const uint8_t* w, size_t w_row_bytes, float* y,
             size_t y_stride) {
  if constexpr (MR > 1) {
    if (rows < MR) return F32Rows<P, MR - 1, NR>(rows, K, x, x_stride, w, w_row_bytes, y, y_stride);
  }
  F32Tile<P, MR, NR>(K, x, x_stride, w, w_row_bytes, y, y_stride);
}

template <class P, int MR, int NR>
void F32Tiles(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w, size_t w_row_bytes,
              float* y, size_t y_stride) {
  size_t n0 = 0;
  for (; n0 + NR <= N; n0 += NR)
    for (size_t m0 = 0; m0 < M; m0 += MR)
      F32Rows<P, MR, NR>(M - m0 < MR ? M - m0 : MR, K, x + m0 * x_stride, x_stride, w + n0 * w_row_bytes,
                         w_row_bytes, y + m0 * y_stride + n0, y_stride);
  for (; n0 < N; ++n0)
    for (size_t m0 = 0; m0 < M; m0 += MR)
      F32Rows<P, MR, 1>(M - m0 < MR ? M - m0 : MR, K, x + m0 * x_stride, x_stride, w + n0 * w_row_bytes,
                        w_row_bytes, y + m0 * y_stride + n0, y_stride);
}

template <class P>
void F32Gemm(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w, size_t w_row_bytes,
             float* y, size_t y_stride) {
  if (M == 1)
    F32Tiles<P, 1, P::kGemvNR>(M, N, K, x, x_stride, w, w_row_bytes, y, y_stride);
  else
    F32Tiles<P, P::kMR, P::kNR>(M, N, K, x, x_stride, w, w_row_bytes, y, y_stride);
}

// Policy for formats with one 8-lane vector per chunk.
struct F32Lanes8 {
  static constexpr size_t kCodes = 8;
  static constexpr bool kRaggedK = true;
  static constexpr int kMR = 4, kNR = 3, kGemvNR = 4;
  struct Codes {
    __m256 w;
  };
  static __m256 Accumulate(__m256 acc, const Codes& c, const float* x) { return _mm256_fmadd_ps(c.w, _mm256_loadu_ps(x), acc); }
};

}  // namespace
