// An Executor that trains runs on a pool of local threads, one run per thread.
#ifndef ABLATE_SERVER_JOBS_LOCAL_EXECUTOR_H_
#define ABLATE_SERVER_JOBS_LOCAL_EXECUTOR_H_

#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/jobs/executor.h"
#include "server/jobs/owner_turns.h"

namespace ablate::jobs {

// Each run is single-threaded: for these small GEMMs, three runs on two cores finish sooner
// than one run at a time on two threads.
//
// Scheduling: one FIFO per owner; a free worker takes the head of the next owner, in owner
// name order, after the owner it served last (wrapping around). One more thread, which never
// trains, ends queued runs whose stop was requested, so a cancelled job ends while every
// worker is busy.
class LocalExecutor final : public Executor {
 public:
  // Starts `workers` threads (at least 1), plus the one that ends stopped queued runs. With
  // `held`, no queued run starts until Release(): a server holds its workers while it queues
  // the runs it recovers, so that the first to start are chosen by the round robin by owner,
  // not by the order of recovery (oldest job first).
  explicit LocalExecutor(int workers, bool held = false);
  // Runs a run that a worker thread took, on that thread, and returns once the run has ended
  // (its listener's OnFinished or OnFailed called). The pool's queue, fairness, holding and
  // handling of runs stopped while queued stay as above; only what "running" means changes (the
  // Slurm executor supervises a Slurm job here instead of training).
  using Runner = std::function<void(RunRequest& request)>;
  LocalExecutor(int workers, Runner runner, bool held = false);
  // Stops taking queued runs, waits for the running ones (stop them first through their
  // stop tokens to return quickly), and joins the threads. Runs still queued are dropped
  // without a callback.
  ~LocalExecutor() override;

  void Execute(RunRequest request) override ABSL_LOCKS_EXCLUDED(mutex_);
  int Workers() const override { return static_cast<int>(threads_.size()); }
  std::optional<int> RunsAhead(std::span<const int64_t> run_ids) override
      ABSL_LOCKS_EXCLUDED(mutex_);
  // Lets the workers take queued runs (after a held start); does nothing otherwise.
  void Release() ABSL_LOCKS_EXCLUDED(mutex_);
  // Runs waiting for a free worker: /metrics' ablate_run_queue_depth.
  int QueuedRuns() ABSL_LOCKS_EXCLUDED(mutex_);

 private:
  using StopCallback = std::stop_callback<std::function<void()>>;
  struct Queued {
    RunRequest request;
    // Wakes the reaper when the run is stopped while queued. Destroyed without mutex_ held:
    // its destructor waits for a callback in progress, which takes mutex_.
    std::unique_ptr<StopCallback> on_stop;
  };

  void WorkLoop();
  void ReapLoop();
  // Takes the next run in turn; requires mutex_ held and a queued run. Stopped runs do not
  // use up their owner's turn.
  Queued TakeNext() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Ends a run that was stopped before it started.
  static void EndStopped(RunRequest& request);

  absl::Mutex mutex_;
  absl::CondVar wake_;
  absl::CondVar reap_;
  OwnerTurns<Queued> queue_ ABSL_GUARDED_BY(mutex_);
  bool reap_needed_ ABSL_GUARDED_BY(mutex_) = false;  // a queued run was stopped
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  bool held_ ABSL_GUARDED_BY(mutex_) = false;  // workers take no run
  Runner runner_;             // empty: train on the thread
  std::vector<std::thread> threads_;
  std::thread reaper_;
};

}  // namespace ablate::jobs

#endif  // ABLATE_SERVER_JOBS_LOCAL_EXECUTOR_H_
