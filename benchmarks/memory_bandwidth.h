// The machine's memory read bandwidth: the ceiling of a decode step, which streams every weight once.
#ifndef EDGELM_BENCHMARKS_MEMORY_BANDWIDTH_H_
#define EDGELM_BENCHMARKS_MEMORY_BANDWIDTH_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace edgelm_bench {

// A STREAM-like read loop: threads sum disjoint slices of one buffer, far larger than any cache.
class ReadBandwidthProbe {
 public:
  // Allocates and writes `buffer_bytes` (rounded down to whole 64-bit words) so every page is real.
  explicit ReadBandwidthProbe(size_t buffer_bytes);

  // Highest read rate over `runs` full passes with `threads` threads, in bytes/s.
  double BestBytesPerSecond(int threads, int runs) const;

  size_t buffer_bytes() const { return words_.size() * sizeof(uint64_t); }

 private:
  std::vector<uint64_t> words_;
};

}  // namespace edgelm_bench

#endif  // EDGELM_BENCHMARKS_MEMORY_BANDWIDTH_H_
