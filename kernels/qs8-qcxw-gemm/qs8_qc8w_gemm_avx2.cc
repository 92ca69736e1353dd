// qs8 x qc8w GEMM with AVX2: vpmaddubsw needs one unsigned operand, so it multiplies |w| (0..128) by
// x with w's sign moved onto it (vpsignb, |x| <= 127). A pair sum is at most 2*128*127 < 2^15, so the
// int16 step never saturates and the result equals the scalar reference bit for bit.
#include "gemm.h"
#include "simd/qs8_strips_avx2.h"

namespace {

struct Qc8wAvx2 : Qs8Avx2 {
  static constexpr int kMR = 2, kNR = 4, kGemvNR = 4;
  static constexpr size_t kCodesPerByte = 1;
  static constexpr int32_t kOffset = 0;
  struct Codes {
    __m256i w, w_abs;
  };
  static Codes Decode(const uint8_t* p) {
    const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return {w, _mm256_abs_epi8(w)};
  }
  static Acc Accumulate(Acc acc, const Codes& c, const int8_t* x) {
    const __m256i x_signed = _mm256_sign_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x)), c.w);
    return AddPairs(acc, _mm256_maddubs_epi16(c.w_abs, x_signed));
  }
};

}  // namespace

extern "C" void edgelm_qs8_qc8w_gemm_avx2(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride,
                                          const uint8_t* w, size_t w_row_bytes, const float* w_scale,
                                          const float* x_scale, float* y, size_t y_stride) {
  Qs8Gemm<Qc8wAvx2>(M, N, K, x, x_stride, w, w_row_bytes, w_scale, x_scale, y, y_stride);
}

extern "C" void edgelm_qs8_qc8w_strips_gemm_avx2(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride,
                                                 const uint8_t* strips, const float* w_scale, const float* x_scale,
                                                 float* y, size_t y_stride) {
  Qs8StripsGemmAvx2<Qc8wAvx2>(M, N, K, x, x_stride, strips, w_scale, x_scale, y, y_stride);
}
