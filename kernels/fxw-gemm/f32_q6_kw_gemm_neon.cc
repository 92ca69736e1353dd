// f32 activations x Q6_K weights with NEON FMA. A super-block holds 256 weights in 210 bytes: ql[128]
// (low 4 bits), qh[64] (high 2 bits), 16 int8 scales (one per 16 weights), then the f16 d. Weights are
// decoded exactly as the reference computes them, (d * scale) * (q - 32), 16 at a time. K is a multiple
// of 256 (rows hold whole super-blocks).
#include "gemm.h"
#include "simd/neon_f32_gemm.h"

namespace {

struct Q6_KWeights {
  static constexpr size_t kK = 256;
  static constexpr int kVectors = 64;
  static constexpr size_t Bytes(size_t k) { return k / 256 * 210; }  // a partial super-block does not exist
  // Sub-block s (weights 16s .. 16s+15) of half h = s / 8: ql bytes from 64h + 32 * (s / 2 % 2) + 16 * (s % 2),
  // low nibbles for s / 4 % 2 == 0 else high; bits 2 * (s / 2 % 4) of qh bytes from 128 + 32h + 16 * (s % 2).
  static void Decode(const uint8_t* block, float32x4_t out[64]) {
    const uint16_t d_bits = static_cast<uint16_t>(block[208] | (block[209] << 8));  // the last bytes: no wide load
    const float32x4_t d = vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(d_bits)));
    const int8_t* scales = reinterpret_cast<const int8_t*>(block + 192);
    const uint8x16_t nibble = vdupq_n_u8(0x0f), bits45 = vdupq_n_u8(0x30);
    const int8x16_t offset = vdupq_n_s8(32);
    for (int half = 0; half < 2; ++half)
      for (int c = 0; c < 2; ++c) {
        const uint8x16_t low0 = vld1q_u8(block + 64 * half + 16 * c), low1 = vld1q_u8(block + 64 * half + 32 + 16 * c);
        const uint8x16_t high = vld1q_u8(block + 128 + 32 * half + 16 * c);
        const uint8x16_t q[4] = {
            vorrq_u8(vandq_u8(low0, nibble), vandq_u8(vshlq_n_u8(high, 4), bits45)),
            vorrq_u8(vandq_u8(low1, nibble), vandq_u8(vshlq_n_u8(high, 2), bits45)),
            vorrq_u8(vshrq_n_u8(low0, 4), vandq_u8(high, bits45)),
            vorrq_u8(vshrq_n_u8(low1, 4), vandq_u8(vshrq_n_u8(high, 2), bits45))};
        for (int quarter = 0; quarter < 4; ++quarter) {
          const int s = 8 * half + 2 * quarter + c;
          ScaleCodes16(vsubq_s8(vreinterpretq_s8_u8(q[quarter]), offset), vmulq_n_f32(d, static_cast<float>(scales[s])),
                     out + 4 * s);
        }
      }
  }
};

}  // namespace

void edgelm_f32_q6_kw_gemm_neon(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                                size_t w_row_bytes, float* y, size_t y_stride) {
  F32Gemm<Q6_KWeights>({M, N, K, x, x_stride, w, w_row_bytes, y, y_stride});
}
