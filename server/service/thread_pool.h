// A fixed pool of threads running short tasks in FIFO order.
#ifndef ABLATE_SERVER_SERVICE_THREAD_POOL_H_
#define ABLATE_SERVER_SERVICE_THREAD_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace ablate::service {

// Thread-safe.
class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  // Runs the tasks already posted, then joins.
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Post(std::function<void()> task) ABSL_LOCKS_EXCLUDED(mutex_);

 private:
  absl::Mutex mutex_;
  absl::CondVar wake_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace ablate::service

#endif  // ABLATE_SERVER_SERVICE_THREAD_POOL_H_
