// Run-time kernel selection. Each variant is a full table: functions a variant does not specialize
// point at the scalar reference. Selection uses cpuinfo (plus hwcaps for i8mm, which cpuinfo 2022
// cannot report); EDGELM_KERNELS=<name> forces a variant, e.g. for tests of every path.
#pragma once

#include <stddef.h>

#include "attention.h"
#include "gemm.h"

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
  qs8_quantize_fn qs8_quantize;
  f32_kv_scores_fn kv_scores[EDGELM_KV_FORMAT_COUNT];          /* indexed by edgelm_kv_format */
  f32_kv_accumulate_fn kv_accumulate[EDGELM_KV_FORMAT_COUNT];
} edgelm_kernels;

// The best variant this CPU runs, or the one EDGELM_KERNELS names (falls back to the best one, with
// a message on stderr, if that variant is unknown or unsupported here). Thread-safe; never NULL.
const edgelm_kernels* edgelm_kernels_select(void);

// Every variant this CPU can run, best last; returns how many (at most `capacity` are written).
size_t edgelm_kernels_available(const edgelm_kernels** out, size_t capacity);

// The variant called `name` if this CPU runs it, else NULL.
const edgelm_kernels* edgelm_kernels_find(const char* name);

#ifdef __cplusplus
}
#endif
