#include "convert/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace edgelm {
namespace {

float RowError(const float* src, int64_t cols, float scale, int qmin, int qmax) {
  float err = 0.0f;
  const float inv = 1.0f / scale;
  for (int64_t c = 0; c < cols; ++c) {
    const float q = std::min<float>(qmax, std::max<float>(qmin, std::nearbyint(src[c] * inv)));
    const float d = src[c] - q * scale;
    err += d * d;
  }
  return err;
}

void EncodeQ4_0(const float* src, int64_t cols, uint8_t* dst) {
  for (int64_t b = 0; b < cols / kQ4_0BlockSize; ++b) {
    const float* x = src + b * kQ4_0BlockSize;
    // d = m / -8 where m is the (first) element of largest magnitude: the extreme maps to code 0.
    float m = 0.0f;
    for (int j = 0; j < kQ4_0BlockSize; ++j)
      if (std::fabs(x[j]) > std::fabs(m)) m = x[j];
    const uint16_t d_half = FloatToHalf(m / -8.0f);
    const float d = HalfToFloat(d_half);
    const float inv = d != 0.0f ? 1.0f / d : 0.0f;
    uint8_t* blk = dst + b * kQ4_0BlockBytes;
    blk[0] = static_cast<uint8_t>(d_half & 0xff);
    blk[1] = static_cast<uint8_t>(d_half >> 8);
    for (int j = 0; j < 16; ++j) {
      const int lo = std::min(15, static_cast<int>(std::floor(x[j] * inv + 8.5f)));
      const int hi = std::min(15, static_cast<int>(std::floor(x[j + 16] * inv + 8.5f)));
      blk[2 + j] = static_cast<uint8_t>(std::max(0, lo) | (std::max(0, hi) << 4));
    }
  }
}

}  // namespace

void CodeRange(DType dtype, int* qmin, int* qmax) {
  switch (dtype) {
    case DType::I4: *qmin = -8; *qmax = 7; return;
    case DType::I2: *qmin = -2; *qmax = 1; return;
    default: *qmin = -127; *qmax = 127; return;
  }
}

void PackCodes(DType dtype, const int8_t* codes, int64_t cols, uint8_t* dst) {
  uint64_t bytes = 0;
  (void)RowBytes(dtype, cols, &bytes);
  std::memset(dst, 0, bytes);
  for (int64_t c = 0; c < cols; ++c) {
    const uint8_t q = static_cast<uint8_t>(codes[c]);
    switch (dtype) {
      case DType::I8: dst[c] = q; break;
      case DType::I4: dst[c >> 1] |= static_cast<uint8_t>((q & 0xf) << ((c & 1) * 4)); break;
      case DType::I2: dst[c >> 2] |= static_cast<uint8_t>((q & 0x3) << ((c & 3) * 2)); break;
      default: break;
    }
  }
}

void PackQ4_0(const int8_t* codes, const float* block_scales, int64_t cols, uint8_t* dst) {
  for (int64_t b = 0; b < cols / kQ4_0BlockSize; ++b) {
    const uint16_t d = FloatToHalf(block_scales[b]);
    uint8_t* blk = dst + b * kQ4_0BlockBytes;
    blk[0] = static_cast<uint8_t>(d & 0xff);
    blk[1] = static_cast<uint8_t>(d >> 8);
    const int8_t* q = codes + b * kQ4_0BlockSize;
    for (int j = 0; j < 16; ++j) blk[2 + j] = static_cast<uint8_t>((q[j] + 8) | ((q[j + 16] + 8) << 4));
  }
}

Status EncodeRow(DType dtype, const float* src, int64_t cols, ScaleSearch search, uint8_t* dst, float* scale) {
  switch (dtype) {
    case DType::F32: std::memcpy(dst, src, static_cast<size_t>(cols) * 4); return Status::Ok();
    case DType::F16:
    case DType::BF16:
      for (int64_t c = 0; c < cols; ++c) {
        const uint16_t v = dtype == DType::F16 ? FloatToHalf(src[c]) : FloatToBF16(src[c]);
        dst[2 * c] = static_cast<uint8_t>(v & 0xff);
        dst[2 * c + 1] = static_cast<uint8_t>(v >> 8);
      }
      return Status::Ok();
    case DType::Q4_0: EncodeQ4_0(src, cols, dst); return Status::Ok();
    case DType::Q8_0:
    case DType::Q6_K:  // only ever copied from a GGUF file as stored
      return InvalidArgument(std::string("no encoder for ") + DTypeName(dtype) + ": it is imported from GGUF as stored");
    case DType::I8:
    case DType::I4:
    case DType::I2: break;
  }
  int qmin, qmax;
  CodeRange(dtype, &qmin, &qmax);
  float amax = 0.0f;
  for (int64_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(src[c]));
  float s = amax > 0.0f ? amax / static_cast<float>(std::max(qmax, -qmin - (dtype == DType::I8 ? 0 : 1))) : 1.0f;
  if (search == ScaleSearch::kMse && amax > 0.0f && dtype != DType::I8) {
    float best = RowError(src, cols, s, qmin, qmax);
    for (int step = 1; step <= 40; ++step) {  // scales from 0.2x to 1.2x of the absmax choice
      const float cand = amax / static_cast<float>(qmax > 1 ? qmax : 2) * (0.2f + 0.025f * step);
      const float e = RowError(src, cols, cand, qmin, qmax);
      if (e < best) {
        best = e;
        s = cand;
      }
    }
  }
  std::vector<int8_t> codes(static_cast<size_t>(cols));
  const float inv = 1.0f / s;
  for (int64_t c = 0; c < cols; ++c)
    codes[c] = static_cast<int8_t>(std::min<float>(qmax, std::max<float>(qmin, std::nearbyint(src[c] * inv))));
  PackCodes(dtype, codes.data(), cols, dst);
  *scale = s;
  return Status::Ok();
}

}  // namespace edgelm
