// qs8 x qc2w GEMM with AVX2. XOR with 2 maps each two's-complement crumb c in [-2, 1] to c + 2 in
// [0, 3], an unsigned operand for vpmaddubsw; the driver subtracts 2 * sum(x). Crumb j of every byte
// is isolated with one 16-bit shift and a mask and meets activations the driver repacked into that
// order. The four products of a chunk add up to at most 8*3*128 < 2^15 in int16.
#include "gemm.h"
#include "simd/qs8_strips_avx2.h"

namespace {

struct Qc2wAvx2 : Qs8Avx2 {
  static constexpr int kMR = 3, kNR = 2, kGemvNR = 4;  // 4 code vectors per row
  static constexpr size_t kCodesPerByte = 4;
  static constexpr int32_t kOffset = 2;
  struct Codes {
    __m256i crumb[4];  // c + 2 of k = 4b + j
  };
  static Codes Decode(const uint8_t* p) {
    const __m256i biased = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)),
                                            _mm256_set1_epi8(static_cast<char>(0xaa)));
    const __m256i mask = _mm256_set1_epi8(3);
    return {{_mm256_and_si256(biased, mask), _mm256_and_si256(_mm256_srli_epi16(biased, 2), mask),
             _mm256_and_si256(_mm256_srli_epi16(biased, 4), mask), _mm256_and_si256(_mm256_srli_epi16(biased, 6), mask)}};
  }
  static Acc Accumulate(Acc acc, const Codes& c, const int8_t* x) {
    const __m256i* xv = reinterpret_cast<const __m256i*>(x);
    const __m256i pairs01 = _mm256_add_epi16(_mm256_maddubs_epi16(c.crumb[0], _mm256_loadu_si256(xv)),
                                             _mm256_maddubs_epi16(c.crumb[1], _mm256_loadu_si256(xv + 1)));
    const __m256i pairs23 = _mm256_add_epi16(_mm256_maddubs_epi16(c.crumb[2], _mm256_loadu_si256(xv + 2)),
                                             _mm256_maddubs_epi16(c.crumb[3], _mm256_loadu_si256(xv + 3)));
    return AddPairs(acc, _mm256_add_epi16(pairs01, pairs23));
  }
};

}  // namespace

extern "C" void edgelm_qs8_qc2w_gemm_avx2(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride,
                                          const uint8_t* w, size_t w_row_bytes, const float* w_scale,
                                          const float* x_scale, float* y, size_t y_stride) {
  Qs8Gemm<Qc2wAvx2>(M, N, K, x, x_stride, w, w_row_bytes, w_scale, x_scale, y, y_stride);
}

extern "C" void edgelm_qs8_qc2w_strips_gemm_avx2(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride,
                                                 const uint8_t* strips, const float* w_scale, const float* x_scale,
                                                 float* y, size_t y_stride) {
  Qs8StripsGemmAvx2<Qc2wAvx2>(M, N, K, x, x_stride, strips, w_scale, x_scale, y, y_stride);
}
