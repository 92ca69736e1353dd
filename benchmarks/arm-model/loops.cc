// The NEON GEMM loops that benchmarks/arm-model/model.py hands to llvm-mca: one extern "C" noinline
// function per modeled loop, each running the shipped code path (Qs8TileRows<Tile>, DecodePanelRow) on
// the tiles the GEMMs dispatch. Compiled once per ISA with the per-file flags of kernels/isa_flags.cmake:
//   neon     -march=armv8-a                  MullEngine tiles
//   neondot  -march=armv8.2-a+dotprod        SdotEngine tiles, and the sub-byte prefill panel path
//   i8mm     -march=armv8.2-a+dotprod+i8mm   Qs8MmlaTile 4x4 and 2x4
// Never linked or run: model.py reads the K loops out of the object file.
//
// Tile shapes come from the kernels' own aliases (Qs8OneRowTile, Qs8FourRowTile, Engine::Decoder,
// Qs8PanelFourRowTile), so this file follows the dispatch when it changes. A C++ identifier cannot carry a
// constexpr, so each function's tile shape is recorded next to it in the object's .mca_info section
// ("<function> <rows> <cols>"); model.py appends it to the row name (mca_qc4w_neondot_decode -> 1x4).
//
// model.py also compiles this file against older kernel trees (--kernels, --kernels-rev) and tells it
// what the tree has, from the header text: MCA_HAVE_TILE_ALIASES (Qs8OneRowTile/Qs8FourRowTile) and
// MCA_HAVE_PANELS (DecodePanelRow, Qs8PanelFourRowTile). Without the aliases the shapes of the GEMMs of
// that time (1fe447c) are used.
#include <stddef.h>
#include <stdint.h>

#include "simd/neon_qs8_gemm.h"
#if defined(__ARM_FEATURE_MATMUL_INT8)
#include "simd/neon_qs8_mmla.h"
#endif

#ifndef MCA_HAVE_TILE_ALIASES
#define MCA_HAVE_TILE_ALIASES 0
#endif
#ifndef MCA_HAVE_PANELS
#define MCA_HAVE_PANELS 0
#endif

// The fields of Qs8GemmArgs, in its order; the model never runs the functions.
struct McaGemmArgs {
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

namespace mca {

template <class...>
struct MakeVoid {
  using type = void;
};

// Engine::Decoder<Codes> where the engine has one (the decoder its GEMM runs), else Codes.
template <class Engine, class Codes, class = void>
struct DecoderOf {
  using type = Codes;
};
template <class Engine, class Codes>
struct DecoderOf<Engine, Codes, typename MakeVoid<typename Engine::template Decoder<Codes>>::type> {
  using type = typename Engine::template Decoder<Codes>;
};

#if MCA_HAVE_TILE_ALIASES
template <class Codes, class Engine>
using OneRow = Qs8OneRowTile<typename DecoderOf<Engine, Codes>::type, Engine>;
template <class Codes, class Engine>
using FourRow = Qs8FourRowTile<typename DecoderOf<Engine, Codes>::type, Engine>;
#else  // the shapes Qs8SingleRows / Qs8DotGemm used before the aliases (1fe447c)
template <class Codes, class Engine>
using OneRow = Qs8DotTile<Codes, Engine, 1, Codes::kVectors == 1 ? 8 : 4>;
template <class Codes, class Engine>
using FourRow = Qs8DotTile<Codes, Engine, 4, Engine::ColsWith4Rows(Codes::kVectors)>;
#endif

// One Qs8TileRows call, as the GEMMs make it: the K loop of Tile inside the loop over column blocks,
// with the real store of the results.
template <class Tile>
inline __attribute__((always_inline)) void RunTile(const McaGemmArgs* p) {
  const Qs8GemmArgs a = {p->M, p->N, p->K, p->x, p->x_stride, p->w, p->w_row_bytes,
                         p->w_scale, p->x_scale, p->y, p->y_stride};
  Qs8TileRows<Tile>(a, 0);
}

}  // namespace mca

// "<name> <rows> <cols>" into .mca_info (a non-allocated section: nothing of it is loaded or run).
#define MCA_RECORD(name, rows, cols)                                                                   \
  __attribute__((used)) static void name##_info() {                                                    \
    asm volatile(".pushsection .mca_info,\"\",%%progbits\n\t.asciz \"" #name " %c0 %c1\"\n\t.popsection" \
                 ::"i"(rows), "i"(cols));                                                              \
  }

// A Qs8TileRows loop of the tile type given last (it may contain commas).
#define MCA_TILE(name, ...)                                                                          \
  extern "C" __attribute__((noinline)) void name(const McaGemmArgs* a) { mca::RunTile<__VA_ARGS__>(a); } \
  MCA_RECORD(name, (__VA_ARGS__::kRows), (__VA_ARGS__::kCols))

// DecodePanelRow<Codes>: one packed weight row decoded to int8 (no tile: shape 0x0).
#define MCA_PANEL_DECODE(name, Codes)                                                                   \
  extern "C" __attribute__((noinline)) void name(const uint8_t* row, size_t K, int8_t* out) {          \
    DecodePanelRow<Codes>(row, K, out);                                                                 \
  }                                                                                                     \
  MCA_RECORD(name, 0, 0)

#if defined(__ARM_FEATURE_MATMUL_INT8)
// i8mm files: Qs8MmlaRows runs 4x4 tiles, then one 2x4 (M = 1 is the SDOT decode tile, modeled in neondot).
MCA_TILE(mca_qc8w_i8mm_prefill_mmla4, Qs8MmlaTile<I8Codes, 4, 4>)
MCA_TILE(mca_qc8w_i8mm_prefill_mmla2, Qs8MmlaTile<I8Codes, 2, 4>)
MCA_TILE(mca_qc4w_i8mm_prefill_mmla4, Qs8MmlaTile<I4Codes, 4, 4>)
MCA_TILE(mca_qc4w_i8mm_prefill_mmla2, Qs8MmlaTile<I4Codes, 2, 4>)
MCA_TILE(mca_qc2w_i8mm_prefill_mmla4, Qs8MmlaTile<I2Codes, 4, 4>)
MCA_TILE(mca_qc2w_i8mm_prefill_mmla2, Qs8MmlaTile<I2Codes, 2, 4>)

#elif defined(__ARM_FEATURE_DOTPROD)
// neondot files: M = 1 decode tile, the 4-row tile (all M for qc8w; M = 4..7 for sub-byte codes), and for
// sub-byte codes with M >= kPanelMinRows the panel path (Qs8PanelGemm: DecodePanelRow, then int8 tiles).
MCA_TILE(mca_qc8w_neondot_decode, mca::OneRow<I8Codes, SdotEngine>)
MCA_TILE(mca_qc8w_neondot_prefill_direct, mca::FourRow<I8Codes, SdotEngine>)
MCA_TILE(mca_qc4w_neondot_decode, mca::OneRow<I4Codes, SdotEngine>)
MCA_TILE(mca_qc4w_neondot_prefill_direct, mca::FourRow<I4Codes, SdotEngine>)
MCA_TILE(mca_qc2w_neondot_decode, mca::OneRow<I2Codes, SdotEngine>)
MCA_TILE(mca_qc2w_neondot_prefill_direct, mca::FourRow<I2Codes, SdotEngine>)
#if MCA_HAVE_PANELS
MCA_PANEL_DECODE(mca_qc4w_neondot_prefill_panel_decode, I4Codes)
MCA_TILE(mca_qc4w_neondot_prefill_panel, Qs8PanelFourRowTile)
MCA_PANEL_DECODE(mca_qc2w_neondot_prefill_panel_decode, I2Codes)
MCA_TILE(mca_qc2w_neondot_prefill_panel, Qs8PanelFourRowTile)
#endif

#else
// neon files (ARMv8.0): MullEngine tiles.
MCA_TILE(mca_qc8w_neon_decode, mca::OneRow<I8Codes, MullEngine>)
MCA_TILE(mca_qc8w_neon_prefill_direct, mca::FourRow<I8Codes, MullEngine>)
MCA_TILE(mca_qc4w_neon_decode, mca::OneRow<I4Codes, MullEngine>)
MCA_TILE(mca_qc4w_neon_prefill_direct, mca::FourRow<I4Codes, MullEngine>)
MCA_TILE(mca_qc2w_neon_decode, mca::OneRow<I2Codes, MullEngine>)
MCA_TILE(mca_qc2w_neon_prefill_direct, mca::FourRow<I2Codes, MullEngine>)
#endif
