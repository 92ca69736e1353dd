#include "memory_bandwidth.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
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

bool MeasureReadBandwidthInChild(size_t buffer_bytes, const std::vector<int>& threads, int runs,
                                 std::vector<double>* bytes_per_s) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return false;
  const pid_t child = fork();
  if (child < 0) {
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return false;
  }
  if (child == 0) {
    close(pipe_fds[0]);
    const ReadBandwidthProbe probe(buffer_bytes);
    for (int t : threads) {
      const double rate = probe.BestBytesPerSecond(t, runs);
      if (write(pipe_fds[1], &rate, sizeof rate) != static_cast<ssize_t>(sizeof rate)) _exit(1);
    }
    _exit(0);
  }
  close(pipe_fds[1]);
  bytes_per_s->assign(threads.size(), 0.0);
  char* out = reinterpret_cast<char*>(bytes_per_s->data());
  const size_t wanted = threads.size() * sizeof(double);
  size_t received = 0;
  while (received < wanted) {
    const ssize_t n = read(pipe_fds[0], out + received, wanted - received);
    if (n > 0) received += static_cast<size_t>(n);
    else if (n < 0 && errno == EINTR) continue;
    else break;
  }
  close(pipe_fds[0]);
  int status = 0;
  pid_t waited;
  do {
    waited = waitpid(child, &status, 0);
  } while (waited < 0 && errno == EINTR);
  return waited == child && received == wanted && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace edgelm_bench
