#include "simd/scratch.h"

#include <stdint.h>

#include <atomic>
#include <cstdlib>
#include <memory>

#include "dispatch.h"

namespace {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

struct Scratch {
  std::unique_ptr<void, FreeDeleter> data;
  size_t capacity = 0;
};

std::atomic<size_t> g_limit{SIZE_MAX};
std::atomic<int> g_failed{0};

void* Fail() {
  g_failed.store(1, std::memory_order_relaxed);
  return nullptr;
}

}  // namespace

extern "C" void* edgelm_scratch(size_t bytes) {
  thread_local Scratch scratch;
  if (bytes > g_limit.load(std::memory_order_relaxed) || bytes > SIZE_MAX - 63) return Fail();
  if (bytes > scratch.capacity || !scratch.data) {
    const size_t rounded = bytes == 0 ? 64 : (bytes + 63) / 64 * 64;
    void* data = std::aligned_alloc(64, rounded);
    if (!data) return Fail();
    scratch.data.reset(data);
    scratch.capacity = rounded;
  }
  return scratch.data.get();
}

extern "C" void edgelm_scratch_set_limit_for_testing(size_t bytes) { g_limit.store(bytes, std::memory_order_relaxed); }

extern "C" int edgelm_kernels_take_scratch_failure(void) { return g_failed.exchange(0, std::memory_order_relaxed); }
