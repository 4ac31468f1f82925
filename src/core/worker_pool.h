// A fixed set of threads behind a bounded queue. When the queue is full,
// submit() refuses at once instead of letting work pile up: that is how a
// login flood is kept from starving everything else.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace aureo::core {

class WorkerPool {
 public:
  WorkerPool(size_t threads, size_t queue_capacity);
  ~WorkerPool();  // runs queued jobs to completion, then joins
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // False (and job not run) when the queue is full or the pool is stopping.
  // Safe from any thread.
  bool submit(std::function<void()> job);

  [[nodiscard]] size_t queued() const;
  [[nodiscard]] size_t capacity() const { return capacity_; }

 private:
  void run();

  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace aureo::core
