// An owned pthreadpool, and the helpers our own parallel regions run through.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>

#include <pthreadpool.h>

#include "common/status.h"

#if defined(__SANITIZE_THREAD__)
#define EDGELM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EDGELM_TSAN 1
#endif
#endif
#ifdef EDGELM_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace edgelm {

class ThreadPool {
 public:
  // `threads`: 0 = one per core, 1 = the calling thread only.
  static Status Create(int threads, std::unique_ptr<ThreadPool>* out) {
    if (threads < 0 || threads > 1024) return InvalidArgument("thread count must be in [0, 1024]");
    std::unique_ptr<ThreadPool> p(new ThreadPool());
    if (threads != 1) {
      p->pool_ = pthreadpool_create(static_cast<size_t>(threads));
      if (!p->pool_) return Status(StatusCode::kOutOfMemory, "cannot create a thread pool of " + std::to_string(threads) + " threads");
    }
    *out = std::move(p);
    return Status::Ok();
  }
  ~ThreadPool() {
    if (pool_) pthreadpool_destroy(pool_);
  }
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  pthreadpool_t get() const { return pool_; }
  int threads() const { return pool_ ? static_cast<int>(pthreadpool_get_threads_count(pool_)) : 1; }

 private:
  ThreadPool() = default;
  pthreadpool_t pool_ = nullptr;
};

// ThreadSanitizer cannot see pthreadpool's synchronization (the pinned library is built without it).
// In a TSan build one of these per parallel region tells it what pthreadpool guarantees: the caller's
// writes happen before every task, and every task's before the region returns; tasks stay unordered
// among themselves (two sync objects). Elsewhere it does nothing.
class RegionOrder {
 public:
#ifdef EDGELM_TSAN
  RegionOrder() { __tsan_release(&started_); }
  ~RegionOrder() { __tsan_acquire(&finished_); }
  void TaskBegins() { __tsan_acquire(&started_); }
  void TaskEnds() { __tsan_release(&finished_); }

 private:
  char started_ = 0, finished_ = 0;
#else
  void TaskBegins() {}
  void TaskEnds() {}
#endif
};

// pthreadpool_parallelize_1d_tile_1d_dynamic(pool, task, context, range, tile, 0), and the same with
// the thread's index: every parallel region of ours goes through these two (XNNPACK's operators
// parallelize inside XNNPACK, whose code TSan does not instrument either).
inline void ParallelizeTiles(pthreadpool_t pool, pthreadpool_task_1d_tile_1d_dynamic_t task, void* context,
                             size_t range, size_t tile) {
  struct Job {
    pthreadpool_task_1d_tile_1d_dynamic_t task;
    void* context;
    RegionOrder order;
  } job{task, context, {}};
  auto run = [](void* j, size_t first, size_t count) {
    Job& job = *static_cast<Job*>(j);
    job.order.TaskBegins();
    job.task(job.context, first, count);
    job.order.TaskEnds();
  };
  pthreadpool_parallelize_1d_tile_1d_dynamic(pool, run, &job, range, tile, 0);
}

inline void ParallelizeTilesWithThread(pthreadpool_t pool, pthreadpool_task_1d_tile_1d_dynamic_with_id_t task,
                                       void* context, size_t range, size_t tile) {
  struct Job {
    pthreadpool_task_1d_tile_1d_dynamic_with_id_t task;
    void* context;
    RegionOrder order;
  } job{task, context, {}};
  auto run = [](void* j, uint32_t thread, size_t first, size_t count) {
    Job& job = *static_cast<Job*>(j);
    job.order.TaskBegins();
    job.task(job.context, thread, first, count);
    job.order.TaskEnds();
  };
  pthreadpool_parallelize_1d_tile_1d_dynamic_with_thread(pool, run, &job, range, tile, 0);
}

// Calls fn(first, count) over rows [0, rows) in tiles of at least `min_rows` rows on `pool`, or once
// on the calling thread when there is no pool or too few rows to share. For per-row work whose rows
// are independent, so results do not depend on the split: the norms, RoPE and activation
// quantization of a prefill chunk, which would otherwise leave the other threads waiting.
template <class Fn>
void ForEachRowTile(pthreadpool_t pool, size_t rows, size_t min_rows, Fn&& fn) {
  const size_t threads = pool ? pthreadpool_get_threads_count(pool) : 1;
  if (threads <= 1 || rows < 2 * min_rows) {
    if (rows > 0) fn(size_t{0}, rows);
    return;
  }
  // About four tiles per thread, so a thread slowed by another process leaves its share to the rest.
  const size_t tile = std::max(min_rows, (rows + 4 * threads - 1) / (4 * threads));
  using Task = typename std::remove_reference<Fn>::type;
  ParallelizeTiles(
      pool, [](void* context, size_t first, size_t count) { (*static_cast<Task*>(context))(first, count); },
      const_cast<void*>(static_cast<const void*>(&fn)), rows, tile);
}

}  // namespace edgelm
