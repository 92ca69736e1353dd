// NEON int8-activation x {8, 4, 2}-bit-weight GEMM (qs8_qc*w_gemm in gemm.h): weight-code unpacking,
// the multiply-accumulate engines (plain NEON, SDOT) and the row/column tiling. Integer sums are exact,
// so every variant is bit-identical to the scalar reference.
#pragma once

#include <arm_neon.h>
#include <stddef.h>
#include <stdint.h>

#include "simd/neon_gemm.h"
#include "simd/scratch.h"

namespace {  // internal linkage: see neon_gemm.h

// Weight codes of one step as kVectors int8x16 vectors, and the step's activations in the same lane
// order: sum_k x[k]*w[k] == sum over vectors and lanes of x*w. Sub-byte codes are unpacked by bit position
// (all low nibbles, then all high nibbles). Their activations are therefore needed de-interleaved: the
// GEMM writes each activation row once in that lane order (PermuteX, zero-padded to whole steps:
// kXPadded), so that the steps of every tile load them with plain loads instead of VLD2/VLD4, which cost
// vector-pipe slots (docs/performance.md, "ARM kernels under llvm-mca").
// kSumShift: a decoder may leave each code scaled by 2^kSumShift; the tile shifts its exact sums back.
struct I8Codes {
  static constexpr size_t kK = 16;
  static constexpr int kVectors = 1;
  static constexpr int kMaxMagnitude = 128;  // largest |code|
  static constexpr int kSumShift = 0;
  static constexpr bool kXPadded = false;
  static constexpr size_t Bytes(size_t k) { return k; }
  static void LoadX(const int8_t* x, int8x16_t out[1]) { out[0] = vld1q_s8(x); }
  static void DecodeW(const uint8_t* w, int8x16_t out[1]) { out[0] = vreinterpretq_s8_u8(vld1q_u8(w)); }
};

// Activation rows of sub-byte packings, kVectors vectors per step in lane order.
template <int kVectorCount>
struct LaneOrderX {
  static constexpr bool kXPadded = true;
  static void LoadX(const int8_t* x, int8x16_t out[kVectorCount]) {
    EDGELM_NEON_UNROLL for (int i = 0; i < kVectorCount; ++i) out[i] = vld1q_s8(x + 16 * i);
  }
};

// Two's complement nibbles, even k in the low nibble; decoded exactly (two shifts per 16 codes).
struct I4Codes : LaneOrderX<2> {
  static constexpr size_t kK = 32;
  static constexpr int kVectors = 2;
  static constexpr int kMaxMagnitude = 8;
  static constexpr int kSumShift = 0;
  static constexpr size_t Bytes(size_t k) { return (k + 1) / 2; }
  static void PermuteX(const int8_t* x, int8_t* out) {
    const int8x16x2_t even_odd = vld2q_s8(x);
    vst1q_s8(out, even_odd.val[0]);
    vst1q_s8(out + 16, even_odd.val[1]);
  }
  static void DecodeW(const uint8_t* w, int8x16_t out[2]) {
    const int8x16_t bytes = vreinterpretq_s8_u8(vld1q_u8(w));
    out[0] = vshrq_n_s8(vshlq_n_s8(bytes, 4), 4);  // arithmetic shifts sign-extend the field
    out[1] = vshrq_n_s8(bytes, 4);
  }
};

// The same nibbles left in the top of each byte, i.e. times 16: one SHL or one AND per 16 codes. Shifts
// issue on one vector pipe of Cortex-A76/A78/A710, ANDs on all. For SDOT, whose int32 sums hold the
// scaled products (|x| <= 127 times 128, K < 130,000).
struct I4CodesTimes16 : I4Codes {
  static constexpr int kMaxMagnitude = 128;
  static constexpr int kSumShift = 4;
  static void DecodeW(const uint8_t* w, int8x16_t out[2]) {
    const int8x16_t bytes = vreinterpretq_s8_u8(vld1q_u8(w));
    out[0] = vshlq_n_s8(bytes, 4);
    out[1] = vandq_s8(bytes, vdupq_n_s8(int8_t(0xF0)));
  }
};

// Two's complement crumbs, k%4 in bits 2*(k%4); decoded exactly.
struct I2Codes : LaneOrderX<4> {
  static constexpr size_t kK = 64;
  static constexpr int kVectors = 4;
  static constexpr int kMaxMagnitude = 2;
  static constexpr int kSumShift = 0;
  static constexpr size_t Bytes(size_t k) { return (k + 3) / 4; }
  static void PermuteX(const int8_t* x, int8_t* out) {
    const int8x16x4_t by_position = vld4q_s8(x);
    EDGELM_NEON_UNROLL for (int i = 0; i < 4; ++i) vst1q_s8(out + 16 * i, by_position.val[i]);
  }
  static void DecodeW(const uint8_t* w, int8x16_t out[4]) {
    const int8x16_t bytes = vreinterpretq_s8_u8(vld1q_u8(w));
    out[0] = vshrq_n_s8(vshlq_n_s8(bytes, 6), 6);
    out[1] = vshrq_n_s8(vshlq_n_s8(bytes, 4), 6);
    out[2] = vshrq_n_s8(vshlq_n_s8(bytes, 2), 6);
    out[3] = vshrq_n_s8(bytes, 6);
  }
};

// Crumbs times 64 (see I4CodesTimes16): three SHL and three AND per 64 codes instead of seven shifts.
struct I2CodesTimes64 : I2Codes {
  static constexpr int kMaxMagnitude = 128;
  static constexpr int kSumShift = 6;
  static void DecodeW(const uint8_t* w, int8x16_t out[4]) {
    const int8x16_t bytes = vreinterpretq_s8_u8(vld1q_u8(w));
    const int8x16_t top = vdupq_n_s8(int8_t(0xC0));
    out[0] = vshlq_n_s8(bytes, 6);
    out[1] = vandq_s8(vshlq_n_s8(bytes, 4), top);
    out[2] = vandq_s8(vshlq_n_s8(bytes, 2), top);
    out[3] = vandq_s8(bytes, top);
  }
};

// ARMv8.0: 8x8 -> 16-bit widening multiplies, then one pairwise widening add into the int32 lanes.
// Each int16 lane sums 2*kVectors products of |x| <= 127 (the quantizer's range, never -128), so codes
// are decoded exactly.
struct MullEngine {
  template <class Codes>
  using Decoder = Codes;
  static constexpr bool kDecodesPanels = false;  // int8 tiles are no faster here than sub-byte ones
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

template <class Codes>
struct ScaledDecoder {
  using type = Codes;
};
template <>
struct ScaledDecoder<I4Codes> {
  using type = I4CodesTimes16;
};
template <>
struct ScaledDecoder<I2Codes> {
  using type = I2CodesTimes64;
};

#if defined(__ARM_FEATURE_DOTPROD)
// ARMv8.2 dotprod: SDOT adds four 4-long int8 dot products into the int32 lanes, with room for the
// scaled sub-byte decoders.
struct SdotEngine {
  template <class Codes>
  using Decoder = typename ScaledDecoder<Codes>::type;
  static constexpr bool kDecodesPanels = true;
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

  // Scaled decoders' sums are exact multiples of 2^kSumShift: the shift divides exactly.
  void Sums(int32_t out[kRows][kCols]) const {
    EDGELM_NEON_UNROLL for (int r = 0; r < kRows; ++r)
      EDGELM_NEON_UNROLL for (int c = 0; c < kCols; ++c) out[r][c] = vaddvq_s32(acc[r][c]) >> Codes::kSumShift;
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

// The tiles each GEMM runs, by name, so that benchmarks/arm-model models the loops that ship:
// one token (eight independent accumulator chains when a column's step is one vector, four when it is
// several: GCC 12 spills wider ones), and four tokens sharing each column's decoded codes.
template <class Codes, class Engine>
using Qs8OneRowTile = Qs8DotTile<Codes, Engine, 1, Codes::kVectors == 1 ? 8 : 4>;
template <class Codes, class Engine>
using Qs8FourRowTile = Qs8DotTile<Codes, Engine, 4, Engine::ColsWith4Rows(Codes::kVectors)>;

// Rows m0 .. m0+kRows-1 of y with `Tile`.
template <class Tile>
void Qs8TileRows(const Qs8GemmArgs& a, size_t m0) {
  TileRows<Tile>(a.x + m0 * a.x_stride, a.x_stride, a.w, a.w_row_bytes, a.N, a.K, [&](int r, size_t n, int32_t acc) {
    const size_t m = m0 + r;
    // The reference's expression: two separately rounded products, nothing to fuse.
    a.y[m * a.y_stride + n] = static_cast<float>(acc) * a.w_scale[n] * a.x_scale[m];
  });
}

// Tokens m0 .. M-1 one at a time.
template <class Codes, class Engine>
void Qs8SingleRows(const Qs8GemmArgs& a, size_t m0) {
  for (size_t m = m0; m < a.M; ++m) Qs8TileRows<Qs8OneRowTile<Codes, Engine>>(a, m);
}

// Tokens four at a time (each column's codes unpacked once per four tokens), then the rest.
template <class Codes, class Engine>
void Qs8DirectGemm(const Qs8GemmArgs& a) {
  size_t m = 0;
  for (; m + 4 <= a.M; m += 4) Qs8TileRows<Qs8FourRowTile<Codes, Engine>>(a, m);
  Qs8SingleRows<Codes, Engine>(a, m);
}

// K rounded up to whole steps of Codes: the length of an activation row in lane order.
template <class Codes>
size_t PaddedK(size_t K) {
  return (K + Codes::kK - 1) / Codes::kK * Codes::kK;
}

// Runs run(args, extra) with args.x the activation rows in Codes' lane order (each zero-padded to whole
// steps; args.x_stride = that padded length) in the thread's scratch, followed by `extra_bytes` of
// scratch for the caller. Without the scratch memory y is zeros (gemm.h).
template <class Codes, class Run>
void WithLaneOrderX(const Qs8GemmArgs& a, size_t extra_bytes, Run run) {
  const size_t padded_k = PaddedK<Codes>(a.K);
  int8_t* x = static_cast<int8_t*>(edgelm_scratch(a.M * padded_k + extra_bytes));
  if (!x) {
    for (size_t m = 0; m < a.M; ++m)
      for (size_t n = 0; n < a.N; ++n) a.y[m * a.y_stride + n] = 0.0f;
    return;
  }
  for (size_t m = 0; m < a.M; ++m) {
    const int8_t* row = a.x + m * a.x_stride;
    int8_t* out = x + m * padded_k;
    size_t k = 0;
    for (; k + Codes::kK <= a.K; k += Codes::kK) Codes::PermuteX(row + k, out + k);
    if (k < a.K) {
      int8_t pad[Codes::kK] = {};
      CopyPrefix(pad, row + k, a.K - k);
      Codes::PermuteX(pad, out + k);
    }
  }
  Qs8GemmArgs lane = a;
  lane.x = x;
  lane.x_stride = padded_k;
  run(lane, x + a.M * padded_k);
}

// Prefill of sub-byte weights with SDOT: kPanelCols weight rows decoded exactly to int8 once (a "panel",
// in the activations' lane order), then every token runs the int8 SDOT tiles over them. The decode is paid once
// per panel instead of once per four tokens, and the packed weights are read once per GEMM instead of
// once per four tokens.
constexpr int kPanelCols = 4;
constexpr size_t kPanelMinRows = 12;  // llvm-mca break-even on Neoverse N1 (benchmarks/arm-model)

#if defined(__ARM_FEATURE_DOTPROD)

template <class Codes>
void DecodePanelRow(const uint8_t* row, size_t K, int8_t* out) {
  int8x16_t codes[Codes::kVectors];
  size_t k = 0;
  for (; k + Codes::kK <= K; k += Codes::kK) {
    Codes::DecodeW(row + Codes::Bytes(k), codes);
    EDGELM_NEON_UNROLL for (int v = 0; v < Codes::kVectors; ++v) vst1q_s8(out + k + 16 * v, codes[v]);
  }
  if (k == K) return;
  uint8_t pad[Codes::Bytes(Codes::kK)] = {};  // the lane-ordered x is zero past K: any code cancels
  CopyPrefix(pad, row + Codes::Bytes(k), Codes::Bytes(K) - Codes::Bytes(k));
  Codes::DecodeW(pad, codes);
  EDGELM_NEON_UNROLL for (int v = 0; v < Codes::kVectors; ++v) vst1q_s8(out + k + 16 * v, codes[v]);
}

using Qs8PanelFourRowTile = Qs8DotTile<I8Codes, SdotEngine, 4, kPanelCols>;
using Qs8PanelOneRowTile = Qs8DotTile<I8Codes, SdotEngine, 1, kPanelCols>;

// a.x in lane order (WithLaneOrderX); panel: kPanelCols * a.x_stride bytes.
template <class Codes>
void Qs8PanelGemm(const Qs8GemmArgs& a, int8_t* panel) {
  for (size_t n0 = 0; n0 < a.N; n0 += kPanelCols) {
    const size_t cols = MinSize(kPanelCols, a.N - n0);
    for (size_t c = 0; c < cols; ++c) DecodePanelRow<Codes>(a.w + (n0 + c) * a.w_row_bytes, a.K, panel + c * a.x_stride);
    Qs8GemmArgs block = a;
    block.N = cols;
    block.K = a.x_stride;  // whole I8 steps: the padding is zero on both sides
    block.w = reinterpret_cast<const uint8_t*>(panel);
    block.w_row_bytes = a.x_stride;
    block.w_scale = a.w_scale + n0;
    block.y = a.y + n0;
    size_t m = 0;
    for (; m + 4 <= a.M; m += 4) Qs8TileRows<Qs8PanelFourRowTile>(block, m);
    for (; m < a.M; ++m) Qs8TileRows<Qs8PanelOneRowTile>(block, m);
  }
}
#endif

// The entry point of the plain-NEON and SDOT GEMMs.
template <class Codes, class Engine>
void Qs8DotGemm(const Qs8GemmArgs& a) {
  if constexpr (!Codes::kXPadded) {
    Qs8DirectGemm<Codes, Engine>(a);
  } else {
    const bool panels = Engine::kDecodesPanels && a.M >= kPanelMinRows;
    WithLaneOrderX<Codes>(a, panels ? kPanelCols * PaddedK<Codes>(a.K) : 0, [&](const Qs8GemmArgs& lane, int8_t* panel) {
#if defined(__ARM_FEATURE_DOTPROD)
      if (panels) return Qs8PanelGemm<Codes>(lane, panel);
#endif
      (void)panel;
      Qs8DirectGemm<typename Engine::template Decoder<Codes>, Engine>(lane);
    });
  }
}

}  // namespace
