#include "memory_bandwidth.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

namespace edgelm_bench {
namespace {

// Eight independent accumulators keep the adds off one dependency chain, so the loop is limited by
// loads from memory, not by add latency (and the compiler can vectorize it).
uint64_t SumWords(const uint64_t* words, size_t count) {
  uint64_t acc[8] = {};
  size_t i = 0;
  for (; i + 8 <= count; i += 8)
    for (int lane = 0; lane < 8; ++lane) acc[lane] += words[i + lane];
  for (; i < count; ++i) acc[0] += words[i];
  uint64_t total = 0;
  for (uint64_t a : acc) total += a;
  return total;
}

// The sums land here so the compiler cannot drop them as unused.
std::atomic<uint64_t> g_checksum_sink{0};

}  // namespace

ReadBandwidthProbe::ReadBandwidthProbe(size_t buffer_bytes) : words_(buffer_bytes / sizeof(uint64_t)) {
  for (size_t i = 0; i < words_.size(); ++i) words_[i] = i;
}

double ReadBandwidthProbe::BestBytesPerSecond(int threads, int runs) const {
  const size_t per_thread = words_.size() / static_cast<size_t>(threads);
  double best = 0.0;
  for (int run = 0; run < runs; ++run) {
    std::vector<std::thread> workers;
    const auto start = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t)
      workers.emplace_back([&, t] { g_checksum_sink += SumWords(words_.data() + t * per_thread, per_thread); });
    for (std::thread& w : workers) w.join();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, static_cast<double>(per_thread * threads * sizeof(uint64_t)) / seconds);
  }
  return best;
}

}  // namespace edgelm_bench
