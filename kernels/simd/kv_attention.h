// The kv-attention kernels, written once over an eight-lane float vector type V; each variant file
// instantiates them with its own V (scalar, AVX2, NEON). Because every variant runs the same
// operations in the same order, their results are identical (the contract in attention.h).
//
// V provides: Zero, LoadF32(const float*), LoadBF16 / LoadI8 / LoadI4(const uint8_t*) (8 values),
// Mul(V, float), Fma(a, b, acc) = acc + a*b, FmaScalar(float a, V b, V acc), Store(float*, V), and
// Reduce<G>(const V* acc, float* sums): per vector ((l0+l1)+(l2+l3)) + ((l4+l5)+(l6+l7)).
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "attention.h"

// Compiler headers only (scripts/check-mobile-kernels.sh compiles the NEON file freestanding):
// __builtin_memcpy instead of <string.h>.
//
// Everything here has internal linkage (an anonymous namespace): each including file is built for a
// different ISA, and a shared out-of-line copy (a weak symbol kept once by the linker) could run AVX2
// code in the scalar fallback.
namespace {
namespace kv {

inline float LoadScale(const uint8_t* p) {
  float f;
  __builtin_memcpy(&f, p, 4);
  return f;
}

// How each record format yields 8 values from offset e, and the scale of a whole row.
struct F32Format {
  template <class V>
  static V Load(const uint8_t* record, size_t e, size_t) { return V::LoadF32(reinterpret_cast<const float*>(record) + e); }
  static float RowScale(const uint8_t*, size_t, float) { return 1.0f; }
  static size_t RecordBytes(size_t d, float) { return 4 * d; }
};
struct BF16Format {
  template <class V>
  static V Load(const uint8_t* record, size_t e, size_t) { return V::LoadBF16(record + 2 * e); }
  static float RowScale(const uint8_t*, size_t, float) { return 1.0f; }
  static size_t RecordBytes(size_t d, float) { return 2 * d; }
};
struct I8Format {
  template <class V>
  static V Load(const uint8_t* record, size_t e, size_t) { return V::LoadI8(record + e); }
  static float RowScale(const uint8_t* record, size_t d, float static_scale) {
    return static_scale > 0.0f ? static_scale : LoadScale(record + d);
  }
  static size_t RecordBytes(size_t d, float static_scale) { return d + (static_scale > 0.0f ? 0 : 4); }
};
struct I4Format {
  template <class V>
  static V Load(const uint8_t* record, size_t e, size_t d) {
    return V::Mul(V::LoadI4(record + e / 2), LoadScale(record + d / 2 + 4 * (e / 32)));
  }
  static float RowScale(const uint8_t*, size_t, float) { return 1.0f; }
  static size_t RecordBytes(size_t d, float) { return d / 2 + 4 * (d / 32); }
};

// Asks for `count` records from `rows` on. Decode streams the cache from DRAM (the weights evict it
// every token), and K and V records interleave, a pattern the hardware prefetchers follow poorly.
template <class Format>
void PrefetchRecords(const uint8_t* rows, size_t count, size_t row_stride, size_t d, float static_scale) {
  const size_t bytes = Format::RecordBytes(d, static_scale);
  for (size_t j = 0; j < count; ++j)
    for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch(rows + j * row_stride + b);
}

template <class V, class Format, int G>
void ScoresTile(size_t n, size_t d, const float* q, const uint8_t* rows, size_t row_stride, float static_scale,
                float* scores, size_t scores_stride) {
  constexpr size_t kPrefetchRows = 8;  // about 4 KB ahead at head_dim 512
  for (size_t j = 0; j < n; ++j) {
    const uint8_t* record = rows + j * row_stride;
    if (j + kPrefetchRows < n) PrefetchRecords<Format>(record + kPrefetchRows * row_stride, 1, row_stride, d, static_scale);
    V acc[G];
    for (int g = 0; g < G; ++g) acc[g] = V::Zero();
    for (size_t e = 0; e < d; e += 8) {
      const V k = Format::template Load<V>(record, e, d);
      for (int g = 0; g < G; ++g) acc[g] = V::Fma(V::LoadF32(q + g * d + e), k, acc[g]);
    }
    float sums[G];
    V::template Reduce<G>(acc, sums);
    const float scale = Format::RowScale(record, d, static_scale);
    for (int g = 0; g < G; ++g) scores[g * scores_stride + j] = sums[g] * scale;
  }
}

template <class V, class Format, int G>
void AccumulateTile(size_t n, size_t d, const float* p, size_t p_stride, const uint8_t* rows, size_t row_stride,
                    float static_scale, float* out) {
  // Rows in blocks small enough to stay in L1 while every 8-value column of out passes over them.
  constexpr size_t kBlock = 16;
  float weight[kBlock][G];
  for (size_t j0 = 0; j0 < n; j0 += kBlock) {
    const size_t count = n - j0 < kBlock ? n - j0 : kBlock;
    if (j0 + kBlock < n)
      PrefetchRecords<Format>(rows + (j0 + kBlock) * row_stride, n - j0 - kBlock < kBlock ? n - j0 - kBlock : kBlock,
                              row_stride, d, static_scale);
    for (size_t j = 0; j < count; ++j) {
      const float scale = Format::RowScale(rows + (j0 + j) * row_stride, d, static_scale);
      for (int g = 0; g < G; ++g) weight[j][g] = p[g * p_stride + j0 + j] * scale;
    }
    for (size_t e = 0; e < d; e += 8) {
      V acc[G];
      for (int g = 0; g < G; ++g) acc[g] = V::LoadF32(out + g * d + e);
      for (size_t j = 0; j < count; ++j) {
        const V v = Format::template Load<V>(rows + (j0 + j) * row_stride, e, d);
        for (int g = 0; g < G; ++g) acc[g] = V::FmaScalar(weight[j][g], v, acc[g]);
      }
      for (int g = 0; g < G; ++g) V::Store(out + g * d + e, acc[g]);
    }
  }
}

// A head count as a type, so a generic lambda can use it as a template argument.
template <int G>
struct Heads {
  static constexpr int value = G;
};

// Query heads in tiles of up to 8 (one accumulator register per head): calls tile(Heads<G>(), g0)
// for heads g0 .. g0 + G - 1.
template <int G = 8, class Tile>
void ForEachHeadTile(size_t group, size_t g0, Tile tile) {
  if constexpr (G > 0) {
    for (; group - g0 >= static_cast<size_t>(G); g0 += G) tile(Heads<G>(), g0);
    if (g0 < group) ForEachHeadTile<G - 1>(group, g0, tile);
  }
}

template <class V, class Format>
void Scores(size_t n, size_t d, size_t group, const float* q, const uint8_t* rows, size_t row_stride,
            float static_scale, float* scores, size_t scores_stride) {
  ForEachHeadTile(group, 0, [&](auto heads, size_t g0) {
    ScoresTile<V, Format, decltype(heads)::value>(n, d, q + g0 * d, rows, row_stride, static_scale,
                                                   scores + g0 * scores_stride, scores_stride);
  });
}

template <class V, class Format>
void Accumulate(size_t n, size_t d, size_t group, const float* p, size_t p_stride, const uint8_t* rows,
                size_t row_stride, float static_scale, float* out) {
  ForEachHeadTile(group, 0, [&](auto heads, size_t g0) {
    AccumulateTile<V, Format, decltype(heads)::value>(n, d, p + g0 * p_stride, p_stride, rows, row_stride,
                                                      static_scale, out + g0 * d);
  });
}

}  // namespace kv
}  // namespace

// Defines the scores and accumulate kernels of one record format, then all eight of a variant.
#define EDGELM_DEFINE_KV_FORMAT(variant, V, name, Format)                                                     \
  extern "C" void edgelm_f32_kv##name##_scores_##variant(size_t n, size_t d, size_t group, const float* q,    \
                                                         const uint8_t* rows, size_t row_stride,              \
                                                         float static_scale, float* scores,                   \
                                                         size_t scores_stride) {                              \
    kv::Scores<V, Format>(n, d, group, q, rows, row_stride, static_scale, scores, scores_stride);             \
  }                                                                                                           \
  extern "C" void edgelm_f32_kv##name##_accumulate_##variant(size_t n, size_t d, size_t group, const float* p, \
                                                             size_t p_stride, const uint8_t* rows,            \
                                                             size_t row_stride, float static_scale,           \
                                                             float* out) {                                    \
    kv::Accumulate<V, Format>(n, d, group, p, p_stride, rows, row_stride, static_scale, out);                 \
  }

#define EDGELM_DEFINE_KV_ATTENTION(variant, V)               \
  EDGELM_DEFINE_KV_FORMAT(variant, V, f32, kv::F32Format)   \
  EDGELM_DEFINE_KV_FORMAT(variant, V, bf16, kv::BF16Format) \
  EDGELM_DEFINE_KV_FORMAT(variant, V, i8, kv::I8Format)     \
  EDGELM_DEFINE_KV_FORMAT(variant, V, i4, kv::I4Format)
