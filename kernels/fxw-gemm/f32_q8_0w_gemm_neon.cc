// f32 activations x Q8_0 weights with NEON FMA. A Q8_0 block holds 32 weights in 34 bytes: an f16
// scale d, then 32 int8 codes, w = code * d (decoded exactly as the reference computes it). K is a
// multiple of 32 (rows hold whole blocks).
#include "gemm.h"
#include "simd/neon_f32_gemm.h"

namespace {

struct Q8_0Weights {
  static constexpr size_t kK = 32;
  static constexpr int kVectors = 8;
  static constexpr size_t Bytes(size_t k) { return k / 32 * 34; }  // a partial block does not exist
  static void Decode(const uint8_t* block, float32x4_t out[8]) {
    const float32x4_t d = vdupq_lane_f32(vget_low_f32(vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(block)))), 0);
    const int8_t* codes = reinterpret_cast<const int8_t*>(block + 2);
    ScaleCodes16(vld1q_s8(codes), d, out);
    ScaleCodes16(vld1q_s8(codes + 16), d, out + 4);
  }
};

}  // namespace

void edgelm_f32_q8_0w_gemm_neon(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                                size_t w_row_bytes, float* y, size_t y_stride) {
  F32Gemm<Q8_0Weights>({M, N, K, x, x_stride, w, w_row_bytes, y, y_stride});
}
