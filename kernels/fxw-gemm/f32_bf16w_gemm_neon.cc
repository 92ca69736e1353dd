// f32 activations x bf16 weights with NEON FMA; a bf16 is the high half of an f32.
#include "gemm.h"
#include "simd/neon_f32_gemm.h"

namespace {

struct Bf16Weights {
  static constexpr size_t kK = 8;
  static constexpr int kVectors = 2;
  static constexpr size_t Bytes(size_t k) { return 2 * k; }
  static void Decode(const uint8_t* w, float32x4_t out[2]) {
    const uint16x8_t bits = vreinterpretq_u16_u8(vld1q_u8(w));
    out[0] = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(bits), 16));
    out[1] = vreinterpretq_f32_u32(vshll_high_n_u16(bits, 16));
  }
};

}  // namespace

void edgelm_f32_bf16w_gemm_neon(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                                size_t w_row_bytes, float* y, size_t y_stride) {
  F32Gemm<Bf16Weights>({M, N, K, x, x_stride, w, w_row_bytes, y, y_stride});
}
