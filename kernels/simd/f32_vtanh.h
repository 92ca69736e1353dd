// The loops of the f32-vtanh kernels (activation.h), written without branches or calls so that each
// file including this header vectorizes them for its own ISA. Builtins rather than <cmath>: an inline
// std:: function emitted out of line in an AVX-512 file could be what baseline code links to.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

namespace {

inline float TanhF32(float x) {
  const float magnitude = __builtin_fabsf(x);
  const float a = magnitude > 10.0f ? 10.0f : magnitude;  // tanh rounds to 1 from 9.01 on; NaN stays NaN
  // |x| < 0.3: the odd Taylor series to x^11 (the first dropped term is below 2e-9 relative).
  const float a2 = a * a;
  const float series = a + a * a2 * (-1.0f / 3 + a2 * (2.0f / 15 + a2 * (-17.0f / 315 + a2 * (62.0f / 2835 + a2 * (-1382.0f / 155925)))));
  // Otherwise 1 - 2 / (e^2a + 1): 2a = n ln2 + r with |r| <= ln2/2 (ln2 split in two, so n ln2_hi
  // is exact), e^r by its Taylor polynomial to r^7, 2^n from its exponent bits.
  const float y = 2.0f * a;
  const float n = (y * 1.44269504f + 12582912.0f) - 12582912.0f;  // round to nearest: 1.5 * 2^23
  const float r = (y - n * 0.693145751953125f) - n * 1.428606765330187e-6f;
  const float er = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720 + r * (1.0f / 5040)))))));
  const int32_t exponent_bits = (static_cast<int32_t>(n > 0.0f ? n : 0.0f) + 127) << 23;  // NaN x: no UB, 2^0
  float two_n;
  memcpy(&two_n, &exponent_bits, sizeof two_n);
  const float large = 1.0f - 2.0f / (er * two_n + 1.0f);
  return __builtin_copysignf(a < 0.3f ? series : large, x);
}

inline void GeluTanhMulLoop(size_t count, const float* gate, const float* up, float* out) {
  const float kSqrt2OverPi = 0.7978845608028654f;
  for (size_t i = 0; i < count; ++i) {
    const float x = gate[i];
    out[i] = 0.5f * x * (1.0f + TanhF32(kSqrt2OverPi * (x + 0.044715f * x * x * x))) * up[i];
  }
}

inline void SoftCapLoop(size_t count, float* x, float cap, float reciprocal) {
  for (size_t i = 0; i < count; ++i) x[i] = cap * TanhF32(x[i] * reciprocal);
}

}  // namespace

// The exported kernels of one variant.
#define EDGELM_DEFINE_F32_VTANH(variant)                                                                    \
  extern "C" void edgelm_f32_gelu_tanh_mul_##variant(size_t n, const float* gate, const float* up, float* out) { \
    GeluTanhMulLoop(n, gate, up, out);                                                                      \
  }                                                                                                         \
  extern "C" void edgelm_f32_softcap_##variant(size_t n, float* x, float cap, float reciprocal) {           \
    SoftCapLoop(n, x, cap, reciprocal);                                                                     \
  }
