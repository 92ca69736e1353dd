// Float dot product with eight independent partial sums: compilers turn the lanes into SIMD
// registers (SLP) without -ffast-math, and the summation order is fixed on every target.
#pragma once

#include <stddef.h>

static inline float edgelm_dot_f32(const float* a, const float* b, size_t n) {
  float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int j = 0; j < 8; ++j) lanes[j] += a[k + j] * b[k + j];
  float tail = 0.0f;
  for (; k < n; ++k) tail += a[k] * b[k];
  return ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7])) + tail;
}
