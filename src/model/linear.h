// y = x · Wᵀ for one weight tensor, in whatever form the model file stores it: float weights take
// float activations; integer weights take int8 activations quantized with the tensor's static input
// scale, or per token (dynamic) when it has none.
#pragma once

#include <cstdint>
#include <vector>

#include <pthreadpool.h>

#include "format/tensor.h"

namespace edgelm {

struct LinearScratch {
  std::vector<int8_t> x_q;      // quantized activations
  std::vector<float> x_scale;   // per token
};

// x: [M][K] f32, y: [M][N] f32 (K = w.cols(), N = w.rows()). Output channels are split across
// `pool`'s threads (null = the calling thread only).
void Linear(const TensorView& w, const float* x, int M, float* y, LinearScratch* scratch, pthreadpool_t pool);

}  // namespace edgelm
