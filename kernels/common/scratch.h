// Per-thread scratch memory for kernels compiled with ISA flags. Those files must not instantiate
// STL templates: the linker may keep their out-of-line copy (built with AVX2, say) for baseline code too.
#pragma once

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

// At least `bytes` bytes, 64-byte aligned, owned by the calling thread; valid until its next call.
void* edgelm_scratch(size_t bytes);

#ifdef __cplusplus
}
#endif
