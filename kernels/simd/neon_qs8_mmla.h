// I8MM tiles for the int8-activation GEMMs: SMMLA multiplies a 2x8 int8 block (two rows, eight k) by an
// 8x2 block (two weight rows) into a 2x2 int32 tile {r0.c0, r0.c1, r1.c0, r1.c1}: twice SDOT's work per
// instruction, but only when there are two token rows. Compile with +dotprod+i8mm.
#pragma once

#include <arm_neon.h>

#include "simd/neon_qs8_gemm.h"

#if !defined(__ARM_FEATURE_MATMUL_INT8) || !defined(__ARM_FEATURE_DOTPROD)
#error "neon_qs8_mmla.h needs -march=...+dotprod+i8mm"
#endif

namespace {  // internal linkage: see neon_gemm.h

// One SMMLA operand from two rows: their k 0-7 halves (JoinLowHalves) or k 8-15 halves.
inline int8x16_t JoinLowHalves(int8x16_t first, int8x16_t second) {
  return vreinterpretq_s8_s64(vzip1q_s64(vreinterpretq_s64_s8(first), vreinterpretq_s64_s8(second)));
}
inline int8x16_t JoinHighHalves(int8x16_t first, int8x16_t second) {
  return vreinterpretq_s8_s64(vzip2q_s64(vreinterpretq_s64_s8(first), vreinterpretq_s64_s8(second)));
}

// kRows x kCols dot products as 2x2 SMMLA tiles (row pair p, column pair q).
template <class Codes, int kRowCount, int kColCount>
struct Qs8MmlaTile {
  static_assert(kRowCount % 2 == 0 && kColCount % 2 == 0, "SMMLA tiles are 2x2");
  using Packing = Codes;
  using Sum = int32_t;
  static constexpr int kRows = kRowCount, kCols = kColCount;
  static constexpr int kVectors = Codes::kVectors;

  int32x4_t acc[kRows / 2][kCols / 2];

  Qs8MmlaTile() {
    EDGELM_NEON_UNROLL for (int p = 0; p < kRows / 2; ++p)
      EDGELM_NEON_UNROLL for (int q = 0; q < kCols / 2; ++q) acc[p][q] = vdupq_n_s32(0);
  }

  void Step(const int8_t* const* x, const uint8_t* const* w) {
    int8x16_t x_low[kRows / 2][kVectors], x_high[kRows / 2][kVectors];
    EDGELM_NEON_UNROLL for (int p = 0; p < kRows / 2; ++p) {
      int8x16_t first[kVectors], second[kVectors];
      Codes::LoadX(x[2 * p], first);
      Codes::LoadX(x[2 * p + 1], second);
      EDGELM_NEON_UNROLL for (int v = 0; v < kVectors; ++v) {
        x_low[p][v] = JoinLowHalves(first[v], second[v]);
        x_high[p][v] = JoinHighHalves(first[v], second[v]);
      }
    }
    EDGELM_NEON_UNROLL for (int q = 0; q < kCols / 2; ++q) {
      int8x16_t first[kVectors], second[kVectors];
      Codes::DecodeW(w[2 * q], first);
      Codes::DecodeW(w[2 * q + 1], second);
      EDGELM_NEON_UNROLL for (int v = 0; v < kVectors; ++v) {
        const int8x16_t w_low = JoinLowHalves(first[v], second[v]);
        const int8x16_t w_high = JoinHighHalves(first[v], second[v]);
        EDGELM_NEON_UNROLL for (int p = 0; p < kRows / 2; ++p)
          acc[p][q] = vmmlaq_s32(vmmlaq_s32(acc[p][q], x_low[p][v], w_low), x_high[p][v], w_high);
      }
    }
  }

  void Sums(int32_t out[kRows][kCols]) const {
    EDGELM_NEON_UNROLL for (int p = 0; p < kRows / 2; ++p)
      EDGELM_NEON_UNROLL for (int q = 0; q < kCols / 2; ++q) {
        int32_t tile[4];
        vst1q_s32(tile, acc[p][q]);
        out[2 * p][2 * q] = tile[0];
        out[2 * p][2 * q + 1] = tile[1];
        out[2 * p + 1][2 * q] = tile[2];
        out[2 * p + 1][2 * q + 1] = tile[3];
      }
  }
};

// Tokens four, then two at a time with SMMLA; a last odd token uses SDOT, as SMMLA would waste half its
// products on it (M = 1 decode is pure SDOT).
template <class Codes>
void Qs8MmlaRows(const Qs8GemmArgs& a) {
  size_t m = 0;
  for (; m + 4 <= a.M; m += 4) Qs8TileRows<Qs8MmlaTile<Codes, 4, 4>>(a, m);
  if (m + 2 <= a.M) {
    Qs8TileRows<Qs8MmlaTile<Codes, 2, 4>>(a, m);
    m += 2;
  }
  Qs8SingleRows<SdotEngine::Decoder<Codes>, SdotEngine>(a, m);
}

template <class Codes>
void Qs8MmlaGemm(const Qs8GemmArgs& a) {
  if constexpr (Codes::kXPadded)
    WithLaneOrderX<Codes>(a, 0, [](const Qs8GemmArgs& lane, int8_t*) { Qs8MmlaRows<Codes>(lane); });
  else
    Qs8MmlaRows<Codes>(a);
}

}  // namespace
