// qs8 x qc2w GEMM with AVX-512 VNNI: crumbs biased to c + 2 in [0, 3]; crumb j of every byte (k = 4b + j)
// is isolated with one shift and a mask, matching the driver's activation repacking. The four products
// go to two accumulator chains so consecutive vpdpbusd do not wait on each other.
#include "gemm.h"
#include "simd/qs8_gemm_avx512vnni.h"

namespace {

struct Qc2wAvx512Vnni : Qs8Avx512Vnni {
  static constexpr size_t kCodesPerByte = 4;
  static constexpr int32_t kOffset = 2;
  static constexpr int kBits = 2;
  struct Codes {
    __m512i code[4];
  };
  static Codes Decode(const uint8_t* p) {
    const __m512i biased = LoadBiased(p, static_cast<char>(0xaa));
    const __m512i mask = _mm512_set1_epi8(3);
    return {{_mm512_and_si512(biased, mask), _mm512_and_si512(_mm512_srli_epi16(biased, 2), mask),
             _mm512_and_si512(_mm512_srli_epi16(biased, 4), mask), _mm512_and_si512(_mm512_srli_epi16(biased, 6), mask)}};
  }
  static Codes DecodeInPlace(const uint8_t* p) {
    const __m512i biased = LoadBiased(p, static_cast<char>(0xaa));
    return {{_mm512_and_si512(biased, _mm512_set1_epi8(0x03)), _mm512_and_si512(biased, _mm512_set1_epi8(0x0c)),
             _mm512_and_si512(biased, _mm512_set1_epi8(0x30)), _mm512_and_si512(biased, _mm512_set1_epi8(static_cast<char>(0xc0)))}};
  }
  static Acc Accumulate(Acc acc, const Codes& c, const int8_t* x) {
    __m512i other = _mm512_dpbusd_epi32(_mm512_setzero_si512(), c.code[1], Load(x + kVectorBytes));
    acc = _mm512_dpbusd_epi32(acc, c.code[0], Load(x));
    other = _mm512_dpbusd_epi32(other, c.code[3], Load(x + 3 * kVectorBytes));
    acc = _mm512_dpbusd_epi32(acc, c.code[2], Load(x + 2 * kVectorBytes));
    return _mm512_add_epi32(acc, other);
  }
};

}  // namespace

extern "C" void edgelm_qs8_qc2w_gemm_avx512vnni(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride,
                                                const uint8_t* w, size_t w_row_bytes, const float* w_scale,
                                                const float* x_scale, float* y, size_t y_stride) {
  Qs8GemmAvx512Vnni<Qc2wAvx512Vnni>(M, N, K, x, x_stride, w, w_row_bytes, w_scale, x_scale, y, y_stride);
}

extern "C" void edgelm_qs8_qc2w_strips_gemm_avx512vnni(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride,
                                                       const uint8_t* strips, const float* w_scale, const float* x_scale,
                                                       float* y, size_t y_stride) {
  Qs8StripsGemmAvx512Vnni<Qc2wAvx512Vnni>(M, N, K, x, x_stride, strips, w_scale, x_scale, y, y_stride);
}
