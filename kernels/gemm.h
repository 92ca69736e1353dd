// Matrix-multiply microkernels. Every kernel computes, for m < M and n < N,
//   y[m*y_stride + n] = f(sum_k x[m, k] * w[n, k])
// with the weights stored row-major [N][K] in the .edgelm file's packed layout (read in place, never
// copied). Scalar references live beside each SIMD variant and define the exact results.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// --- int8 activations x packed integer weights (per-output-channel scales) -------------------------
// x: int8 [M][x_stride]; w: packed rows of `w_row_bytes`; codes are I8 (one per byte), I4 (two per byte,
// even k in the low nibble) or I2 (four per byte, k%4 in bits 2*(k%4)).
// y[m][n] = (float)acc * w_scale[n] * x_scale[m]  (x_scale per token: static scales repeat one value).
typedef void (*qs8_qcxw_gemm_fn)(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride,
                                 const uint8_t* w, size_t w_row_bytes, const float* w_scale,
                                 const float* x_scale, float* y, size_t y_stride);

void qs8_qc8w_gemm_scalar(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                          size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y, size_t y_stride);
void qs8_qc4w_gemm_scalar(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                          size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y, size_t y_stride);
void qs8_qc2w_gemm_scalar(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride, const uint8_t* w,
                          size_t w_row_bytes, const float* w_scale, const float* x_scale, float* y, size_t y_stride);

// --- float activations x float-ish weights -------------------------------------------------------
// x: f32 [M][x_stride]; w rows of `w_row_bytes` in f32, bf16, f16 or Q4_0 (llama.cpp blocks of 32).
typedef void (*f32_gemm_fn)(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                            size_t w_row_bytes, float* y, size_t y_stride);

void f32_f32w_gemm_scalar(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                          size_t w_row_bytes, float* y, size_t y_stride);
void f32_bf16w_gemm_scalar(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                           size_t w_row_bytes, float* y, size_t y_stride);
void f32_f16w_gemm_scalar(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                          size_t w_row_bytes, float* y, size_t y_stride);
void f32_q4_0w_gemm_scalar(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                           size_t w_row_bytes, float* y, size_t y_stride);

// --- activation quantization -----------------------------------------------------------------------
// q[k] = clamp(round_half_even(x[k] / scale), -127, 127).
void qs8_quantize_scalar(size_t K, const float* x, float scale, int8_t* q);
typedef void (*qs8_quantize_fn)(size_t K, const float* x, float scale, int8_t* q);
// Dynamic per-token scale: max|x| / 127 (1 for an all-zero row, which then quantizes to zeros).
float qs8_dynamic_scale_scalar(size_t K, const float* x);

#ifdef __cplusplus
}
#endif
