// Scalar reference for activation quantization to int8 (symmetric, round half to even).
#include <algorithm>
#include <cmath>

#include "quantize.h"

extern "C" {

void edgelm_qs8_quantize_scalar(size_t K, const float* x, float scale, int8_t* q) {
  for (size_t k = 0; k < K; ++k) {
    // Division, not multiplication by the inverse: the QAT reference rounds x / scale.
    const float v = std::nearbyint(x[k] / scale);
    q[k] = static_cast<int8_t>(std::min(127.0f, std::max(-127.0f, v)));
  }
}

float edgelm_qs8_dynamic_scale_scalar(size_t K, const float* x) {
  float amax = 0.0f;
  for (size_t k = 0; k < K; ++k) amax = std::max(amax, std::fabs(x[k]));
  return amax > 0.0f ? amax / 127.0f : 1.0f;
}

}  // extern "C"
