// Memory the benchmark process holds: resident and proportional set sizes (Linux).
#ifndef EDGELM_BENCHMARKS_PROCESS_MEMORY_H_
#define EDGELM_BENCHMARKS_PROCESS_MEMORY_H_

#include <cstdint>

namespace edgelm_bench {

// Current totals from /proc/self/smaps_rollup, in bytes. PSS splits pages shared with other
// processes (e.g. a model file mapped twice) by the number of sharers; the *_file part is the
// mmapped model (page cache) and the *_anon part the heap (KV cache, scratch).
struct ProcessMemory {
  uint64_t rss_bytes = 0;
  uint64_t pss_bytes = 0;
  uint64_t pss_anon_bytes = 0;
  uint64_t pss_file_bytes = 0;
};

// False when /proc/self/smaps_rollup cannot be read (not Linux, or a kernel older than 4.14).
bool ReadProcessMemory(ProcessMemory* out);

// Largest resident set of this process so far (getrusage), in bytes.
uint64_t PeakRssBytes();

// Page faults of this process so far (getrusage): a major one read the page from storage, a minor one
// mapped a page already in memory (the page cache, or new anonymous memory) on its first touch.
struct PageFaults {
  uint64_t major = 0;
  uint64_t minor = 0;
  PageFaults operator-(const PageFaults& earlier) const { return {major - earlier.major, minor - earlier.minor}; }
  PageFaults& operator+=(const PageFaults& more) {
    major += more.major;
    minor += more.minor;
    return *this;
  }
};
PageFaults ReadPageFaults();

}  // namespace edgelm_bench

#endif  // EDGELM_BENCHMARKS_PROCESS_MEMORY_H_
