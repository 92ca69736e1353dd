// qs8 x qc4w GEMM with AVX2. XOR with 8 maps each two's-complement nibble q to q + 8 in [0, 15], an
// unsigned operand for vpmaddubsw; the driver subtracts 8 * sum(x). Low nibbles (even k) and high
// nibbles (odd k) meet activations the driver repacked into the same order. Both products of a
// chunk add up to at most 4*15*128 < 2^15 in int16.
#include "gemm.h"
#include "simd/qs8_strips_avx2.h"

namespace {

struct Qc4wAvx2 : Qs8Avx2 {
  static constexpr int kMR = 2, kNR = 4, kGemvNR = 4;
  static constexpr size_t kCodesPerByte = 2;
  static constexpr int32_t kOffset = 8;
  struct Codes {
    __m256i low, high;  // q + 8 of even / odd k
  };
  static Codes Decode(const uint8_t* p) {
    const __m256i biased = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)),
                                            _mm256_set1_epi8(static_cast<char>(0x88)));
    const __m256i nibble = _mm256_set1_epi8(0x0f);
    return {_mm256_and_si256(biased, nibble), _mm256_and_si256(_mm256_srli_epi16(biased, 4), nibble)};
  }
  static Acc Accumulate(Acc acc, const Codes& c, const int8_t* x) {
    const __m256i* xv = reinterpret_cast<const __m256i*>(x);
    const __m256i pairs = _mm256_add_epi16(_mm256_maddubs_epi16(c.low, _mm256_loadu_si256(xv)),
                                           _mm256_maddubs_epi16(c.high, _mm256_loadu_si256(xv + 1)));
    return AddPairs(acc, pairs);
  }
};

}  // namespace

extern "C" void edgelm_qs8_qc4w_gemm_avx2(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride,
                                          const uint8_t* w, size_t w_row_bytes, const float* w_scale,
                                          const float* x_scale, float* y, size_t y_stride) {
  Qs8Gemm<Qc4wAvx2>(M, N, K, x, x_stride, w, w_row_bytes, w_scale, x_scale, y, y_stride);
}

extern "C" void edgelm_qs8_qc4w_strips_gemm_avx2(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride,
                                                 const uint8_t* strips, const float* w_scale, const float* x_scale,
                                                 float* y, size_t y_stride) {
  Qs8StripsGemmAvx2<Qc4wAvx2>(M, N, K, x, x_stride, strips, w_scale, x_scale, y, y_stride);
}
