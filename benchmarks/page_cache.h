// Whether a file's pages sit in the OS page cache, and dropping them to measure a cold load.
#ifndef EDGELM_BENCHMARKS_PAGE_CACHE_H_
#define EDGELM_BENCHMARKS_PAGE_CACHE_H_

#include <string>

namespace edgelm_bench {

// Asks the kernel to drop the file's clean cached pages (posix_fadvise DONTNEED; no root needed).
// Pages still mapped by a process, or dirty ones, stay: check with PageCacheResidentFraction.
// False if the file cannot be opened or the call fails.
bool EvictFromPageCache(const std::string& path);

// Fraction in [0, 1] of the file's pages that are in the page cache (mincore), or -1 if unknown.
// Linux reports the page cache only for files the caller owns or may write; for others it counts
// just the pages this process has mapped, which reads as 0.
double PageCacheResidentFraction(const std::string& path);

}  // namespace edgelm_bench

#endif  // EDGELM_BENCHMARKS_PAGE_CACHE_H_
