// A fixed pool of threads running short tasks in FIFO order.
#ifndef ABLATE_SERVER_SERVICE_THREAD_POOL_H_
#define ABLATE_SERVER_SERVICE_THREAD_POOL_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ablate::service {

// Thread-safe.
class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  // Runs the tasks already posted, then joins.
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Post(std::function<void()> task);

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;  // guarded by mutex_
  bool stopping_ = false;                    // guarded by mutex_
  std::vector<std::thread> threads_;
};

}  // namespace ablate::service

#endif  // ABLATE_SERVER_SERVICE_THREAD_POOL_H_
