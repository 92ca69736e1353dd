// Per-thread scratch memory for kernels compiled with ISA flags. Those files must not instantiate
// STL templates: the linker may keep their out-of-line copy (built with AVX2, say) for baseline code too.
#pragma once

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// At least `bytes` bytes, 64-byte aligned, owned by the calling thread; valid until its next call.
// NULL if the memory cannot be allocated: the failure is then also recorded for
// edgelm_kernels_take_scratch_failure() (dispatch.h), and the calling kernel writes zeros instead of
// its result. The thread's previous buffer stays allocated either way.
void* edgelm_scratch(size_t bytes);

// Test hook: from now on every edgelm_scratch request above `bytes` fails as if out of memory, in
// every thread; SIZE_MAX (the default) removes the limit.
void edgelm_scratch_set_limit_for_testing(size_t bytes);

#ifdef __cplusplus
}
#endif
