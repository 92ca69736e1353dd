// NEON kv-attention kernels: two float32x4_t per eight lanes (ARMv8.0, every aarch64 CPU).
#include <arm_neon.h>

#include "simd/kv_attention.h"

namespace {

struct NeonVec {
  float32x4_t lo, hi;  // lanes 0-3 and 4-7

  static NeonVec Zero() { return {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)}; }
  static NeonVec LoadF32(const float* p) { return {vld1q_f32(p), vld1q_f32(p + 4)}; }
  static NeonVec LoadBF16(const uint8_t* p) {
    const uint16x8_t halves = vreinterpretq_u16_u8(vld1q_u8(p));
    return {vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(halves), 16)),
            vreinterpretq_f32_u32(vshll_n_u16(vget_high_u16(halves), 16))};
  }
  static NeonVec FromInt8(int8x8_t codes) {
    const int16x8_t wide = vmovl_s8(codes);
    return {vcvtq_f32_s32(vmovl_s16(vget_low_s16(wide))), vcvtq_f32_s32(vmovl_s16(vget_high_s16(wide)))};
  }
  static NeonVec LoadI8(const uint8_t* p) { return FromInt8(vld1_s8(reinterpret_cast<const int8_t*>(p))); }
  // Low and high nibbles of four bytes, interleaved back into value order, then sign-extended.
  static NeonVec LoadI4(const uint8_t* p) {
    uint32_t word;
    __builtin_memcpy(&word, p, 4);
    const uint8x8_t bytes = vreinterpret_u8_u32(vdup_n_u32(word));
    const uint8x8_t values = vzip_u8(vand_u8(bytes, vdup_n_u8(0xf)), vshr_n_u8(bytes, 4)).val[0];
    const int8x8_t signed_values = vsub_s8(vreinterpret_s8_u8(veor_u8(values, vdup_n_u8(8))), vdup_n_s8(8));
    return FromInt8(signed_values);
  }
  static NeonVec Mul(NeonVec a, float s) { return {vmulq_n_f32(a.lo, s), vmulq_n_f32(a.hi, s)}; }
  static NeonVec Fma(NeonVec a, NeonVec b, NeonVec acc) {
    return {vfmaq_f32(acc.lo, a.lo, b.lo), vfmaq_f32(acc.hi, a.hi, b.hi)};
  }
  static NeonVec FmaScalar(float a, NeonVec b, NeonVec acc) {
    return {vfmaq_n_f32(acc.lo, b.lo, a), vfmaq_n_f32(acc.hi, b.hi, a)};
  }
  static void Store(float* p, NeonVec v) {
    vst1q_f32(p, v.lo);
    vst1q_f32(p + 4, v.hi);
  }
  // Pairwise adds: (0,1) (2,3) (4,5) (6,7), then ((0,1),(2,3)) and ((4,5),(6,7)), then their sum.
  template <int G>
  static void Reduce(const NeonVec* acc, float* sums) {
    for (int g = 0; g < G; ++g) {
      const float32x4_t pairs = vpaddq_f32(acc[g].lo, acc[g].hi);
      const float32x4_t quads = vpaddq_f32(pairs, pairs);
      sums[g] = vgetq_lane_f32(quads, 0) + vgetq_lane_f32(quads, 1);
    }
  }
};

}  // namespace

EDGELM_DEFINE_KV_ATTENTION(neon, NeonVec)
