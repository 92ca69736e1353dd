#include "xnnpack_linear.h"

#include <xnnpack.h>

#include <string>

namespace edgelm {
namespace {

Status XnnError(const char* what, xnn_status status) {
  return Unsupported(std::string("XNNPACK ") + what + " failed with status " + std::to_string(static_cast<int>(status)));
}

}  // namespace

Status XnnpackQc8Linear::Create(const TensorView& w, float output_scale, std::unique_ptr<XnnpackQc8Linear>* out) {
  if (w.dtype != DType::I8 || !w.scales || w.activation != ActivationQuant::StaticInt8 || w.shape.size() != 2)
    return InvalidArgument(w.name + ": XNNPACK qc8 needs a 2-D I8 tensor with row scales and a static input scale");
  // xnn_initialize is reference-counted and cheap after the first call; one per operator keeps the
  // pairing with xnn_deinitialize in the destructor simple.
  xnn_status status = xnn_initialize(nullptr);
  if (status != xnn_status_success) return XnnError("initialize", status);
  std::unique_ptr<XnnpackQc8Linear> linear(new XnnpackQc8Linear());
  linear->rows_ = static_cast<size_t>(w.rows());
  linear->cols_ = static_cast<size_t>(w.cols());
  linear->output_scale_ = output_scale;
  status = xnn_create_convolution2d_nhwc_qc8(
      /*padding*/ 0, 0, 0, 0, /*kernel*/ 1, 1, /*subsampling*/ 1, 1, /*dilation*/ 1, 1, /*groups*/ 1,
      linear->cols_, linear->rows_, /*input_channel_stride*/ linear->cols_, /*output_channel_stride*/ linear->rows_,
      /*input_zero_point*/ 0, w.input_scale, w.scales, reinterpret_cast<const int8_t*>(w.data), /*bias*/ nullptr,
      /*output_zero_point*/ 0, output_scale, /*output_min*/ -128, /*output_max*/ 127, /*flags*/ 0, &linear->op_);
  if (status != xnn_status_success) {
    xnn_deinitialize();
    return XnnError("create_convolution2d_nhwc_qc8", status);
  }
  *out = std::move(linear);
  return Status::Ok();
}

XnnpackQc8Linear::~XnnpackQc8Linear() {
  xnn_delete_operator(op_);
  xnn_deinitialize();
}

Status XnnpackQc8Linear::RunInt8(const int8_t* x, size_t M, int8_t* q, pthreadpool_t pool) {
  // Batch M images of 1x1 pixels: the 1x1 convolution is exactly a fully-connected layer.
  xnn_status status = xnn_setup_convolution2d_nhwc_qc8(op_, M, 1, 1, x, q, pool);
  if (status != xnn_status_success) return XnnError("setup_convolution2d_nhwc_qc8", status);
  status = xnn_run_operator(op_, pool);
  if (status != xnn_status_success) return XnnError("run_operator", status);
  return Status::Ok();
}

Status XnnpackQc8Linear::Run(const int8_t* x, size_t M, float* y, pthreadpool_t pool) {
  q_.resize(M * rows_);
  EDGELM_RETURN_IF_ERROR(RunInt8(x, M, q_.data(), pool));
  for (size_t i = 0; i < q_.size(); ++i) y[i] = output_scale_ * static_cast<float>(q_[i]);
  return Status::Ok();
}

}  // namespace edgelm
