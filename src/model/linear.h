// y = x · Wᵀ for one weight tensor, in whatever form the model file stores it: float weights take
// float activations; integer weights take int8 activations quantized with the tensor's static input
// scale, or per token (dynamic) when it has none.
#pragma once

#include <cstdint>
#include <vector>

#include <pthreadpool.h>

#include "format/tensor.h"
#include "gemm.h"

namespace edgelm {

// Below this many multiply-adds a fork/join over the thread pool costs more than it saves.
constexpr size_t kMinParallelMacs = size_t{1} << 21;

struct LinearScratch {
  std::vector<int8_t> x_q;      // quantized activations
  std::vector<float> x_scale;   // per token
};

// One microkernel call over all N output channels; exactly one of qs8 / f32 is set.
struct GemmCall {
  size_t M, N, K, row_bytes;
  const uint8_t* w;        // N rows of row_bytes
  const float* w_scale;    // per output channel (qs8 only)
  const int8_t* x_q;       // [M][K] quantized activations (qs8)
  const float* x_scale;    // per token (qs8)
  const float* x;          // [M][K] float activations (f32)
  float* y;                // [M][N]
  qs8_qcxw_gemm_fn qs8;
  f32_gemm_fn f32;
};

// Runs `call` with its output channels split over `pool` (null = the calling thread) in tiles of
// 32 channels: enough work per task to amortize dispatch, small enough to balance 2-8 threads.
void RunGemm(const GemmCall& call, pthreadpool_t pool);

// x: [M][K] f32, y: [M][N] f32 (K = w.cols(), N = w.rows()). Output channels are split across
// `pool`'s threads (null = the calling thread only) when the product is big enough to pay.
void Linear(const TensorView& w, const float* x, int M, float* y, LinearScratch* scratch, pthreadpool_t pool);

}  // namespace edgelm
