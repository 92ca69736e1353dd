// Matrix-multiply microkernels (kernels in qs8-qcxw-gemm/ and fxw-gemm/). Every kernel computes, for
// m < M and n < N,
//   y[m*y_stride + n] = f(sum_k x[m, k] * w[n, k])
// with the weights stored row-major [N][K] in the .edgelm file's packed layout (read in place, never
// copied). Strides are in elements of x and y; w_row_bytes in bytes. The scalar references define the
// exact results; every variant is declared here, by macro, one line per variant.
// A kernel that needs per-thread scratch memory (simd/scratch.h: the scalar references, the x86 integer
// kernels and the NEON sub-byte kernels) and cannot get it writes zeros to y, and
// edgelm_kernels_take_scratch_failure() (dispatch.h) reports it: out of memory never aborts and never
// leaves y undefined.
//
// Variant suffixes name what the CPU needs (call them only through dispatch.h, which checks it):
//   _scalar      nothing: the references (baseline compiler flags)
//   _avx2        x86-64 AVX2 + FMA + F16C
//   _avx512vnni  x86-64 AVX-512 F/BW/VL + VNNI (vpdpbusd); integer kernels only
//   _neon        ARMv8.0 Advanced SIMD (every aarch64 CPU)
//   _neondot     SDOT (ARMv8.2 dotprod); integer kernels only
//   _i8mm        SMMLA and SDOT (i8mm + dotprod); integer kernels only
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// --- int8 activations x packed integer weights (per-output-channel scales): qs8-qcxw-gemm/ ----------
// x: int8 [M][x_stride]; w: packed rows of `w_row_bytes`; codes are I8 (one per byte), I4 (two per byte,
// even k in the low nibble) or I2 (four per byte, k%4 in bits 2*(k%4)), two's complement.
// y[m][n] = (float)acc * w_scale[n] * x_scale[m], acc the exact int32 sum_k x[m][k] * code[n][k]
// (x_scale per token: static scales repeat one value).
// Every variant's result equals the scalar reference bit for bit, provided activations lie in
// [-127, 127] for I8 codes (edgelm_qs8_quantize_*'s range: the AVX2 and NEON int8 kernels move signs
// between operands or sum pairs of products in int16), in [-128, 127] for I4 and I2 codes (raw
// asymmetric codes, model/linear.cc), and K * 255 * 127 < 2^31 (K < 66,000).
typedef void (*qs8_qcxw_gemm_fn)(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride,
                                 const uint8_t* w, size_t w_row_bytes, const float* w_scale,
                                 const float* x_scale, float* y, size_t y_stride);

#define EDGELM_DECLARE_QS8_QCXW_GEMM(variant)                                                                  \
  void edgelm_qs8_qc8w_gemm_##variant(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride,          \
                                      const uint8_t* w, size_t w_row_bytes, const float* w_scale,              \
                                      const float* x_scale, float* y, size_t y_stride);                        \
  void edgelm_qs8_qc4w_gemm_##variant(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride,          \
                                      const uint8_t* w, size_t w_row_bytes, const float* w_scale,              \
                                      const float* x_scale, float* y, size_t y_stride);                        \
  void edgelm_qs8_qc2w_gemm_##variant(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride,          \
                                      const uint8_t* w, size_t w_row_bytes, const float* w_scale,              \
                                      const float* x_scale, float* y, size_t y_stride);

// --- the same GEMM over weights repacked into channel strips: qs8-qcxw-gemm/*strips* -------------------
// A strip is 16 output channels (channels past N: zero codes) as consecutive 64-byte blocks; byte 4c + j
// of block b belongs to channel c and holds:
//   I8  the code of k = 4b + j
//   I4  low nibble k = 8b + j, high nibble k = 8b + 4 + j
//   I2  bits 2i, 2i+1: k = 16b + 4i + j
// Codes past K are 0. Each bit plane of a block thus meets four consecutive activations, so one vector
// of blocks times one broadcast activation dword feeds 16 channels (vpdpbusd, NEON sdot by element):
// no horizontal sums, no per-call decode of row layouts, and a GEMV reads one linear stream. The layout
// does not depend on the ISA. Strips of a matrix follow each other, each edgelm_qs8_strip_bytes(bits, K)
// long.
size_t edgelm_qs8_strip_bytes(int bits, size_t K);
// Repacks N row-major rows (the layout above; bits 8, 4 or 2) into ceil(N / 16) strips at `strips`.
// Baseline C++ that the compiler vectorizes: 7-8 GB/s on one Zen 5 core from and to memory, as fast as
// an AVX-512 transpose of the same was, so it has no SIMD variants.
void edgelm_qs8_pack_strips(int bits, size_t N, size_t K, const uint8_t* w, size_t w_row_bytes, uint8_t* strips);
// sums[n] = sum_k code[n][k] over N row-major rows (bits 8, 4 or 2): the row a GEMM would give for
// activations all one, so that a caller can run codes with a zero point as they are and subtract
// zero point x sums[n] from the exact int32 results. Baseline C++ that the compiler vectorizes.
void edgelm_qs8_code_sums(int bits, size_t N, size_t K, const uint8_t* w, size_t w_row_bytes, int32_t* sums);
// qs8_qcxw_gemm_fn's contract over strips: `strips` is the strip of channel 0 (a multiple of 16 of the
// packed matrix); results equal the row-major scalar reference's bit for bit.
typedef void (*qs8_qcxw_strips_gemm_fn)(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride,
                                        const uint8_t* strips, const float* w_scale, const float* x_scale,
                                        float* y, size_t y_stride);

#define EDGELM_DECLARE_QS8_QCXW_STRIPS_GEMM(variant)                                                           \
  void edgelm_qs8_qc8w_strips_gemm_##variant(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride,   \
                                             const uint8_t* strips, const float* w_scale, const float* x_scale, \
                                             float* y, size_t y_stride);                                       \
  void edgelm_qs8_qc4w_strips_gemm_##variant(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride,   \
                                             const uint8_t* strips, const float* w_scale, const float* x_scale, \
                                             float* y, size_t y_stride);                                       \
  void edgelm_qs8_qc2w_strips_gemm_##variant(size_t M, size_t N, size_t K, const int8_t* x, size_t x_stride,   \
                                             const uint8_t* strips, const float* w_scale, const float* x_scale, \
                                             float* y, size_t y_stride);

// --- float activations x float-ish weights: fxw-gemm/ ------------------------------------------------
// x: f32 [M][x_stride]; w rows of `w_row_bytes` in f32, bf16, f16 or llama.cpp / GGUF blocks (K a
// multiple of the block):
//   Q4_0  32 weights in 18 bytes: f16 d, 16 bytes of 4-bit codes q (q[j] low nibbles, q[j+16] high); (q - 8) * d
//   Q8_0  32 weights in 34 bytes: f16 d, 32 int8 codes q; q * d
//   Q6_K  256 weights in 210 bytes: ql[128] low 4 bits, qh[64] high 2 bits, int8 scales[16] (one per 16
//         weights), f16 d last; (d * scale) * (q - 32) (format/tensor.cc's DequantizeRow has the bit order)
// y[m][n] = sum_k x[m][k] * w[n][k] in float; variants may sum in another order, or apply a block's
// scale to a partial sum, so they agree with the reference within rounding.
typedef void (*f32_gemm_fn)(size_t M, size_t N, size_t K, const float* x, size_t x_stride, const uint8_t* w,
                            size_t w_row_bytes, float* y, size_t y_stride);

#define EDGELM_DECLARE_F32_FXW_GEMM(variant)                                                                   \
  void edgelm_f32_f32w_gemm_##variant(size_t M, size_t N, size_t K, const float* x, size_t x_stride,           \
                                      const uint8_t* w, size_t w_row_bytes, float* y, size_t y_stride);        \
  void edgelm_f32_bf16w_gemm_##variant(size_t M, size_t N, size_t K, const float* x, size_t x_stride,          \
                                       const uint8_t* w, size_t w_row_bytes, float* y, size_t y_stride);       \
  void edgelm_f32_f16w_gemm_##variant(size_t M, size_t N, size_t K, const float* x, size_t x_stride,           \
                                      const uint8_t* w, size_t w_row_bytes, float* y, size_t y_stride);        \
  void edgelm_f32_q4_0w_gemm_##variant(size_t M, size_t N, size_t K, const float* x, size_t x_stride,          \
                                       const uint8_t* w, size_t w_row_bytes, float* y, size_t y_stride);       \
  void edgelm_f32_q8_0w_gemm_##variant(size_t M, size_t N, size_t K, const float* x, size_t x_stride,          \
                                       const uint8_t* w, size_t w_row_bytes, float* y, size_t y_stride);       \
  void edgelm_f32_q6_kw_gemm_##variant(size_t M, size_t N, size_t K, const float* x, size_t x_stride,          \
                                       const uint8_t* w, size_t w_row_bytes, float* y, size_t y_stride);

EDGELM_DECLARE_QS8_QCXW_GEMM(scalar)
EDGELM_DECLARE_QS8_QCXW_STRIPS_GEMM(scalar)
EDGELM_DECLARE_F32_FXW_GEMM(scalar)
#if defined(__x86_64__) || defined(_M_X64)
EDGELM_DECLARE_QS8_QCXW_GEMM(avx2)
EDGELM_DECLARE_QS8_QCXW_STRIPS_GEMM(avx2)
EDGELM_DECLARE_F32_FXW_GEMM(avx2)
EDGELM_DECLARE_QS8_QCXW_GEMM(avx512vnni)
EDGELM_DECLARE_QS8_QCXW_STRIPS_GEMM(avx512vnni)
#endif
#if defined(__aarch64__)
EDGELM_DECLARE_QS8_QCXW_GEMM(neon)
EDGELM_DECLARE_F32_FXW_GEMM(neon)
EDGELM_DECLARE_QS8_QCXW_GEMM(neondot)
EDGELM_DECLARE_QS8_QCXW_GEMM(i8mm)
#endif

#ifdef __cplusplus
}
#endif
