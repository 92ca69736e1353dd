#include "dispatch.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <cpuinfo.h>

#if defined(__x86_64__) || defined(_M_X64)
#include "gemm_x86.h"
#endif

namespace {

const edgelm_kernels kScalar = {"scalar",
                                qs8_qc8w_gemm_scalar,
                                qs8_qc4w_gemm_scalar,
                                qs8_qc2w_gemm_scalar,
                                f32_f32w_gemm_scalar,
                                f32_bf16w_gemm_scalar,
                                f32_f16w_gemm_scalar,
                                f32_q4_0w_gemm_scalar};

// Candidate variants, weakest first; `supported` is evaluated at run time.
struct Variant {
  const edgelm_kernels* table;
  bool (*supported)();
};

bool Always() { return true; }

#if defined(__x86_64__) || defined(_M_X64)
const edgelm_kernels kAvx2 = {"avx2",
                              qs8_qc8w_gemm_avx2,
                              qs8_qc4w_gemm_avx2,
                              qs8_qc2w_gemm_avx2,
                              f32_f32w_gemm_avx2,
                              f32_bf16w_gemm_avx2,
                              f32_f16w_gemm_avx2,
                              f32_q4_0w_gemm_avx2};

// Float weights gain nothing from VNNI: those keep the AVX2 kernels.
const edgelm_kernels kAvx512Vnni = {"avx512vnni",
                                    qs8_qc8w_gemm_avx512vnni,
                                    qs8_qc4w_gemm_avx512vnni,
                                    qs8_qc2w_gemm_avx512vnni,
                                    f32_f32w_gemm_avx2,
                                    f32_bf16w_gemm_avx2,
                                    f32_f16w_gemm_avx2,
                                    f32_q4_0w_gemm_avx2};

bool HasAvx2() { return cpuinfo_has_x86_avx2() && cpuinfo_has_x86_fma3() && cpuinfo_has_x86_f16c(); }

bool HasAvx512Vnni() {
  return HasAvx2() && cpuinfo_has_x86_avx512f() && cpuinfo_has_x86_avx512bw() && cpuinfo_has_x86_avx512vl() &&
         cpuinfo_has_x86_avx512vnni();
}
#endif

const Variant kVariants[] = {
    {&kScalar, Always},
#if defined(__x86_64__) || defined(_M_X64)
    {&kAvx2, HasAvx2},
    {&kAvx512Vnni, HasAvx512Vnni},
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

const edgelm_kernels* Select() {
  const edgelm_kernels* all[16];
  const size_t n = Available(all, 16);
  const edgelm_kernels* best = all[(n < 16 ? n : 16) - 1];
  const char* forced = std::getenv("EDGELM_KERNELS");
  if (!forced || !*forced) return best;
  if (const edgelm_kernels* k = edgelm_kernels_find(forced)) return k;
  std::fprintf(stderr, "edgelm: EDGELM_KERNELS=%s is unknown or unsupported on this CPU; using %s\n", forced, best->name);
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

}  // extern "C"
