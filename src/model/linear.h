// y = x · Wᵀ for one weight tensor, in whatever form the model file stores it: float and block weights
// take float activations; integer weights take int8 activations quantized as the tensor says (a static
// input scale, QAT's [-127,127] or TFLite's [-128,127] range; per token symmetric or asymmetric), and
// a tensor with an output scale requantizes its output to int8 and back, as the published graph does.
#pragma once

#include <cstdint>
#include <vector>

#include <pthreadpool.h>

#include "format/tensor.h"
#include "gemm.h"

namespace edgelm {

// Below this many multiply-adds a linear runs on the calling thread: a fork/join over the pool would
// cost more than it saves. E2B's smallest decode projections (k, v and the per-layer-input ones, 393k)
// are above it: shared over 2 threads, a decode step takes ~2% less time than with them serial.
constexpr size_t kMinParallelMacs = size_t{1} << 18;

// Kernel rows beyond one per token run in groups of this many, into a bounded temporary output:
// TFLite-range codes of -128 of int8 weights, the second half of asymmetric codes (which span
// [-255, 255]) where the tensor has no code sums (PreparedWeights).
constexpr int kExtraRowsPerPass = 8;

struct LinearScratch {
  std::vector<int8_t> x_q;        // quantized activations, one kernel row per token
  std::vector<float> x_scale;     // per kernel row
  std::vector<int8_t> extra_q;    // codes that did not fit a token's row: more rows, summed into its output
  std::vector<float> extra_scale;
  std::vector<int> extra_token;   // the token each extra row belongs to
  std::vector<float> extra_y;     // [kExtraRowsPerPass][N]
  std::vector<int> codes;         // one token's codes before they are split into rows
  std::vector<int32_t> zero_point;  // per token, asymmetric codes run as they are

  size_t capacity_bytes() const {
    return x_q.capacity() + extra_q.capacity() + (x_scale.capacity() + extra_scale.capacity() + extra_y.capacity()) * sizeof(float) +
           (extra_token.capacity() + codes.capacity()) * sizeof(int) + zero_point.capacity() * sizeof(int32_t);
  }
  void Release();
};

// An integer tensor repacked into channel strips (model/strip_weights.h) and the kernel that reads
// them; data null: the tensor is read row-major from the file.
struct Strips {
  const uint8_t* data = nullptr;  // ceil(N / 16) strips of `strip_bytes`
  size_t strip_bytes = 0;
  qs8_qcxw_strips_gemm_fn gemm = nullptr;
};

// What our kernels read beside a tensor's rows, prepared at load (model/strip_weights.h); {} = the
// rows alone.
struct PreparedWeights {
  Strips strips;                       // w's channel strips, or {}
  const int32_t* code_sums = nullptr;  // [N] sum_k code[n][k] (edgelm_qs8_code_sums), or null
};

// The bytes a LinearScratch holds once `rows` tokens went through every tensor Add()ed: each of its
// buffers keeps the largest size any of them asked for.
class LinearScratchEstimate {
 public:
  void Add(const TensorView& w, const PreparedWeights& prepared, int rows);
  uint64_t bytes() const;

 private:
  // Largest element counts of LinearScratch's buffers.
  uint64_t x_q_ = 0, x_scale_ = 0, zero_point_ = 0, codes_ = 0, extra_q_ = 0, extra_rows_ = 0, extra_y_ = 0;
};

// True if Linear runs `w`'s asymmetric per-token codes as they are, one kernel row per token, given
// its code sums: sub-byte codes (whose kernels take -128) and K small enough that the kernel's float
// outputs at unit scales are its exact int32 sums (K * 128 * max |code| <= 2^24). Otherwise the codes
// minus their zero point take two kernel rows.
bool LinearTakesCodeSums(const TensorView& w);

// One microkernel call over all N output channels; exactly one of qs8 / f32 is set, and with qs8,
// strips.gemm (when set) runs instead, over strips.data rather than w.
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
  Strips strips;           // w's channel strips, or {}
  // Asymmetric codes as they are (x ~= (x_q - zero_point) * x_scale), or null: the kernel runs at unit
  // scales and each exact sum s becomes (s - zero_point[m] * code_sums[n]) * w_scale[n] * x_scale[m].
  const int32_t* code_sums;
  const int32_t* zero_point;  // per token
};

// Runs `call` with its output channels split over `pool` (null = the calling thread) in tiles of at
// least 32 channels (whole strips), handed out dynamically: a thread that is descheduled (another app
// on its core, a slower core of a big.LITTLE phone) takes fewer tiles instead of holding up the
// others. The pool may merge tiles (multiples of 32) for threads that run ahead.
void RunGemm(const GemmCall& call, pthreadpool_t pool);

// XNNPACK's qd8 per-token asymmetric quantization (docs/format.md): codes q[K] in [-128, 127] with
// x ~= (q - zero_point) * scale.
struct AsymmetricQuant {
  float scale;
  int zero_point;
};
AsymmetricQuant QuantizeAsymmetric(const float* x, size_t K, int8_t* q);

// True if Linear can run `w` (a dtype with a kernel, per-row scales for integer codes).
bool LinearSupports(const TensorView& w);

// x: [M][K] f32, y: [M][N] f32 (K = w.cols(), N = w.rows()). Output channels are split across
// `pool`'s threads (null = the calling thread only) when the product is big enough to pay.
// `prepared`: w's integer codes repacked into channel strips (the same results) and its code sums
// (asymmetric inputs in one kernel row instead of two; within the float epilogue's rounding of the
// two-row result), or {} to read w alone.
void Linear(const TensorView& w, const PreparedWeights& prepared, const float* x, int M, float* y,
            LinearScratch* scratch, pthreadpool_t pool);

}  // namespace edgelm
