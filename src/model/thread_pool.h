// An owned pthreadpool. One thread means no pool: work runs on the calling thread.
#pragma once

#include <memory>

#include <pthreadpool.h>

#include "common/status.h"

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

}  // namespace edgelm
