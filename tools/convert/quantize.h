// Row encoders for every stored dtype: float rows -> codes (+ per-row scale), and packing of integer
// codes that a QAT checkpoint provides (scales taken as given, never re-derived).
#pragma once

#include <cstdint>

#include "format/tensor.h"

namespace edgelm {

enum class ScaleSearch {
  kAbsMax,  // scale = max|w| / qmax
  kMse,     // grid search for the scale with the least squared reconstruction error (int4/int2)
};

// Integer code range of a per-row dtype: I8 [-127,127], I4 [-8,7], I2 [-2,1].
void CodeRange(DType dtype, int* qmin, int* qmax);

// Encodes `cols` floats into one row of `dtype`. For I8/I4/I2 also writes the row's scale. The GGUF
// block types other than Q4_0 have no encoder (InvalidArgument).
Status EncodeRow(DType dtype, const float* src, int64_t cols, ScaleSearch search, uint8_t* dst, float* scale);

// Packs integer codes (already in CodeRange) into one row of I8/I4/I2.
void PackCodes(DType dtype, const int8_t* codes, int64_t cols, uint8_t* dst);

// Packs Q4_0 codes (q - 8, in [-8,7]) and one scale per 32-block (exactly representable in fp16).
void PackQ4_0(const int8_t* codes, const float* block_scales, int64_t cols, uint8_t* dst);

}  // namespace edgelm
