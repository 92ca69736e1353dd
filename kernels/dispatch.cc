#include "dispatch.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <cpuinfo.h>

namespace {

// The scores and accumulate kernels of every KV record format, in edgelm_kv_format order.
#define KV_ATTENTION_KERNELS(variant)                                                                       \
  {edgelm_f32_kvf32_scores_##variant, edgelm_f32_kvbf16_scores_##variant, edgelm_f32_kvi8_scores_##variant, \
   edgelm_f32_kvi4_scores_##variant},                                                                       \
  {edgelm_f32_kvf32_accumulate_##variant, edgelm_f32_kvbf16_accumulate_##variant,                           \
   edgelm_f32_kvi8_accumulate_##variant, edgelm_f32_kvi4_accumulate_##variant}

const edgelm_kernels kScalar = {"scalar",
                                edgelm_qs8_qc8w_gemm_scalar,
                                edgelm_qs8_qc4w_gemm_scalar,
                                edgelm_qs8_qc2w_gemm_scalar,
                                edgelm_f32_f32w_gemm_scalar,
                                edgelm_f32_bf16w_gemm_scalar,
                                edgelm_f32_f16w_gemm_scalar,
                                edgelm_f32_q4_0w_gemm_scalar,
                                edgelm_f32_q8_0w_gemm_scalar,
                                edgelm_f32_q6_kw_gemm_scalar,
                                edgelm_qs8_quantize_scalar,
                                KV_ATTENTION_KERNELS(scalar),
                                edgelm_f32_gelu_tanh_mul_scalar,
                                edgelm_f32_softcap_scalar,
                                nullptr, nullptr, nullptr};  // row-major weights

// Candidate variants, weakest first; `supported` is evaluated at run time.
struct Variant {
  const edgelm_kernels* table;
  bool (*supported)();
};

bool Always() { return true; }

#if defined(__x86_64__) || defined(_M_X64)
const edgelm_kernels kAvx2 = {"avx2",
                              edgelm_qs8_qc8w_gemm_avx2,
                              edgelm_qs8_qc4w_gemm_avx2,
                              edgelm_qs8_qc2w_gemm_avx2,
                              edgelm_f32_f32w_gemm_avx2,
                              edgelm_f32_bf16w_gemm_avx2,
                              edgelm_f32_f16w_gemm_avx2,
                              edgelm_f32_q4_0w_gemm_avx2,
                              edgelm_f32_q8_0w_gemm_avx2,
                              edgelm_f32_q6_kw_gemm_avx2,
                              edgelm_qs8_quantize_avx2,
                              KV_ATTENTION_KERNELS(avx2),
                              edgelm_f32_gelu_tanh_mul_avx2,
                              edgelm_f32_softcap_avx2,
                              edgelm_qs8_qc8w_strips_gemm_avx2,
                              edgelm_qs8_qc4w_strips_gemm_avx2,
                              edgelm_qs8_qc2w_strips_gemm_avx2};

// Float weights gain nothing from VNNI: those keep the AVX2 kernels.
const edgelm_kernels kAvx512Vnni = {"avx512vnni",
                                    edgelm_qs8_qc8w_gemm_avx512vnni,
                                    edgelm_qs8_qc4w_gemm_avx512vnni,
                                    edgelm_qs8_qc2w_gemm_avx512vnni,
                                    edgelm_f32_f32w_gemm_avx2,
                                    edgelm_f32_bf16w_gemm_avx2,
                                    edgelm_f32_f16w_gemm_avx2,
                                    edgelm_f32_q4_0w_gemm_avx2,
                                    edgelm_f32_q8_0w_gemm_avx2,
                                    edgelm_f32_q6_kw_gemm_avx2,
                                    edgelm_qs8_quantize_avx2,
                                    KV_ATTENTION_KERNELS(avx512f),
                                    edgelm_f32_gelu_tanh_mul_avx512f,
                                    edgelm_f32_softcap_avx512f,
                                    edgelm_qs8_qc8w_strips_gemm_avx512vnni,
                                    edgelm_qs8_qc4w_strips_gemm_avx512vnni,
                                    edgelm_qs8_qc2w_strips_gemm_avx512vnni};

bool HasAvx2() { return cpuinfo_has_x86_avx2() && cpuinfo_has_x86_fma3() && cpuinfo_has_x86_f16c(); }

bool HasAvx512Vnni() {
  return HasAvx2() && cpuinfo_has_x86_avx512f() && cpuinfo_has_x86_avx512bw() && cpuinfo_has_x86_avx512vl() &&
         cpuinfo_has_x86_avx512vnni();
}
#endif

#if defined(__aarch64__)
const edgelm_kernels kNeon = {"neon",
                              edgelm_qs8_qc8w_gemm_neon,
                              edgelm_qs8_qc4w_gemm_neon,
                              edgelm_qs8_qc2w_gemm_neon,
                              edgelm_f32_f32w_gemm_neon,
                              edgelm_f32_bf16w_gemm_neon,
                              edgelm_f32_f16w_gemm_neon,
                              edgelm_f32_q4_0w_gemm_neon,
                              edgelm_f32_q8_0w_gemm_neon,
                              edgelm_f32_q6_kw_gemm_neon,
                              edgelm_qs8_quantize_neon,
                              KV_ATTENTION_KERNELS(neon),
                              edgelm_f32_gelu_tanh_mul_scalar,  // the baseline build vectorizes it with NEON
                              edgelm_f32_softcap_scalar,
                              nullptr, nullptr, nullptr};  // row-major weights

// Float weights gain nothing from SDOT/SMMLA: those keep the NEON kernels.
const edgelm_kernels kNeonDot = {"neondot",
                                 edgelm_qs8_qc8w_gemm_neondot,
                                 edgelm_qs8_qc4w_gemm_neondot,
                                 edgelm_qs8_qc2w_gemm_neondot,
                                 edgelm_f32_f32w_gemm_neon,
                                 edgelm_f32_bf16w_gemm_neon,
                                 edgelm_f32_f16w_gemm_neon,
                                 edgelm_f32_q4_0w_gemm_neon,
                                 edgelm_f32_q8_0w_gemm_neon,
                                 edgelm_f32_q6_kw_gemm_neon,
                                 edgelm_qs8_quantize_neon,
                                 KV_ATTENTION_KERNELS(neon),
                                 edgelm_f32_gelu_tanh_mul_scalar,
                                 edgelm_f32_softcap_scalar,
                                 nullptr, nullptr, nullptr};  // row-major weights

const edgelm_kernels kI8mm = {"i8mm",
                              edgelm_qs8_qc8w_gemm_i8mm,
                              edgelm_qs8_qc4w_gemm_i8mm,
                              edgelm_qs8_qc2w_gemm_i8mm,
                              edgelm_f32_f32w_gemm_neon,
                              edgelm_f32_bf16w_gemm_neon,
                              edgelm_f32_f16w_gemm_neon,
                              edgelm_f32_q4_0w_gemm_neon,
                              edgelm_f32_q8_0w_gemm_neon,
                              edgelm_f32_q6_kw_gemm_neon,
                              edgelm_qs8_quantize_neon,
                              KV_ATTENTION_KERNELS(neon),
                              edgelm_f32_gelu_tanh_mul_scalar,
                              edgelm_f32_softcap_scalar,
                              nullptr, nullptr, nullptr};  // row-major weights

bool HasNeonDot() { return cpuinfo_has_arm_neon_dot(); }

// The i8mm kernels use SDOT for single tokens, so they need both.
bool HasI8mm() { return cpuinfo_has_arm_i8mm() && HasNeonDot(); }
#endif

const Variant kVariants[] = {
    {&kScalar, Always},
#if defined(__x86_64__) || defined(_M_X64)
    {&kAvx2, HasAvx2},
    {&kAvx512Vnni, HasAvx512Vnni},
#endif
#if defined(__aarch64__)
    // i8mm ranks below dotprod although it needs more: re-pairing row-major weights for SMMLA in every
    // step costs more vector work than SMMLA saves, so its kernels model 0-40% slower than the SDOT ones
    // on every i8mm core (docs/performance.md, "ARM kernels under llvm-mca"). They stay selectable by
    // name (EDGELM_KERNELS=i8mm, edgelm-kernel-bench) so that a phone can confirm or refute the model.
    {&kNeon, Always},
    {&kI8mm, HasI8mm},
    {&kNeonDot, HasNeonDot},
#endif
};

size_t Available(const edgelm_kernels** out, size_t capacity) {
  cpuinfo_initialize();
  size_t n = 0;
  for (const Variant& v : kVariants)
    if (v.supported()) {
      if (n < capacity) out[n] = v.table;
      ++n;
    }
  return n;
}

// Why EDGELM_KERNELS was not honoured, for edgelm_kernels_selection_warning(); written once, by Select().
char g_selection_warning[160];

const edgelm_kernels* Select() {
  const edgelm_kernels* all[16];
  const size_t n = Available(all, 16);
  const edgelm_kernels* best = all[(n < 16 ? n : 16) - 1];
  const char* forced = std::getenv("EDGELM_KERNELS");
  if (!forced || !*forced) return best;
  // "auto", "xnnpack" and "edgelm" choose the engine of the integer linears (src/model/xnn_linear.h),
  // not a variant: the best one runs whatever else there is.
  static const char* const kEngines[] = {"auto", "xnnpack", "edgelm"};
  for (const char* engine : kEngines)
    if (std::strcmp(forced, engine) == 0) return best;
  if (const edgelm_kernels* k = edgelm_kernels_find(forced)) return k;
  std::snprintf(g_selection_warning, sizeof g_selection_warning,
                "EDGELM_KERNELS=%.64s is unknown or unsupported on this CPU; using %s", forced, best->name);
  return best;
}

}  // namespace

extern "C" {

size_t edgelm_kernels_available(const edgelm_kernels** out, size_t capacity) { return Available(out, capacity); }

const edgelm_kernels* edgelm_kernels_find(const char* name) {
  const edgelm_kernels* all[16];
  const size_t n = Available(all, 16);
  for (size_t i = 0; i < n && i < 16; ++i)
    if (std::strcmp(all[i]->name, name) == 0) return all[i];
  return nullptr;
}

const edgelm_kernels* edgelm_kernels_select(void) {
  static const edgelm_kernels* selected = Select();  // thread-safe static initialization
  return selected;
}

const char* edgelm_kernels_selection_warning(void) {
  edgelm_kernels_select();  // the warning is written before the selection is published
  return g_selection_warning[0] ? g_selection_warning : nullptr;
}

}  // extern "C"
