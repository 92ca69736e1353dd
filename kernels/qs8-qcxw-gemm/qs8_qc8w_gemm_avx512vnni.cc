// qs8 x qc8w GEMM with AVX-512 VNNI: w ^ 0x80 = w + 128 is the unsigned operand of vpdpbusd.
#include "gemm.h"
#include "simd/qs8_gemm_avx512vnni.h"

namespace {

struct Qc8wAvx512Vnni : Qs8Avx512Vnni {
  static constexpr size_t kCodesPerByte = 1;
  static constexpr int32_t kOffset = 128;
  static constexpr int kBits = 8;
  struct Codes {
    __m512i code[1];
  };
  static Codes Decode(const uint8_t* p) { return {{LoadBiased(p, static_cast<char>(0x80))}}; }
  static Codes DecodeInPlace(const uint8_t* p) { return Decode(p); }
  static Acc Accumulate(Acc acc, const Codes& c, const int8_t* x) { return _mm512_dpbusd_epi32(acc, c.code[0], Load(x)); }
};

}  // namespace

extern "C" void edgelm_qs8_qc8w_gemm_avx512vnni(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride,
                                                const uint8_t* w, size_t w_row_bytes, const float* w_scale,
                                                const float* x_scale, float* y, size_t y_stride) {
  Qs8GemmAvx512Vnni<Qc8wAvx512Vnni>(M, N, K, x, x_stride, w, w_row_bytes, w_scale, x_scale, y, y_stride);
}

extern "C" void edgelm_qs8_qc8w_strips_gemm_avx512vnni(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride,
                                                       const uint8_t* strips, const float* w_scale, const float* x_scale,
                                                       float* y, size_t y_stride) {
  Qs8StripsGemmAvx512Vnni<Qc8wAvx512Vnni>(M, N, K, x, x_stride, strips, w_scale, x_scale, y, y_stride);
}
