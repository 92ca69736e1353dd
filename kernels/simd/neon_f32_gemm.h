// NEON float-activation GEMM (f32_*w_gemm in gemm.h) over any weight format that decodes to f32.
// Each output is one float32x4 accumulator: lane j sums x[k]*w[k] for k = j mod 4 in increasing k with
// FMA, then the lanes are added pairwise. The order does not depend on M or on the tile, so a token's
// result is the same in a batch and alone (chunked prefill == decode). Differs from the scalar
// reference only by rounding (FMA, four lanes instead of eight).
//
// A Weights format provides kK (weights per step, a multiple of 4), kVectors = kK / 4, Bytes(k)
// (packed bytes of the first k weights of a row) and Decode(w, out[kVectors]) (one step to f32).
#pragma once

#include <arm_neon.h>
#include <stddef.h>
#include <stdint.h>

#include "simd/neon_gemm.h"

namespace {  // internal linkage: see neon_gemm.h

// Sixteen small integer codes times a scale, as exactly as the references compute float(q) * scale
// (block formats: Q4_0, Q8_0, Q6_K).
inline void ScaleCodes16(int8x16_t q, float32x4_t scale, float32x4_t out[4]) {
  const int16x8_t low = vmovl_s8(vget_low_s8(q)), high = vmovl_high_s8(q);
  out[0] = vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(low))), scale);
  out[1] = vmulq_f32(vcvtq_f32_s32(vmovl_high_s16(low)), scale);
  out[2] = vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(high))), scale);
  out[3] = vmulq_f32(vcvtq_f32_s32(vmovl_high_s16(high)), scale);
}

// kRows x kCols dot products. A column's step is decoded once and reused for every row; activations
// are re-read from L1 per column so that wide formats (Q4_0: 8 vectors a step) fit the registers.
template <class Weights, int kRowCount, int kColCount>
struct F32DotTile {
  using Packing = Weights;
  using Sum = float;
  static constexpr int kRows = kRowCount, kCols = kColCount;

  float32x4_t acc[kRows][kCols];

  F32DotTile() {
    EDGELM_NEON_UNROLL for (int r = 0; r < kRows; ++r)
      EDGELM_NEON_UNROLL for (int c = 0; c < kCols; ++c) acc[r][c] = vdupq_n_f32(0.0f);
  }

  void Step(const float* const* x, const uint8_t* const* w) {
    EDGELM_NEON_UNROLL for (int c = 0; c < kCols; ++c) {
      float32x4_t w_values[Weights::kVectors];
      Weights::Decode(w[c], w_values);
      EDGELM_NEON_UNROLL for (int r = 0; r < kRows; ++r) {
        EDGELM_NEON_UNROLL for (int v = 0; v < Weights::kVectors; ++v) {
          acc[r][c] = vfmaq_f32(acc[r][c], vld1q_f32(x[r] + 4 * v), w_values[v]);
        }
      }
    }
  }

  void Sums(float out[kRows][kCols]) const {
    EDGELM_NEON_UNROLL for (int r = 0; r < kRows; ++r)
      EDGELM_NEON_UNROLL for (int c = 0; c < kCols; ++c) out[r][c] = vaddvq_f32(acc[r][c]);
  }
};

struct F32GemmArgs {
  size_t M, N, K;
  const float* x;
  size_t x_stride;
  const uint8_t* w;
  size_t w_row_bytes;
  float* y;
  size_t y_stride;
};

// Rows m0 .. m0+kRows-1 of y with `Tile`.
template <class Tile>
void F32TileRows(const F32GemmArgs& a, size_t m0) {
  TileRows<Tile>(a.x + m0 * a.x_stride, a.x_stride, a.w, a.w_row_bytes, a.N, a.K,
                 [&](int r, size_t n, float sum) { a.y[(m0 + r) * a.y_stride + n] = sum; });
}

// Tokens four at a time (each weight decoded once per four tokens), the rest one at a time with eight
// columns per tile (eight independent FMA chains). Q4_0 steps take 8 vectors: its tiles are half as
// wide to stay in registers.
template <class Weights>
void F32Gemm(const F32GemmArgs& a) {
  constexpr int kCols = Weights::kVectors == 2 ? 4 : 2;
  size_t m = 0;
  for (; m + 4 <= a.M; m += 4) F32TileRows<F32DotTile<Weights, 4, kCols>>(a, m);
  for (; m < a.M; ++m) F32TileRows<F32DotTile<Weights, 1, 2 * kCols>>(a, m);
}

}  // namespace
