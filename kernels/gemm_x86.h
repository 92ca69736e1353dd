// x86-64 SIMD variants of the gemm.h kernels: same contracts and bit-identical integer results.
// Each file is compiled with its own ISA flags; call them only through dispatch.h, which checks
// the CPU first.
// Integer kernels additionally require activations in [-127, 127] (qs8_quantize_scalar's range;
// the AVX2 int8 kernel moves signs between operands) and K * 255 * 127 < 2^31 (K < 66,000).
#pragma once

#include "gemm.h"

#ifdef __cplusplus
extern "C" {
#endif

// AVX2 + FMA + F16C.
void qs8_qc8w_gemm_avx2(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                        size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y, size_t y_stride);
void qs8_qc4w_gemm_avx2(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                        size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y, size_t y_stride);
void qs8_qc2w_gemm_avx2(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                        size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y, size_t y_stride);
void f32_f32w_gemm_avx2(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                        size_t w_row_bytes, float* y, size_t y_stride);
void f32_bf16w_gemm_avx2(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                         size_t w_row_bytes, float* y, size_t y_stride);
void f32_f16w_gemm_avx2(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                        size_t w_row_bytes, float* y, size_t y_stride);
void f32_q4_0w_gemm_avx2(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                         size_t w_row_bytes, float* y, size_t y_stride);
void qs8_quantize_avx2(size_t K, const float* x, float scale, int8_t* q);

// AVX-512 F/BW/VL + VNNI (vpdpbusd).
void qs8_qc8w_gemm_avx512vnni(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                              size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y,
                              size_t y_stride);
void qs8_qc4w_gemm_avx512vnni(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                              size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y,
                              size_t y_stride);
void qs8_qc2w_gemm_avx512vnni(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                              size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y,
                              size_t y_stride);

#ifdef __cplusplus
}
#endif
