// Channel strips (gemm.h) packed with AVX-512: 16 rows x 16 dwords at a time, each dword's codes put in
// strip order by the same delta swaps as the scalar packer, then one 16x16 dword transpose turns row
// vectors into blocks. The blocks a row's last, partial dword reaches are the scalar packer's.
#include "gemm.h"
#include "simd/qs8_gemm_avx512vnni.h"

namespace {

// GCC 12's 512-bit shift intrinsics start from _mm512_undefined_epi32(), which its own -Wmaybe-uninitialized
// flags wherever they are inlined; SIMDe has no masked shifts to avoid them with.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
inline __m512i DeltaSwap(__m512i v, unsigned shift, uint32_t mask) {
  const __m512i t = _mm512_and_si512(_mm512_xor_si512(v, _mm512_srli_epi32(v, shift)), _mm512_set1_epi32(static_cast<int>(mask)));
  return _mm512_xor_si512(v, _mm512_xor_si512(t, _mm512_slli_epi32(t, shift)));
}

inline __m512i ToStripOrder(int bits, __m512i v) {
  if (bits == 4) return DeltaSwap(DeltaSwap(v, 8, 0x0000ff00u), 4, 0x00f000f0u);
  if (bits == 2) return DeltaSwap(DeltaSwap(v, 12, 0x0000f0f0u), 6, 0x00cc00ccu);
  return v;
}

}  // namespace

extern "C" void edgelm_qs8_pack_strips_avx512vnni(int bits, size_t N, size_t K, const uint8_t* w, size_t w_row_bytes,
                                                  uint8_t* strips) {
  const size_t per_dword = 32 / static_cast<size_t>(bits), blocks = (K + per_dword - 1) / per_dword;
  const size_t strip_bytes = blocks * 64;
  const size_t simd_blocks = K / per_dword / kStripLanes * kStripLanes;  // whole dwords, whole vectors
  for (size_t n0 = 0; n0 < N; n0 += kStripLanes) {
    uint8_t* strip = strips + n0 / kStripLanes * strip_bytes;
    for (size_t b0 = 0; b0 < simd_blocks; b0 += kStripLanes) {
      __m512i in[kStripLanes], out[kStripLanes];
      for (size_t r = 0; r < kStripLanes; ++r) {
        in[r] = _mm512_setzero_si512();  // channels past N
        if (n0 + r < N) in[r] = ToStripOrder(bits, _mm512_loadu_si512(w + (n0 + r) * w_row_bytes + 4 * b0));
      }
      TransposeDwords16(in, out);
      for (size_t g = 0; g < kStripLanes; ++g) _mm512_storeu_si512(strip + (b0 + g) * 64, out[g]);
    }
  }
  if (simd_blocks < blocks) edgelm_qs8_pack_strip_blocks_scalar(bits, N, K, w, w_row_bytes, strips, simd_blocks);
}
