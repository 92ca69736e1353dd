// Scalar references for float-activation GEMM over f32 / bf16 / f16 / Q4_0 / Q8_0 / Q6_K weights:
// dequantize one weight row to f32 (in the per-thread scratch, simd/scratch.h), then dot it with every
// token row. Block weights are decoded with ggml's order of operations (q * d; Q6_K (d * scale) * q),
// like format/tensor.cc's DequantizeRow.
#include <cmath>
#include <cstring>

#include "gemm.h"
#include "simd/dot.h"
#include "simd/scratch.h"

namespace {

inline uint16_t Load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

float Bf16(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

float Half(uint16_t h) {
  const int exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  float v;
  if (exp == 0) v = std::ldexp(static_cast<float>(man), -24);
  else if (exp == 31) v = man ? NAN : INFINITY;
  else v = std::ldexp(static_cast<float>(man | 0x400), exp - 25);
  return (h & 0x8000) ? -v : v;
}

template <typename DecodeRow>
void Gemm(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w, size_t w_row_bytes,
          float* y, size_t y_stride, DecodeRow decode) {
  float* row = static_cast<float*>(edgelm_scratch(K * sizeof(float)));  // one TLS lookup per call
  if (!row) {  // out of memory, recorded by edgelm_scratch: zeros instead of a result
    for (size_t m = 0; m < M; ++m) std::memset(y + m * y_stride, 0, N * sizeof(float));
    return;
  }
  for (size_t n = 0; n < N; ++n) {
    decode(w + n * w_row_bytes, K, row);
    for (size_t m = 0; m < M; ++m) {
      y[m * y_stride + n] = edgelm_dot_f32(x + m * x_stride, row, K);
    }
  }
}

}  // namespace

extern "C" {

void edgelm_f32_f32w_gemm_scalar(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                                 size_t w_row_bytes, float* y, size_t y_stride) {
  Gemm(M, N, K, x, x_stride, w, w_row_bytes, y, y_stride,
       [](const uint8_t* p, size_t k, float* out) { std::memcpy(out, p, k * sizeof(float)); });
}

void edgelm_f32_bf16w_gemm_scalar(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                                  size_t w_row_bytes, float* y, size_t y_stride) {
  Gemm(M, N, K, x, x_stride, w, w_row_bytes, y, y_stride, [](const uint8_t* p, size_t k, float* out) {
    for (size_t i = 0; i < k; ++i) out[i] = Bf16(Load16(p + 2 * i));
  });
}

void edgelm_f32_f16w_gemm_scalar(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                                 size_t w_row_bytes, float* y, size_t y_stride) {
  Gemm(M, N, K, x, x_stride, w, w_row_bytes, y, y_stride, [](const uint8_t* p, size_t k, float* out) {
    for (size_t i = 0; i < k; ++i) out[i] = Half(Load16(p + 2 * i));
  });
}

void edgelm_f32_q4_0w_gemm_scalar(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                                  size_t w_row_bytes, float* y, size_t y_stride) {
  Gemm(M, N, K, x, x_stride, w, w_row_bytes, y, y_stride, [](const uint8_t* p, size_t k, float* out) {
    for (size_t b = 0; b < k / 32; ++b) {
      const uint8_t* blk = p + b * 18;
      const float d = Half(Load16(blk));
      for (int j = 0; j < 16; ++j) {
        out[b * 32 + j] = static_cast<float>((blk[2 + j] & 0xf) - 8) * d;
        out[b * 32 + j + 16] = static_cast<float>((blk[2 + j] >> 4) - 8) * d;
      }
    }
  });
}

void edgelm_f32_q8_0w_gemm_scalar(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                                  size_t w_row_bytes, float* y, size_t y_stride) {
  Gemm(M, N, K, x, x_stride, w, w_row_bytes, y, y_stride, [](const uint8_t* p, size_t k, float* out) {
    for (size_t b = 0; b < k / 32; ++b) {
      const uint8_t* blk = p + b * 34;
      const float d = Half(Load16(blk));
      for (int j = 0; j < 32; ++j) out[b * 32 + j] = static_cast<float>(static_cast<int8_t>(blk[2 + j])) * d;
    }
  });
}

void edgelm_f32_q6_kw_gemm_scalar(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                                  size_t w_row_bytes, float* y, size_t y_stride) {
  Gemm(M, N, K, x, x_stride, w, w_row_bytes, y, y_stride, [](const uint8_t* p, size_t k, float* out) {
    for (size_t b = 0; b < k / 256; ++b) {
      const uint8_t* blk = p + b * 210;
      const float d = Half(Load16(blk + 208));
      // Two halves of 128 weights; in each, byte l of ql/qh holds the bits of weights l, l+32, l+64, l+96.
      for (int half = 0; half < 2; ++half) {
        const uint8_t* ql = blk + 64 * half;
        const uint8_t* qh = blk + 128 + 32 * half;
        const int8_t* scale = reinterpret_cast<const int8_t*>(blk + 192) + 8 * half;
        float* o = out + b * 256 + 128 * half;
        for (int l = 0; l < 32; ++l)
          for (int quarter = 0; quarter < 4; ++quarter) {
            const int low = (ql[l + 32 * (quarter & 1)] >> (4 * (quarter >> 1))) & 0xf;
            const int high = (qh[l] >> (2 * quarter)) & 3;
            o[l + 32 * quarter] = d * static_cast<float>(scale[l / 16 + 2 * quarter]) *
                                  static_cast<float>((low | high << 4) - 32);
          }
      }
    }
  });
}

}  // extern "C"
