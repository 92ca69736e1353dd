// qs8 x qc4w GEMM with AVX-512 VNNI: nibbles biased to q + 8 in [0, 15]; low nibbles hold even k, high
// nibbles odd k, matching the driver's activation repacking.
#include "gemm.h"
#include "simd/qs8_gemm_avx512vnni.h"

namespace {

struct Qc4wAvx512Vnni : Qs8Avx512Vnni {
  static constexpr size_t kCodesPerByte = 2;
  static constexpr int32_t kOffset = 8;
  static constexpr int kBits = 4;
  struct Codes {
    __m512i code[2];  // low nibbles (even k), high nibbles (odd k)
  };
  static Codes Decode(const uint8_t* p) {
    const __m512i biased = LoadBiased(p, static_cast<char>(0x88));
    const __m512i nibble = _mm512_set1_epi8(0x0f);
    return {{_mm512_and_si512(biased, nibble), _mm512_and_si512(_mm512_srli_epi16(biased, 4), nibble)}};
  }
  static Codes DecodeInPlace(const uint8_t* p) {
    const __m512i biased = LoadBiased(p, static_cast<char>(0x88));
    return {{_mm512_and_si512(biased, _mm512_set1_epi8(0x0f)), _mm512_and_si512(biased, _mm512_set1_epi8(static_cast<char>(0xf0)))}};
  }
  static Acc Accumulate(Acc acc, const Codes& c, const int8_t* x) {
    acc = _mm512_dpbusd_epi32(acc, c.code[0], Load(x));
    return _mm512_dpbusd_epi32(acc, c.code[1], Load(x + kVectorBytes));
  }
};

}  // namespace

extern "C" void edgelm_qs8_qc4w_gemm_avx512vnni(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride,
                                                const uint8_t* w, size_t w_row_bytes, const float* w_scale,
                                                const float* x_scale, float* y, size_t y_stride) {
  Qs8GemmAvx512Vnni<Qc4wAvx512Vnni>(M, N, K, x, x_stride, w, w_row_bytes, w_scale, x_scale, y, y_stride);
}

extern "C" void edgelm_qs8_qc4w_strips_gemm_avx512vnni(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride,
                                                       const uint8_t* strips, const float* w_scale, const float* x_scale,
                                                       float* y, size_t y_stride) {
  Qs8StripsGemmAvx512Vnni<Qc4wAvx512Vnni>(M, N, K, x, x_stride, strips, w_scale, x_scale, y, y_stride);
}
