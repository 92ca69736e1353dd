// The machine's memory read bandwidth: the ceiling of a decode step, which streams every weight once.
#ifndef EDGELM_BENCHMARKS_MEMORY_BANDWIDTH_H_
#define EDGELM_BENCHMARKS_MEMORY_BANDWIDTH_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace edgelm_bench {

// The sum of words[0, count): a read loop as fast as this CPU's widest loads make it (AVX2 where
// available), the measure of the memory read bandwidth.
uint64_t SumWords(const uint64_t* words, size_t count);

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

// A ReadBandwidthProbe in a forked child process that lives as long as this object. Its buffer never
// counts in this process's memory (peak RSS), and it is ready at any time, so a measurement can sit
// right beside each timed repetition: on a shared machine whose bandwidth drifts, only such paired
// measurements give a meaningful fraction of the roofline. Construct it before this process starts
// threads (it forks). Not thread-safe.
class ChildReadBandwidthProbe {
 public:
  explicit ChildReadBandwidthProbe(size_t buffer_bytes);
  ~ChildReadBandwidthProbe();  // ends and reaps the child
  ChildReadBandwidthProbe(const ChildReadBandwidthProbe&) = delete;
  ChildReadBandwidthProbe& operator=(const ChildReadBandwidthProbe&) = delete;

  // The child's ReadBandwidthProbe::BestBytesPerSecond, bytes/s; 0 if the child failed (could not
  // fork, allocate or answer).
  double BestBytesPerSecond(int threads, int runs);

 private:
  pid_t child_ = -1;
  int request_fd_ = -1;  // to the child: {threads, runs} as two ints
  int reply_fd_ = -1;    // from the child: one double per request
};

}  // namespace edgelm_bench

#endif  // EDGELM_BENCHMARKS_MEMORY_BANDWIDTH_H_
