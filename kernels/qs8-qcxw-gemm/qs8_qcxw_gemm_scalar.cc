// Scalar references for int8-activation x {int8, int4, int2}-weight GEMM: decode one weight row once,
// then reuse it for every token row (the decode cost is amortized over M). The decoded row lives in
// the per-thread scratch (simd/scratch.h), so every variant fails the same way when memory runs out.
// Also the per-channel code sums (gemm.h), which are ISA-independent.
#include <cstring>

#include "gemm.h"
#include "simd/scratch.h"

namespace {

template <int kBits>
inline int8_t DecodeCode(const uint8_t* row, size_t k) {
  if (kBits == 8) return static_cast<int8_t>(row[k]);
  if (kBits == 4) {
    const int nib = (row[k >> 1] >> ((k & 1) * 4)) & 0xf;
    return static_cast<int8_t>((nib ^ 8) - 8);
  }
  const int crumb = (row[k >> 2] >> ((k & 3) * 2)) & 3;
  return static_cast<int8_t>((crumb ^ 2) - 2);
}

template <int kBits>
void Gemm(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w, size_t w_row_bytes,
          const float* w_scale, const float* x_scale, float* y, size_t y_stride) {
  int8_t* decoded = static_cast<int8_t*>(edgelm_scratch(K));  // one TLS lookup per call, not per element
  if (!decoded) {  // out of memory, recorded by edgelm_scratch: zeros, as the SIMD variants write
    for (size_t m = 0; m < M; ++m) std::memset(y + m * y_stride, 0, N * sizeof(float));
    return;
  }
  for (size_t n = 0; n < N; ++n) {
    const uint8_t* row = w + n * w_row_bytes;
    for (size_t k = 0; k < K; ++k) decoded[k] = DecodeCode<kBits>(row, k);
    for (size_t m = 0; m < M; ++m) {
      const int8_t* xm = x + m * x_stride;
      int32_t acc = 0;
      for (size_t k = 0; k < K; ++k) acc += static_cast<int32_t>(xm[k]) * decoded[k];
      y[m * y_stride + n] = static_cast<float>(acc) * w_scale[n] * x_scale[m];
    }
  }
}

// Sum of the codes in `bytes` whole bytes of a row: each field's unsigned value minus 2^bits where its
// sign bit is set, written so that the byte loop vectorizes (a load-time pass over every weight).
template <int kBits>
int32_t SumWholeBytes(const uint8_t* row, size_t bytes) {
  constexpr unsigned kMask = (1u << kBits) - 1, kSign = 1u << (kBits - 1);
  int32_t sum = 0;
  for (size_t i = 0; i < bytes; ++i) {
    const unsigned b = row[i];
    int32_t byte_sum = 0;
    for (int shift = 0; shift < 8; shift += kBits) {
      const unsigned field = (b >> shift) & kMask;
      byte_sum += static_cast<int32_t>(field) - static_cast<int32_t>((field & kSign) << 1);
    }
    sum += byte_sum;
  }
  return sum;
}

template <int kBits>
void CodeSums(size_t N, size_t K, const uint8_t* w, size_t w_row_bytes, int32_t* sums) {
  constexpr size_t kPerByte = 8 / kBits;
  const size_t whole = K / kPerByte;
  for (size_t n = 0; n < N; ++n) {
    const uint8_t* row = w + n * w_row_bytes;
    int32_t sum = SumWholeBytes<kBits>(row, whole);
    for (size_t k = whole * kPerByte; k < K; ++k) sum += DecodeCode<kBits>(row, k);  // the last byte's codes below K
    sums[n] = sum;
  }
}

}  // namespace

extern "C" {

void edgelm_qs8_code_sums(int bits, size_t N, size_t K, const uint8_t* w, size_t w_row_bytes, int32_t* sums) {
  if (bits == 8) CodeSums<8>(N, K, w, w_row_bytes, sums);
  else if (bits == 4) CodeSums<4>(N, K, w, w_row_bytes, sums);
  else CodeSums<2>(N, K, w, w_row_bytes, sums);
}

void edgelm_qs8_qc8w_gemm_scalar(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                                 size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y,
                                 size_t y_stride) {
  Gemm<8>(M, N, K, x, x_stride, w, w_row_bytes, w_scale, x_scale, y, y_stride);
}

void edgelm_qs8_qc4w_gemm_scalar(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                                 size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y,
                                 size_t y_stride) {
  Gemm<4>(M, N, K, x, x_stride, w, w_row_bytes, w_scale, x_scale, y, y_stride);
}

void edgelm_qs8_qc2w_gemm_scalar(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                                 size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y,
                                 size_t y_stride) {
  Gemm<2>(M, N, K, x, x_stride, w, w_row_bytes, w_scale, x_scale, y, y_stride);
}

}  // extern "C"
