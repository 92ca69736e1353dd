// Tensor descriptions shared by the loader and the writer (the kernels see raw pointers only).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "edgelm_generated.h"

namespace edgelm {

using schema::ActivationQuant;
using schema::DType;
using schema::ScaleKind;

constexpr int kQ4_0BlockSize = 32;   // weights per Q4_0 block
constexpr int kQ4_0BlockBytes = 18;  // fp16 scale + 16 bytes of nibbles
constexpr int kQ8_0BlockSize = 32;
constexpr int kQ8_0BlockBytes = 34;  // fp16 scale + 32 int8 codes
constexpr int kQ6_KBlockSize = 256;
constexpr int kQ6_KBlockBytes = 210; // ql[128], qh[64], int8 scales[16], fp16 d (last)
constexpr size_t kTensorAlignment = 64;

const char* DTypeName(DType dtype);
bool DTypeFromName(const std::string& name, DType* dtype);

// Bytes of one row of `cols` elements (rows start on byte boundaries); error if `cols` does not fit
// the dtype (Q4_0 needs a multiple of 32).
Status RowBytes(DType dtype, int64_t cols, uint64_t* bytes);

// Bytes of a whole tensor; shapes are [rows, cols] or [cols]. Overflow-checked.
Status TensorBytes(DType dtype, const std::vector<int64_t>& shape, uint64_t* bytes);

// A tensor inside a mapped model file. Pointers stay valid while the file is open.
struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  uint64_t size = 0;                 // bytes at `data`
  // fp32 scales of integer codes: one per row, or [rows][cols / scale_group_size] when
  // scale_group_size > 0 (gathered tables only); null for float and block dtypes.
  const float* scales = nullptr;
  int64_t scale_group_size = 0;
  ActivationQuant activation = ActivationQuant::None;
  float input_scale = 0.0f;          // StaticInt8 / StaticInt8Full
  float output_scale = 0.0f;         // > 0: the output is requantized to int8 with this scale
  // CRC-32 of the `size` bytes at `data` and of the scales, when the file carries checksums
  // (ModelFile::has_checksums).
  uint32_t data_checksum = 0;
  uint32_t scales_checksum = 0;

  bool static_input() const {
    return activation == ActivationQuant::StaticInt8 || activation == ActivationQuant::StaticInt8Full;
  }
  int64_t scales_per_row() const { return scale_group_size > 0 ? cols() / scale_group_size : 1; }

  int64_t rows() const { return shape.size() == 2 ? shape[0] : 1; }
  int64_t cols() const { return shape.empty() ? 0 : shape.back(); }
  int64_t numel() const { return rows() * cols(); }
};

// Dequantizes row `row` of `t` into `out[cols]` (every dtype; the reference for kernels and tools).
// Block dtypes compute d * q (Q6_K: d * scale * q) in float in that order, as ggml does, so decoded
// GGUF tensors are bit-identical to llama.cpp's.
void DequantizeRow(const TensorView& t, int64_t row, float* out);

// IEEE half / bfloat16 conversions (round to nearest even).
float HalfToFloat(uint16_t h);
uint16_t FloatToHalf(float f);
inline float BF16ToFloat(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}
uint16_t FloatToBF16(float f);

}  // namespace edgelm
