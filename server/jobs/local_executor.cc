#include "server/jobs/local_executor.h"

#include <pthread.h>

#include <algorithm>
#include <exception>
#include <optional>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "core/fingerprint.h"
#include "core/run.h"

namespace ablate::jobs {

LocalExecutor::LocalExecutor(int workers, bool held) : LocalExecutor(workers, Runner(), held) {}

LocalExecutor::LocalExecutor(int workers, Runner runner, bool held)
    : held_(held), runner_(std::move(runner)) {
  for (int i = 0; i < std::max(workers, 1); ++i) threads_.emplace_back([this] { WorkLoop(); });
  reaper_ = std::thread([this] { ReapLoop(); });
}

LocalExecutor::~LocalExecutor() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  wake_.SignalAll();
  reap_.SignalAll();
  for (std::thread& thread : threads_) thread.join();
  reaper_.join();
  // No thread is left to take mutex_: the stop callbacks can go with the queue.
}

void LocalExecutor::Release() {
  {
    absl::MutexLock lock(&mutex_);
    held_ = false;
  }
  wake_.SignalAll();
}

void LocalExecutor::Execute(RunRequest request) {
  // Registered before the run is queued and outside mutex_: a stop already requested calls it
  // here, at once, and it takes mutex_.
  auto on_stop = std::make_unique<StopCallback>(request.stop, [this] {
    {
      absl::MutexLock lock(&mutex_);
      reap_needed_ = true;
    }
    reap_.Signal();
  });
  {
    absl::MutexLock lock(&mutex_);
    // A stop that came before the push may have been reaped already, before the run was there.
    if (request.stop.stop_requested()) reap_needed_ = true;
    const std::string owner = request.owner;
    queue_.Push(owner, Queued{std::move(request), std::move(on_stop)});
  }
  wake_.Signal();
  reap_.Signal();
}

LocalExecutor::Queued LocalExecutor::TakeNext() {
  // A run stopped while queued ends at once and does not start: its owner keeps the turn.
  return queue_.Take([](const Queued& q) { return !q.request.stop.stop_requested(); });
}

void LocalExecutor::EndStopped(RunRequest& request) {
  core::RunResult stopped_in_queue;
  stopped_in_queue.outcome = core::Outcome::kCancelled;
  request.listener->OnFinished(stopped_in_queue);
}

int LocalExecutor::QueuedRuns() {
  absl::MutexLock lock(&mutex_);
  return queue_.size();
}

std::optional<int> LocalExecutor::RunsAhead(std::span<const int64_t> run_ids) {
  absl::MutexLock lock(&mutex_);
  return queue_.CountBefore([run_ids](const Queued& queued) {
    return std::find(run_ids.begin(), run_ids.end(), queued.request.run_id) != run_ids.end();
  });
}

void LocalExecutor::WorkLoop() {
  // Named, so that top -H and the benchmarks tell training's CPU from the serving side's.
  pthread_setname_np(pthread_self(), "ablate-train");
  for (;;) {
    Queued queued;
    {
      absl::MutexLock lock(&mutex_);
      while (!(stopping_ || (!held_ && !queue_.empty()))) wake_.Wait(&mutex_);
      if (stopping_) return;
      queued = TakeNext();
    }
    queued.on_stop.reset();  // without mutex_ (see Queued)
    RunRequest& request = queued.request;
    RunListener& listener = *request.listener;
    if (request.stop.stop_requested()) {
      EndStopped(request);
      continue;
    }
    if (runner_) {
      runner_(request);
      continue;
    }
    try {
      listener.OnStarted();
      const core::RunPlan plan{.config = request.config,
                               .init = request.init,
                               .resume_from = listener.OnStarting(core::ThisBuildFingerprint().id),
                               .checkpoints = request.checkpoints};
      std::string error;
      std::optional<core::RunResult> result = core::TrainRun(plan, &listener, request.stop, &error);
      if (result) {
        listener.OnFinished(*result);
      } else {
        listener.OnFailed(error);
      }
    } catch (const std::exception& e) {
      listener.OnFailed(e.what());
    }
  }
}

// Without this thread a cancelled queued run would wait for a free worker to notice it, which
// can be the length of another user's whole run: its job would stay "queued" (and count
// against its owner's quota) long after the cancel.
void LocalExecutor::ReapLoop() {
  for (;;) {
    std::vector<Queued> stopped;
    {
      absl::MutexLock lock(&mutex_);
      while (!(stopping_ || reap_needed_)) reap_.Wait(&mutex_);
      if (stopping_) return;
      reap_needed_ = false;
      stopped = queue_.RemoveIf([](const Queued& q) { return q.request.stop.stop_requested(); });
    }
    for (Queued& queued : stopped) {
      queued.on_stop.reset();
      EndStopped(queued.request);
    }
  }
}

}  // namespace ablate::jobs
