#include "server/jobs/local_executor.h"

#include <algorithm>
#include <exception>

#include "core/data.h"

namespace ablate::jobs {

LocalExecutor::LocalExecutor(int workers) {
  for (int i = 0; i < std::max(workers, 1); ++i) threads_.emplace_back([this] { WorkLoop(); });
}

LocalExecutor::~LocalExecutor() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

void LocalExecutor::Execute(RunRequest request) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(request));
  }
  wake_.notify_one();
}

int LocalExecutor::Queued() {
  std::lock_guard lock(mutex_);
  return static_cast<int>(queue_.size());
}

void LocalExecutor::WorkLoop() {
  for (;;) {
    RunRequest request;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      request = std::move(queue_.front());
      queue_.pop_front();
    }
    RunListener& listener = *request.listener;
    if (request.stop.stop_requested()) {
      core::RunResult stopped_in_queue;
      stopped_in_queue.outcome = core::Outcome::kCancelled;
      listener.OnFinished(stopped_in_queue);
      continue;
    }
    // The data is regenerated per run from its seed rather than shared: runs stay independent
    // of where they execute, and generation costs milliseconds against seconds of training.
    try {
      listener.OnStarted();
      const core::Dataset data =
          core::MakeLabDataset(request.config.data, request.config.model.input_dim);
      core::Trainer trainer(request.config, data, request.init);
      listener.OnFinished(trainer.Run(&listener, request.stop));
    } catch (const std::exception& e) {
      listener.OnFailed(e.what());
    }
  }
}

}  // namespace ablate::jobs
