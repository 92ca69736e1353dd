#include "common/memory_budget.h"

#include <cstdio>

namespace edgelm {

std::string Megabytes(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f MB", static_cast<double>(bytes) / 1e6);
  return text;
}

Status CheckMemoryBudget(const std::string& what, uint64_t needed, const std::string& breakdown, uint64_t budget) {
  if (budget == 0 || needed <= budget) return Status::Ok();
  return Status(StatusCode::kOutOfMemory, what + " needs " + Megabytes(needed) + " (" + breakdown +
                                              "), over the max_memory_bytes budget of " + Megabytes(budget));
}

}  // namespace edgelm
