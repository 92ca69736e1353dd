#include "format/tensor.h"

#include <cmath>
#include <cstring>

namespace edgelm {

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
    case DType::I8: return "int8";
    case DType::I4: return "int4";
    case DType::I2: return "int2";
    case DType::Q4_0: return "q4_0";
    case DType::Q8_0: return "q8_0";
    case DType::Q6_K: return "q6_k";
  }
  return "unknown";
}

bool DTypeFromName(const std::string& name, DType* dtype) {
  for (int d = static_cast<int>(DType::MIN); d <= static_cast<int>(DType::MAX); ++d) {
    if (name == DTypeName(static_cast<DType>(d))) {
      *dtype = static_cast<DType>(d);
      return true;
    }
  }
  return false;
}

Status RowBytes(DType dtype, int64_t cols, uint64_t* bytes) {
  if (cols <= 0 || cols > (int64_t{1} << 40)) return CorruptModel("row length out of range");
  const uint64_t n = static_cast<uint64_t>(cols);
  switch (dtype) {
    case DType::F32: *bytes = n * 4; return Status::Ok();
    case DType::F16:
    case DType::BF16: *bytes = n * 2; return Status::Ok();
    case DType::I8: *bytes = n; return Status::Ok();
    case DType::I4: *bytes = (n + 1) / 2; return Status::Ok();
    case DType::I2: *bytes = (n + 3) / 4; return Status::Ok();
    case DType::Q4_0:
      if (n % kQ4_0BlockSize != 0) return CorruptModel("q4_0 row length is not a multiple of 32");
      *bytes = n / kQ4_0BlockSize * kQ4_0BlockBytes;
      return Status::Ok();
    case DType::Q8_0:
      if (n % kQ8_0BlockSize != 0) return CorruptModel("q8_0 row length is not a multiple of 32");
      *bytes = n / kQ8_0BlockSize * kQ8_0BlockBytes;
      return Status::Ok();
    case DType::Q6_K:
      if (n % kQ6_KBlockSize != 0) return CorruptModel("q6_k row length is not a multiple of 256");
      *bytes = n / kQ6_KBlockSize * kQ6_KBlockBytes;
      return Status::Ok();
  }
  return CorruptModel("unknown dtype");
}

Status TensorBytes(DType dtype, const std::vector<int64_t>& shape, uint64_t* bytes) {
  if (shape.empty() || shape.size() > 2) return CorruptModel("tensor rank must be 1 or 2");
  const int64_t rows = shape.size() == 2 ? shape[0] : 1;
  if (rows <= 0 || rows > (int64_t{1} << 40)) return CorruptModel("row count out of range");
  uint64_t row_bytes = 0;
  EDGELM_RETURN_IF_ERROR(RowBytes(dtype, shape.back(), &row_bytes));
  if (row_bytes > UINT64_MAX / static_cast<uint64_t>(rows)) return CorruptModel("tensor size overflows");
  *bytes = row_bytes * static_cast<uint64_t>(rows);
  return Status::Ok();
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  const uint32_t man = h & 0x3ffu;
  float f;
  if (exp == 0) {
    f = std::ldexp(static_cast<float>(man), -24);
  } else if (exp == 31) {
    f = man ? NAN : INFINITY;
  } else {
    f = std::ldexp(static_cast<float>(man | 0x400u), static_cast<int>(exp) - 25);
  }
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u |= sign;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t FloatToHalf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const float a = std::fabs(f);
  if (std::isnan(f)) return sign | 0x7e00u;
  if (a >= 65520.0f) return sign | 0x7c00u;  // rounds to infinity
  if (a < std::ldexp(1.0f, -14)) {           // subnormal: multiples of 2^-24
    return sign | static_cast<uint16_t>(std::nearbyint(std::ldexp(a, 24)));
  }
  int e;
  const float m = std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
  uint32_t mant = static_cast<uint32_t>(std::nearbyint(std::ldexp(m, 11)));  // 11 significant bits
  if (mant == 2048) {
    mant = 1024;
    ++e;
  }
  return sign | static_cast<uint16_t>(((e + 14) << 10) | (mant & 0x3ffu));
}

uint16_t FloatToBF16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

void DequantizeRow(const TensorView& t, int64_t row, float* out) {
  const int64_t cols = t.cols();
  uint64_t row_bytes = 0;
  (void)RowBytes(t.dtype, cols, &row_bytes);  // validated at load
  const uint8_t* p = t.data + static_cast<uint64_t>(row) * row_bytes;
  const int64_t group = t.scale_group_size > 0 ? t.scale_group_size : cols;
  const float* row_scales = t.scales ? t.scales + row * (cols / group) : nullptr;
  auto scale_of = [&](int64_t c) { return row_scales ? row_scales[c / group] : 1.0f; };
  auto half_at = [](const uint8_t* b) { return HalfToFloat(static_cast<uint16_t>(b[0] | (b[1] << 8))); };
  switch (t.dtype) {
    case DType::F32: std::memcpy(out, p, cols * sizeof(float)); break;
    case DType::F16:
      for (int64_t c = 0; c < cols; ++c) out[c] = HalfToFloat(static_cast<uint16_t>(p[2 * c] | (p[2 * c + 1] << 8)));
      break;
    case DType::BF16:
      for (int64_t c = 0; c < cols; ++c) out[c] = BF16ToFloat(static_cast<uint16_t>(p[2 * c] | (p[2 * c + 1] << 8)));
      break;
    case DType::I8:
      for (int64_t c = 0; c < cols; ++c) out[c] = static_cast<float>(static_cast<int8_t>(p[c])) * scale_of(c);
      break;
    case DType::I4:
      for (int64_t c = 0; c < cols; ++c) {
        const int nib = (p[c >> 1] >> ((c & 1) * 4)) & 0xf;
        out[c] = static_cast<float>((nib ^ 8) - 8) * scale_of(c);
      }
      break;
    case DType::I2:
      for (int64_t c = 0; c < cols; ++c) {
        const int crumb = (p[c >> 2] >> ((c & 3) * 2)) & 3;
        out[c] = static_cast<float>((crumb ^ 2) - 2) * scale_of(c);
      }
      break;
    case DType::Q4_0:
      for (int64_t b = 0; b < cols / kQ4_0BlockSize; ++b) {
        const uint8_t* blk = p + b * kQ4_0BlockBytes;
        const float d = half_at(blk);
        float* o = out + b * kQ4_0BlockSize;
        for (int j = 0; j < 16; ++j) {
          o[j] = static_cast<float>((blk[2 + j] & 0xf) - 8) * d;
          o[j + 16] = static_cast<float>((blk[2 + j] >> 4) - 8) * d;
        }
      }
      break;
    case DType::Q8_0:
      for (int64_t b = 0; b < cols / kQ8_0BlockSize; ++b) {
        const uint8_t* blk = p + b * kQ8_0BlockBytes;
        const float d = half_at(blk);
        for (int j = 0; j < kQ8_0BlockSize; ++j)
          out[b * kQ8_0BlockSize + j] = static_cast<float>(static_cast<int8_t>(blk[2 + j])) * d;
      }
      break;
    case DType::Q6_K:
      for (int64_t b = 0; b < cols / kQ6_KBlockSize; ++b) {
        const uint8_t* blk = p + b * kQ6_KBlockBytes;
        const float d = half_at(blk + 208);
        float* o = out + b * kQ6_KBlockSize;
        for (int half = 0; half < 2; ++half) {  // two 128-element halves
          const uint8_t* ql = blk + 64 * half;
          const uint8_t* qh = blk + 128 + 32 * half;
          const int8_t* sc = reinterpret_cast<const int8_t*>(blk + 192) + 8 * half;
          float* y = o + 128 * half;
          for (int l = 0; l < 32; ++l) {
            const int is = l / 16;
            const int q1 = ((ql[l] & 0xf) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q2 = ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            y[l] = d * static_cast<float>(sc[is]) * static_cast<float>(q1);
            y[l + 32] = d * static_cast<float>(sc[is + 2]) * static_cast<float>(q2);
            y[l + 64] = d * static_cast<float>(sc[is + 4]) * static_cast<float>(q3);
            y[l + 96] = d * static_cast<float>(sc[is + 6]) * static_cast<float>(q4);
          }
        }
      }
      break;
  }
}

}  // namespace edgelm
