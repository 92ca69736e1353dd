// f32 activations x IEEE f16 weights with NEON FMA; FCVTL (f16 -> f32, exact) is baseline AArch64.
#include "gemm.h"
#include "simd/neon_f32_gemm.h"

namespace {

struct F16Weights {
  static constexpr size_t kK = 8;
  static constexpr int kVectors = 2;
  static constexpr size_t Bytes(size_t k) { return 2 * k; }
  static void Decode(const uint8_t* w, float32x4_t out[2]) {
    const float16x8_t halves = vreinterpretq_f16_u8(vld1q_u8(w));
    out[0] = vcvt_f32_f16(vget_low_f16(halves));
    out[1] = vcvt_high_f32_f16(halves);
  }
};

}  // namespace

void edgelm_f32_f16w_gemm_neon(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                               size_t w_row_bytes, float* y, size_t y_stride) {
  F32Gemm<F16Weights>({M, N, K, x, x_stride, w, w_row_bytes, y, y_stride});
}
