// AVX-512F kv-attention kernels: two query heads per __m512, head g in the low 256 bits and g + 1 in
// the high ones. Each half is exactly the AVX2 kernels' eight lanes (same loads, same fused
// multiply-adds in the same order, the same reduction tree), so the results equal every other
// variant's (attention.h) with half the multiply-add instructions; the scores kernel also takes two
// keys per pass, so each query load feeds two of them. Compiled with -mavx512f (+ AVX2, FMA).

// GCC 12's 256-bit insert, extract and broadcast intrinsics start from _mm512_undefined_*() and, once
// inlined, trip -Wmaybe-uninitialized inside <avx512fintrin.h> (before any include, so it covers it).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include "simd/kv_attention.h"
#include "simd/kv_vec_avx2.h"

namespace {
namespace kv512 {

// Query heads are interleaved on the stack for the scores kernel: up to kMaxPairs pairs of kMaxD
// values (16 KB). Wider heads, and a group's odd last head, run the eight-lane kernels.
constexpr size_t kMaxD = 512;
constexpr int kMaxPairs = 4;

// Eight lanes in both halves; a pair of eight-lane halves; the high half.
inline __m512 Both(__m256 v) { return _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(v))); }
inline __m512 Pair(__m256 lo, __m256 hi) {
  return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(lo)), _mm256_castps_pd(hi), 1));
}
inline __m256 High(__m512 v) { return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)); }

// scores for keys j .. j + J - 1 and 2P heads; qi holds the heads interleaved (ScoresTile).
template <class Format, int P, int J>
void ScoresKeys(size_t d, const float* qi, const uint8_t* rows, size_t row_stride, float static_scale, size_t j,
                float* scores, size_t scores_stride) {
  __m512 acc[J][P];
  for (int k = 0; k < J; ++k)
    for (int p = 0; p < P; ++p) acc[k][p] = _mm512_setzero_ps();
  for (size_t e = 0; e < d; e += 8, qi += 16 * P) {
    __m512 key[J];
    for (int k = 0; k < J; ++k) key[k] = Both(Format::template Load<Avx2Vec>(rows + (j + k) * row_stride, e, d).v);
    for (int p = 0; p < P; ++p) {
      const __m512 q = _mm512_load_ps(qi + 16 * p);
      for (int k = 0; k < J; ++k) acc[k][p] = _mm512_fmadd_ps(q, key[k], acc[k][p]);
    }
  }
  for (int k = 0; k < J; ++k) {
    Avx2Vec halves[2 * P];
    for (int p = 0; p < P; ++p) {
      halves[2 * p] = {_mm512_castps512_ps256(acc[k][p])};
      halves[2 * p + 1] = {High(acc[k][p])};
    }
    float sums[2 * P];
    Avx2Vec::Reduce<2 * P>(halves, sums);
    const float scale = Format::RowScale(rows + (j + k) * row_stride, d, static_scale);
    for (int g = 0; g < 2 * P; ++g) scores[g * scores_stride + j + k] = sums[g] * scale;
  }
}

template <class Format, int P>
void ScoresTile(size_t n, size_t d, const float* q, const uint8_t* rows, size_t row_stride, float static_scale,
                float* scores, size_t scores_stride) {
  // Block (e / 8, p) of qi: head 2p's q[e, e + 8), then head 2p + 1's.
  alignas(64) float qi[kMaxD / 8 * kMaxPairs * 16];
  for (size_t e = 0; e < d; e += 8)
    for (int p = 0; p < P; ++p)
      _mm512_store_ps(qi + (e / 8 * P + p) * 16, Pair(_mm256_loadu_ps(q + 2 * p * d + e), _mm256_loadu_ps(q + (2 * p + 1) * d + e)));
  constexpr size_t kPrefetchRows = 8;  // as the eight-lane kernels
  size_t j = 0;
  for (; j + 2 <= n; j += 2) {
    if (j + kPrefetchRows < n)
      kv::PrefetchRecords<Format>(rows + (j + kPrefetchRows) * row_stride, n - j - kPrefetchRows < 2 ? 1 : 2, row_stride,
                                  d, static_scale);
    ScoresKeys<Format, P, 2>(d, qi, rows, row_stride, static_scale, j, scores, scores_stride);
  }
  if (j < n) ScoresKeys<Format, P, 1>(d, qi, rows, row_stride, static_scale, j, scores, scores_stride);
}

template <class Format, int P>
void AccumulateTile(size_t n, size_t d, const float* p, size_t p_stride, const uint8_t* rows, size_t row_stride,
                    float static_scale, float* out) {
  constexpr size_t kBlock = 16;  // as the eight-lane kernels: rows that stay in L1 across out's columns
  // weight[j][h]: key j's weight for head 2h in the low half, 2h + 1 in the high one.
  alignas(64) float weight[kBlock][P][16];
  for (size_t j0 = 0; j0 < n; j0 += kBlock) {
    const size_t count = n - j0 < kBlock ? n - j0 : kBlock;
    if (j0 + kBlock < n)
      kv::PrefetchRecords<Format>(rows + (j0 + kBlock) * row_stride, n - j0 - kBlock < kBlock ? n - j0 - kBlock : kBlock,
                                  row_stride, d, static_scale);
    for (size_t j = 0; j < count; ++j) {
      const float scale = Format::RowScale(rows + (j0 + j) * row_stride, d, static_scale);
      for (int h = 0; h < P; ++h)
        _mm512_store_ps(weight[j][h], Pair(_mm256_set1_ps(p[2 * h * p_stride + j0 + j] * scale),
                                           _mm256_set1_ps(p[(2 * h + 1) * p_stride + j0 + j] * scale)));
    }
    for (size_t e = 0; e < d; e += 8) {
      __m512 acc[P];
      for (int h = 0; h < P; ++h) acc[h] = Pair(_mm256_loadu_ps(out + 2 * h * d + e), _mm256_loadu_ps(out + (2 * h + 1) * d + e));
      for (size_t j = 0; j < count; ++j) {
        const __m512 v = Both(Format::template Load<Avx2Vec>(rows + (j0 + j) * row_stride, e, d).v);
        for (int h = 0; h < P; ++h) acc[h] = _mm512_fmadd_ps(_mm512_load_ps(weight[j][h]), v, acc[h]);
      }
      for (int h = 0; h < P; ++h) {
        _mm256_storeu_ps(out + 2 * h * d + e, _mm512_castps512_ps256(acc[h]));
        _mm256_storeu_ps(out + (2 * h + 1) * d + e, High(acc[h]));
      }
    }
  }
}

// Calls tile(Pairs<P>(), g0) over the group's heads in pairs, up to kMaxPairs at a time; returns the
// heads covered (all but an odd last one).
template <int P>
struct Pairs {
  static constexpr int value = P;
};
template <class Tile>
size_t ForEachPairTile(size_t group, Tile tile) {
  size_t g0 = 0;
  for (; group - g0 >= 2 * kMaxPairs; g0 += 2 * kMaxPairs) tile(Pairs<kMaxPairs>(), g0);
  switch ((group - g0) / 2) {
    case 3: tile(Pairs<3>(), g0); return g0 + 6;
    case 2: tile(Pairs<2>(), g0); return g0 + 4;
    case 1: tile(Pairs<1>(), g0); return g0 + 2;
    default: return g0;
  }
}

template <class Format>
void Scores(size_t n, size_t d, size_t group, const float* q, const uint8_t* rows, size_t row_stride,
            float static_scale, float* scores, size_t scores_stride) {
  if (d > kMaxD) return kv::Scores<Avx2Vec, Format>(n, d, group, q, rows, row_stride, static_scale, scores, scores_stride);
  const size_t g = ForEachPairTile(group, [&](auto pairs, size_t g0) {
    ScoresTile<Format, decltype(pairs)::value>(n, d, q + g0 * d, rows, row_stride, static_scale,
                                               scores + g0 * scores_stride, scores_stride);
  });
  if (g < group)
    kv::ScoresTile<Avx2Vec, Format, 1>(n, d, q + g * d, rows, row_stride, static_scale, scores + g * scores_stride,
                                       scores_stride);
}

template <class Format>
void Accumulate(size_t n, size_t d, size_t group, const float* p, size_t p_stride, const uint8_t* rows,
                size_t row_stride, float static_scale, float* out) {
  const size_t g = ForEachPairTile(group, [&](auto pairs, size_t g0) {
    AccumulateTile<Format, decltype(pairs)::value>(n, d, p + g0 * p_stride, p_stride, rows, row_stride, static_scale,
                                                   out + g0 * d);
  });
  if (g < group)
    kv::AccumulateTile<Avx2Vec, Format, 1>(n, d, p + g * p_stride, p_stride, rows, row_stride, static_scale, out + g * d);
}

}  // namespace kv512
}  // namespace

#define EDGELM_DEFINE_KV512_FORMAT(name, Format)                                                                 \
  extern "C" void edgelm_f32_kv##name##_scores_avx512f(size_t n, size_t d, size_t group, const float* q,        \
                                                       const uint8_t* rows, size_t row_stride, float static_scale, \
                                                       float* scores, size_t scores_stride) {                   \
    kv512::Scores<Format>(n, d, group, q, rows, row_stride, static_scale, scores, scores_stride);               \
  }                                                                                                             \
  extern "C" void edgelm_f32_kv##name##_accumulate_avx512f(size_t n, size_t d, size_t group, const float* p,    \
                                                           size_t p_stride, const uint8_t* rows,                \
                                                           size_t row_stride, float static_scale, float* out) { \
    kv512::Accumulate<Format>(n, d, group, p, p_stride, rows, row_stride, static_scale, out);                   \
  }

EDGELM_DEFINE_KV512_FORMAT(f32, kv::F32Format)
EDGELM_DEFINE_KV512_FORMAT(bf16, kv::BF16Format)
EDGELM_DEFINE_KV512_FORMAT(i8, kv::I8Format)
EDGELM_DEFINE_KV512_FORMAT(i4, kv::I4Format)
