// Up-front memory checks, so that a model or session that would not fit the caller's budget
// (max_memory_bytes in the C API) is refused before anything large is allocated.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace edgelm {

// "12.3 MB" (10^6 bytes, as file sizes are shown).
std::string Megabytes(uint64_t bytes);

// kOutOfMemory when `needed` exceeds `budget` (0 = no limit): "<what> needs X MB (<breakdown>), over
// the max_memory_bytes budget of Y MB".
Status CheckMemoryBudget(const std::string& what, uint64_t needed, const std::string& breakdown, uint64_t budget);

}  // namespace edgelm
