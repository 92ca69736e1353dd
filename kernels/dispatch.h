// Run-time kernel selection. Each variant is a full table (no NULL entries but the strip GEMMs): a
// variant that does not specialize a function reuses the lesser SIMD variant's kernel it builds on. avx512vnni has only integer
// GEMMs of its own (float GEMMs, quantization and kv-attention are avx2's); neondot and i8mm likewise
// reuse neon's. Every avx2 and neon entry is its own kernel, and the scalar table holds the references.
// Selection uses cpuinfo (plus hwcaps for i8mm); EDGELM_KERNELS=<name> forces a variant, e.g. for tests
// of every path (a forced variant also keeps the integer linears on our kernels; "xnnpack" and
// "edgelm" force only the engine of those, src/model/xnn_linear.h). Nothing here prints.
#pragma once

#include <stddef.h>

#include "activation.h"
#include "attention.h"
#include "gemm.h"
#include "quantize.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct edgelm_kernels {
  const char* name;  // "scalar", "avx2", "avx512vnni", "neon", "neondot", "i8mm"
  qs8_qcxw_gemm_fn qs8_qc8w_gemm;
  qs8_qcxw_gemm_fn qs8_qc4w_gemm;
  qs8_qcxw_gemm_fn qs8_qc2w_gemm;
  f32_gemm_fn f32_f32w_gemm;
  f32_gemm_fn f32_bf16w_gemm;
  f32_gemm_fn f32_f16w_gemm;
  f32_gemm_fn f32_q4_0w_gemm;
  f32_gemm_fn f32_q8_0w_gemm;
  f32_gemm_fn f32_q6_kw_gemm;
  qs8_quantize_fn qs8_quantize;
  f32_kv_scores_fn kv_scores[EDGELM_KV_FORMAT_COUNT];          /* indexed by edgelm_kv_format */
  f32_kv_accumulate_fn kv_accumulate[EDGELM_KV_FORMAT_COUNT];
  f32_gelu_tanh_mul_fn gelu_tanh_mul;
  f32_softcap_fn softcap;
  // GEMMs over channel strips (gemm.h), NULL where the variant has none (scalar, NEON: XNNPACK or the
  // row-major kernels). Only these entries may be NULL: a variant fills them when strips beat its
  // row-major kernels, and the model then repacks the weights at load (src/model/strip_weights.h).
  qs8_qcxw_strips_gemm_fn qs8_qc8w_strips_gemm;
  qs8_qcxw_strips_gemm_fn qs8_qc4w_strips_gemm;
  qs8_qcxw_strips_gemm_fn qs8_qc2w_strips_gemm;
} edgelm_kernels;

// The best variant this CPU runs, or the one EDGELM_KERNELS names (falls back to the best one if that
// variant is unknown or unsupported here: see edgelm_kernels_selection_warning). The choice is made once
// per process. Thread-safe; never NULL.
const edgelm_kernels* edgelm_kernels_select(void);

// NULL if EDGELM_KERNELS was honoured or not set; otherwise a static string saying which variant was
// asked for and which one edgelm_kernels_select() uses instead (for the caller to log). Thread-safe.
const char* edgelm_kernels_selection_warning(void);

// 1 if a kernel could not get its per-thread scratch memory (out of memory) since the last call, which
// clears the flag; else 0. Such a kernel wrote zeros to its outputs instead of a result, so a caller
// checks this after a computation and reports it as out of memory. Process-wide and thread-safe.
int edgelm_kernels_take_scratch_failure(void);

// Every variant this CPU can run, best last; returns how many (at most `capacity` are written).
size_t edgelm_kernels_available(const edgelm_kernels** out, size_t capacity);

// The variant called `name` if this CPU runs it, else NULL.
const edgelm_kernels* edgelm_kernels_find(const char* name);

#ifdef __cplusplus
}
#endif
