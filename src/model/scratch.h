// Scratch buffers that persist across calls: they only grow, so a steady decode loop allocates nothing.
#pragma once

#include <cstddef>
#include <vector>

namespace edgelm {

// `v` holding at least `n` elements (new ones value-initialized; existing contents kept); its data.
template <typename T>
T* GrowScratch(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

}  // namespace edgelm
