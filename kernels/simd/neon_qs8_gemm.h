// NEON int8-activation x {8, 4, 2}-bit-weight GEMM (qs8_qc*w_gemm in gemm.h): weight-code unpacking,
// the multiply-accumulate engines (plain NEON, SDOT) and the row/column tiling. Integer sums are exact,
// so every variant is bit-identical to the scalar reference.
#pragma once

#include <arm_neon.h>
#include <stddef.h>
#include <stdint.h>

#include "simd/neon_gemm.h"

namespace {  // internal linkage: see neon_gemm.h

// Weight codes of one step as kVectors int8x16 vectors, and the step's activations in the same lane
// order: sum_k x[k]*w[k] == sum over vectors and lanes of x*w. Sub-byte codes are unpacked by bit position
// (all low nibbles, then all high nibbles), so the activations are de-interleaved to match with one
// VLD2/VLD4 per row rather than re-interleaving the codes of every column.
struct I8Codes {
  static constexpr size_t kK = 16;
  static constexpr int kVectors = 1;
  static constexpr int kMaxMagnitude = 128;  // largest |code|
  static constexpr size_t Bytes(size_t k) { return k; }
  static void LoadX(const int8_t* x, int8x16_t out[1]) { out[0] = vld1q_s8(x); }
  static void DecodeW(const uint8_t* w, int8x16_t out[1]) { out[0] = vreinterpretq_s8_u8(vld1q_u8(w)); }
};

// Two's complement nibbles, even k in the low nibble.
struct I4Codes {
  static constexpr size_t kK = 32;
  static constexpr int kVectors = 2;
  static constexpr int kMaxMagnitude = 8;
  static constexpr size_t Bytes(size_t k) { return (k + 1) / 2; }
  static void LoadX(const int8_t* x, int8x16_t out[2]) {
    const int8x16x2_t even_odd = vld2q_s8(x);
    out[0] = even_odd.val[0];
    out[1] = even_odd.val[1];
  }
  static void DecodeW(const uint8_t* w, int8x16_t out[2]) {
    const int8x16_t bytes = vreinterpretq_s8_u8(vld1q_u8(w));
    out[0] = vshrq_n_s8(vshlq_n_s8(bytes, 4), 4);  // arithmetic shifts sign-extend the field
    out[1] = vshrq_n_s8(bytes, 4);
  }
};

// Two's complement crumbs, k%4 in bits 2*(k%4).
struct I2Codes {
  static constexpr size_t kK = 64;
  static constexpr int kVectors = 4;
  static constexpr int kMaxMagnitude = 2;
  static constexpr size_t Bytes(size_t k) { return (k + 3) / 4; }
  static void LoadX(const int8_t* x, int8x16_t out[4]) {
    const int8x16x4_t by_position = vld4q_s8(x);
    EDGELM_NEON_UNROLL for (int i = 0; i < 4; ++i) out[i] = by_position.val[i];
  }
  static void DecodeW(const uint8_t* w, int8x16_t out[4]) {
    const int8x16_t bytes = vreinterpretq_s8_u8(vld1q_u8(w));
    out[0] = vshrq_n_s8(vshlq_n_s8(bytes, 6), 6);
    out[1] = vshrq_n_s8(vshlq_n_s8(bytes, 4), 6);
    out[2] = vshrq_n_s8(vshlq_n_s8(bytes, 2), 6);
    out[3] = vshrq_n_s8(bytes, 6);
  }
};

// ARMv8.0: 8x8 -> 16-bit widening multiplies, then one pairwise widening add into the int32 lanes.
// Each int16 lane sums 2*kVectors products of |x| <= 127 (the quantizer's range, never -128).
struct MullEngine {
  // 4-row tiles this wide keep x, a column's codes, the int16 products and the accumulators in the 32
  // vector registers (no spills in the k loop with GCC 12 and clang 14).
  static constexpr int ColsWith4Rows(int vectors) { return vectors == 1 ? 3 : 4 / vectors; }

  template <class Codes>
  static int32x4_t Accumulate(int32x4_t acc, const int8x16_t* x, const int8x16_t* w) {
    static_assert(2 * Codes::kVectors * 127 * Codes::kMaxMagnitude <= 32767, "int16 partial sums overflow");
    int16x8_t products = vmull_s8(vget_low_s8(x[0]), vget_low_s8(w[0]));
    products = vmlal_high_s8(products, x[0], w[0]);
    EDGELM_NEON_UNROLL for (int v = 1; v < Codes::kVectors; ++v) {
      products = vmlal_s8(products, vget_low_s8(x[v]), vget_low_s8(w[v]));
      products = vmlal_high_s8(products, x[v], w[v]);
    }
    return vpadalq_s16(acc, products);
  }
};

#if defined(__ARM_FEATURE_DOTPROD)
// ARMv8.2 dotprod: SDOT adds four 4-long int8 dot products into the int32 lanes.
struct SdotEngine {
  static constexpr int ColsWith4Rows(int vectors) { return vectors == 4 ? 2 : 4; }

  template <class Codes>
  static int32x4_t Accumulate(int32x4_t acc, const int8x16_t* x, const int8x16_t* w) {
    EDGELM_NEON_UNROLL for (int v = 0; v < Codes::kVectors; ++v) acc = vdotq_s32(acc, x[v], w[v]);
    return acc;
  }
};
#endif

// kRows x kCols dot products, one int32x4 accumulator each. A column's codes are unpacked once per step
// and reused for every row.
template <class Codes, class Engine, int kRowCount, int kColCount>
struct Qs8DotTile {
  using Packing = Codes;
  using Sum = int32_t;
  static constexpr int kRows = kRowCount, kCols = kColCount;

  int32x4_t acc[kRows][kCols];

  Qs8DotTile() {
    EDGELM_NEON_UNROLL for (int r = 0; r < kRows; ++r)
      EDGELM_NEON_UNROLL for (int c = 0; c < kCols; ++c) acc[r][c] = vdupq_n_s32(0);
  }

  void Step(const int8_t* const* x, const uint8_t* const* w) {
    int8x16_t x_codes[kRows][Codes::kVectors];
    EDGELM_NEON_UNROLL for (int r = 0; r < kRows; ++r) Codes::LoadX(x[r], x_codes[r]);
    EDGELM_NEON_UNROLL for (int c = 0; c < kCols; ++c) {
      int8x16_t w_codes[Codes::kVectors];
      Codes::DecodeW(w[c], w_codes);
      EDGELM_NEON_UNROLL for (int r = 0; r < kRows; ++r) {
        acc[r][c] = Engine::template Accumulate<Codes>(acc[r][c], x_codes[r], w_codes);
      }
    }
  }

  void Sums(int32_t out[kRows][kCols]) const {
    EDGELM_NEON_UNROLL for (int r = 0; r < kRows; ++r)
      EDGELM_NEON_UNROLL for (int c = 0; c < kCols; ++c) out[r][c] = vaddvq_s32(acc[r][c]);
  }
};

struct Qs8GemmArgs {
  size_t M, N, K;
  const int8_t* x;
  size_t x_stride;
  const uint8_t* w;
  size_t w_row_bytes;
  const float* w_scale;
  const float* x_scale;
  float* y;
  size_t y_stride;
};

// Rows m0 .. m0+kRows-1 of y with `Tile`.
template <class Tile>
void Qs8TileRows(const Qs8GemmArgs& a, size_t m0) {
  TileRows<Tile>(a.x + m0 * a.x_stride, a.x_stride, a.w, a.w_row_bytes, a.N, a.K, [&](int r, size_t n, int32_t acc) {
    const size_t m = m0 + r;
    // The reference's expression: two separately rounded products, nothing to fuse.
    a.y[m * a.y_stride + n] = static_cast<float>(acc) * a.w_scale[n] * a.x_scale[m];
  });
}

// Tokens m0 .. M-1 one at a time: eight columns per tile (eight independent accumulator chains) when a
// column's step is one vector, four when it is several (GCC 12 spills wider ones).
template <class Codes, class Engine>
void Qs8SingleRows(const Qs8GemmArgs& a, size_t m0) {
  constexpr int kCols = Codes::kVectors == 1 ? 8 : 4;
  for (size_t m = m0; m < a.M; ++m) Qs8TileRows<Qs8DotTile<Codes, Engine, 1, kCols>>(a, m);
}

// Tokens four at a time (each column's codes unpacked once per four tokens), then the rest.
template <class Codes, class Engine>
void Qs8DotGemm(const Qs8GemmArgs& a) {
  constexpr int kCols = Engine::ColsWith4Rows(Codes::kVectors);
  size_t m = 0;
  for (; m + 4 <= a.M; m += 4) Qs8TileRows<Qs8DotTile<Codes, Engine, 4, kCols>>(a, m);
  Qs8SingleRows<Codes, Engine>(a, m);
}

}  // namespace
