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

// Runs a ReadBandwidthProbe in a forked child process, so its buffer never counts in this process's
// memory (peak RSS). Fills (*bytes_per_s)[i] with the best rate of `threads[i]` threads over `runs`
// passes, in bytes/s. False if the child could not run or report.
bool MeasureReadBandwidthInChild(size_t buffer_bytes, const std::vector<int>& threads, int runs,
                                 std::vector<double>* bytes_per_s);

}  // namespace edgelm_bench

#endif  // EDGELM_BENCHMARKS_MEMORY_BANDWIDTH_H_
