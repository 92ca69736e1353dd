// f32 activations x f32 weights with NEON FMA.
#include "gemm.h"
#include "simd/neon_f32_gemm.h"

namespace {

struct F32Weights {
  static constexpr size_t kK = 8;
  static constexpr int kVectors = 2;
  static constexpr size_t Bytes(size_t k) { return 4 * k; }
  static void Decode(const uint8_t* w, float32x4_t out[2]) {
    out[0] = vreinterpretq_f32_u8(vld1q_u8(w));  // byte loads: rows need no 4-byte alignment
    out[1] = vreinterpretq_f32_u8(vld1q_u8(w + 16));
  }
};

}  // namespace

void edgelm_f32_f32w_gemm_neon(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                               size_t w_row_bytes, float* y, size_t y_stride) {
  F32Gemm<F32Weights>({M, N, K, x, x_stride, w, w_row_bytes, y, y_stride});
}
