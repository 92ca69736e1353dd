#include "common/scratch.h"

#include <cstdlib>
#include <memory>

namespace {

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

struct Scratch {
  std::unique_ptr<void, FreeDeleter> data;
  size_t capacity = 0;
};

}  // namespace

extern "C" void* edgelm_scratch(size_t bytes) {
  thread_local Scratch scratch;
  if (bytes > scratch.capacity) {
    const size_t rounded = (bytes + 63) / 64 * 64;
    scratch.data.reset(std::aligned_alloc(64, rounded));
    if (!scratch.data) std::abort();  // kernels have no error path; activations are small
    scratch.capacity = rounded;
  }
  return scratch.data.get();
}
