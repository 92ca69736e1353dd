// Activation quantization with NEON: the same IEEE division and round-half-to-even as the scalar
// reference, so the codes are bit-identical. FMAXNM (not FMAX) turns a NaN into -127 as the
// reference's std::max does.
#include <arm_neon.h>

#include "quantize.h"

namespace {

int32x4_t Codes(const float* p, float32x4_t divisor) {
  const float32x4_t v = vrndnq_f32(vdivq_f32(vld1q_f32(p), divisor));
  return vcvtq_s32_f32(vminq_f32(vmaxnmq_f32(v, vdupq_n_f32(-127.0f)), vdupq_n_f32(127.0f)));
}

}  // namespace

extern "C" void edgelm_qs8_quantize_neon(size_t K, const float* x, float scale, int8_t* q) {
  const float32x4_t divisor = vdupq_n_f32(scale);
  size_t k = 0;
  for (; k + 16 <= K; k += 16) {
    const int16x8_t lo = vcombine_s16(vmovn_s32(Codes(x + k, divisor)), vmovn_s32(Codes(x + k + 4, divisor)));
    const int16x8_t hi = vcombine_s16(vmovn_s32(Codes(x + k + 8, divisor)), vmovn_s32(Codes(x + k + 12, divisor)));
    vst1q_s8(q + k, vcombine_s8(vmovn_s16(lo), vmovn_s16(hi)));
  }
  if (k < K) edgelm_qs8_quantize_scalar(K - k, x + k, scale, q + k);
}
