// Decode attention over the rows a KV cache stores (kernels in kv-attention/).
//
// One cached head of d values (a "record") is, by format:
//   F32   d floats
//   BF16  d bfloat16 values
//   I8    d int8 codes, then one f32 scale (absent when the layer has a static scale: static_scale > 0)
//   I4    d/2 bytes (value e in the low nibble when e is even, two's complement), then d/32 f32 scales,
//         one per 32 consecutive values
// A kernel reads n records at rows, rows + row_stride, ... (bytes; records need no alignment).
// d must be a multiple of 8 (of 32 for I4).
//
// Every variant computes identical results: products are fused multiply-adds; a dot product sums
// in eight lanes (lane l takes e = l mod 8), reduced as ((l0+l1)+(l2+l3)) + ((l4+l5)+(l6+l7)); I4
// values are code * scale before the product; an I8 row scale multiplies the finished dot product
// and, for values, the weight p before its fused multiply-add.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum edgelm_kv_format {
  EDGELM_KV_FORMAT_F32 = 0,
  EDGELM_KV_FORMAT_BF16 = 1,
  EDGELM_KV_FORMAT_I8 = 2,
  EDGELM_KV_FORMAT_I4 = 3,
  EDGELM_KV_FORMAT_COUNT = 4
} edgelm_kv_format;

// scores[g * scores_stride + j] = q[g] . K_j  for g < group, j < n; q holds group heads of d floats.
typedef void (*f32_kv_scores_fn)(size_t n, size_t d, size_t group, const float* q, const uint8_t* rows,
                                 size_t row_stride, float static_scale, float* scores, size_t scores_stride);

// out[g * d + e] += p[g * p_stride + j] * V_j[e], one fused multiply-add per j in increasing order.
typedef void (*f32_kv_accumulate_fn)(size_t n, size_t d, size_t group, const float* p, size_t p_stride,
                                     const uint8_t* rows, size_t row_stride, float static_scale, float* out);

#define EDGELM_DECLARE_KV_ATTENTION(variant)                                                                   \
  void edgelm_f32_kvf32_scores_##variant(size_t n, size_t d, size_t group, const float* q,                     \
                                         const uint8_t* rows, size_t row_stride, float static_scale,           \
                                         float* scores, size_t scores_stride);                                 \
  void edgelm_f32_kvbf16_scores_##variant(size_t n, size_t d, size_t group, const float* q,                    \
                                          const uint8_t* rows, size_t row_stride, float static_scale,          \
                                          float* scores, size_t scores_stride);                                \
  void edgelm_f32_kvi8_scores_##variant(size_t n, size_t d, size_t group, const float* q, const uint8_t* rows, \
                                        size_t row_stride, float static_scale, float* scores,                  \
                                        size_t scores_stride);                                                 \
  void edgelm_f32_kvi4_scores_##variant(size_t n, size_t d, size_t group, const float* q, const uint8_t* rows, \
                                        size_t row_stride, float static_scale, float* scores,                  \
                                        size_t scores_stride);                                                 \
  void edgelm_f32_kvf32_accumulate_##variant(size_t n, size_t d, size_t group, const float* p,                 \
                                             size_t p_stride, const uint8_t* rows, size_t row_stride,          \
                                             float static_scale, float* out);                                  \
  void edgelm_f32_kvbf16_accumulate_##variant(size_t n, size_t d, size_t group, const float* p,                \
                                              size_t p_stride, const uint8_t* rows, size_t row_stride,         \
                                              float static_scale, float* out);                                 \
  void edgelm_f32_kvi8_accumulate_##variant(size_t n, size_t d, size_t group, const float* p, size_t p_stride, \
                                            const uint8_t* rows, size_t row_stride, float static_scale,        \
                                            float* out);                                                       \
  void edgelm_f32_kvi4_accumulate_##variant(size_t n, size_t d, size_t group, const float* p, size_t p_stride, \
                                            const uint8_t* rows, size_t row_stride, float static_scale,        \
                                            float* out);

EDGELM_DECLARE_KV_ATTENTION(scalar)
#if defined(__x86_64__) || defined(_M_X64)
EDGELM_DECLARE_KV_ATTENTION(avx2)
EDGELM_DECLARE_KV_ATTENTION(avx512f)
#endif
#if defined(__aarch64__)
EDGELM_DECLARE_KV_ATTENTION(neon)
#endif

#ifdef __cplusplus
}
#endif
