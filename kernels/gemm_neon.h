// ARM64 variants of the gemm.h microkernels, with the same contracts and results (integer paths
// bit-exact, float paths within rounding of the scalar references). The suffix names what the CPU needs:
//   _neon     ARMv8.0 Advanced SIMD (every aarch64 CPU)
//   _neondot  SDOT (ARMv8.2 dotprod)
//   _i8mm     SMMLA and SDOT (i8mm + dotprod)
// qs8_qc8w_gemm_neon sums pairs of products in int16: it needs activations in [-127, 127], the range
// qs8_quantize_scalar produces.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void qs8_qc8w_gemm_neon(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                        size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y, size_t y_stride);
void qs8_qc4w_gemm_neon(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                        size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y, size_t y_stride);
void qs8_qc2w_gemm_neon(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                        size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y, size_t y_stride);
void qs8_qc8w_gemm_neondot(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                           size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y, size_t y_stride);
void qs8_qc4w_gemm_neondot(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                           size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y, size_t y_stride);
void qs8_qc2w_gemm_neondot(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                           size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y, size_t y_stride);
void qs8_qc8w_gemm_i8mm(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                        size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y, size_t y_stride);
void qs8_qc4w_gemm_i8mm(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                        size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y, size_t y_stride);
void qs8_qc2w_gemm_i8mm(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                        size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y, size_t y_stride);

void f32_f32w_gemm_neon(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                        size_t w_row_bytes, float* y, size_t y_stride);
void f32_bf16w_gemm_neon(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                         size_t w_row_bytes, float* y, size_t y_stride);
void f32_f16w_gemm_neon(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                        size_t w_row_bytes, float* y, size_t y_stride);
void f32_q4_0w_gemm_neon(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                         size_t w_row_bytes, float* y, size_t y_stride);

void qs8_quantize_neon(size_t K, const float* x, float scale, int8_t* q);

#ifdef __cplusplus
}
#endif
