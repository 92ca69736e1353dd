// f32 activations x Q4_0 weights with NEON FMA. A Q4_0 block holds 32 weights in 18 bytes: an f16
// scale d, then 16 bytes whose low nibbles are weights 0-15 and high nibbles weights 16-31, each
// w = d * (nibble - 8). K is a multiple of 32 (rows hold whole blocks).
#include "gemm.h"
#include "simd/neon_f32_gemm.h"

namespace {

struct Q4_0Weights {
  static constexpr size_t kK = 32;
  static constexpr int kVectors = 8;
  static constexpr size_t Bytes(size_t k) { return k / 32 * 18; }  // a partial block does not exist
  static void Decode(const uint8_t* block, float32x4_t out[8]) {
    const float32x4_t d = vdupq_lane_f32(vget_low_f32(vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(block)))), 0);
    const uint8x16_t nibbles = vld1q_u8(block + 2);
    const int8x16_t eight = vdupq_n_s8(8);
    ScaleCodes16(vsubq_s8(vreinterpretq_s8_u8(vandq_u8(nibbles, vdupq_n_u8(0xf))), eight), d, out);
    ScaleCodes16(vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(nibbles, 4)), eight), d, out + 4);
  }
};

}  // namespace

void edgelm_f32_q4_0w_gemm_neon(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                                size_t w_row_bytes, float* y, size_t y_stride) {
  F32Gemm<Q4_0Weights>({M, N, K, x, x_stride, w, w_row_bytes, y, y_stride});
}
