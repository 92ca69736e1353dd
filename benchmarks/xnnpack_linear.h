// Static-int8 x per-channel-int8 linear layer on XNNPACK (Debian's 2022-02 build), for comparison with
// edgelm's own qs8_qc8w kernels. That XNNPACK has no per-channel fully-connected operator; its
// `convolution2d_nhwc_qc8` with a 1x1 kernel and batch = M tokens computes the same integer dot
// products. It requantizes them to int8, though, so y = output_scale * q is NOT bit-exact with
// Linear()'s float contract (y = acc * w_scale * x_scale); docs/performance.md has the measured error
// and speed, and why Linear() does not use it. XNNPACK also keeps its own packed copy of the weights
// (about N * (K + 4 + 4) bytes: int8 codes, int32 bias terms, fp32 scales) besides the mapped file.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <pthreadpool.h>

#include "common/status.h"
#include "format/tensor.h"

typedef struct xnn_operator* xnn_operator_t;

namespace edgelm {

class XnnpackQc8Linear {
 public:
  // `w`: dtype I8 with per-row scales and ActivationQuant::StaticInt8. `output_scale` is the int8 step
  // of y (e.g. max|y| / 127 from calibration); XNNPACK needs input_scale * w_scale[n] / output_scale
  // below 256 for every row.
  static Status Create(const TensorView& w, float output_scale, std::unique_ptr<XnnpackQc8Linear>* out);
  ~XnnpackQc8Linear();
  XnnpackQc8Linear(const XnnpackQc8Linear&) = delete;
  XnnpackQc8Linear& operator=(const XnnpackQc8Linear&) = delete;

  // x: [M][K] int8 quantized with w.input_scale (zero point 0); q: [M][N] int8, y ~= output_scale * q.
  // `pool` null = the calling thread.
  Status RunInt8(const int8_t* x, size_t M, int8_t* q, pthreadpool_t pool);

  // RunInt8, then y[M][N] = output_scale * q (scratch for q is kept between calls).
  Status Run(const int8_t* x, size_t M, float* y, pthreadpool_t pool);

  size_t rows() const { return rows_; }
  size_t cols() const { return cols_; }
  float output_scale() const { return output_scale_; }

 private:
  XnnpackQc8Linear() = default;
  xnn_operator_t op_ = nullptr;
  size_t rows_ = 0, cols_ = 0;
  float output_scale_ = 1.0f;
  std::vector<int8_t> q_;
};

}  // namespace edgelm
