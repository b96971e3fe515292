// An Executor that trains runs on a pool of local threads, one run per thread.
#ifndef ABLATE_SERVER_JOBS_LOCAL_EXECUTOR_H_
#define ABLATE_SERVER_JOBS_LOCAL_EXECUTOR_H_

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "server/jobs/executor.h"

namespace ablate::jobs {

// Each run is single-threaded: for these small GEMMs, three runs on two cores finish sooner
// than one run at a time on two threads.
class LocalExecutor final : public Executor {
 public:
  // Starts `workers` threads (at least 1).
  explicit LocalExecutor(int workers);
  // Stops taking queued runs, waits for the running ones (stop them first through their
  // stop tokens to return quickly), and joins the threads. Runs still queued are dropped
  // without a callback.
  ~LocalExecutor() override;

  void Execute(RunRequest request) override;
  int Workers() const override { return static_cast<int>(threads_.size()); }
  // Runs waiting for a free worker: /metrics' ablate_run_queue_depth.
  int Queued();

 private:
  void WorkLoop();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<RunRequest> queue_;  // guarded by mutex_
  bool stopping_ = false;         // guarded by mutex_
  std::vector<std::thread> threads_;
};

}  // namespace ablate::jobs

#endif  // ABLATE_SERVER_JOBS_LOCAL_EXECUTOR_H_
