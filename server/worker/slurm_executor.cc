#include "server/worker/slurm_executor.h"

#include "server/auth/token.h"
#include "server/worker/slurm_executor_impl.h"

namespace ablate::worker {

bool SlurmExecutor::Impl::Dispatch(SupervisedRun& run, std::string& reason) {
  absl::StatusOr<std::string> secret = auth::NewToken();
  if (!secret.ok()) {
    reason = std::string(secret.status().message());
    return false;
  }
  absl::StatusOr<slurm::JobId> job = launcher_.Submit(run.run_id, *secret);
  if (!job.ok()) {
    reason = std::string(job.status().message());
    return false;
  }
  std::lock_guard lock(run.mutex);
  run.job_id = *job;
  run.secret_sha256 = auth::TokenHash(*secret);
  ++run.dispatches;
  run.slurm_ended = false;
  const store::SlurmDispatch record{run.job_id, run.secret_sha256, run.dispatches};
  // A run whose dispatch is not stored still trains; only a server restart would lose track of
  // its job (and dispatch it again).
  if (absl::Status s = store_.PutSlurmDispatch(run.run_id, record); !s.ok()) {
    spdlog::warn("run {}: could not record its Slurm job {}: {}", run.run_id, run.job_id,
                 std::string(s.message()));
  }
  spdlog::info("run {} dispatched as Slurm job {} ({} of {} dispatches)", run.run_id, run.job_id,
               run.dispatches, options_.max_dispatches);
  return true;
}

void SlurmExecutor::Impl::Supervise(jobs::RunRequest& request) {
  auto run = std::make_shared<SupervisedRun>();
  run->run_id = request.run_id;
  run->listener = request.listener;
  run->config = request.config;
  run->init = request.init;
  run->checkpoints = request.checkpoints;
  // A run scheduled again after a restart may still have its job on Slurm.
  if (absl::StatusOr<std::optional<store::SlurmDispatch>> stored =
          store_.GetSlurmDispatch(request.run_id);
      stored.ok() && stored->has_value()) {
    run->job_id = (*stored)->slurm_job_id;
    run->secret_sha256 = (*stored)->secret_sha256;
    run->dispatches = (*stored)->dispatches;
    spdlog::info("run {}: looking for its Slurm job {} ({} dispatches so far)", run->run_id,
                 run->job_id, run->dispatches);
  }
  {
    std::lock_guard lock(mutex_);
    runs_[run->run_id] = run;
    poll_now_ = true;
  }
  poll_wake_.notify_all();
  std::string last_reason;
  int failed_submissions = 0;
  enum class End { kResult, kFailure, kStopped, kDetached, kLost } end;
  std::optional<std::string> failure;
  for (;;) {
    bool need_job;
    {
      std::lock_guard lock(run->mutex);
      need_job = run->job_id == 0;
    }
    if (need_job && !request.stop.stop_requested() && !Detached()) {
      int dispatches;
      {
        std::lock_guard lock(run->mutex);
        dispatches = run->dispatches + failed_submissions;
      }
      if (dispatches >= options_.max_dispatches) {
        failure = absl::StrCat("the run was dispatched to Slurm ", dispatches,
                               " times without finishing; the last time: ", last_reason);
        end = End::kFailure;
        break;
      }
      if (!Dispatch(*run, last_reason)) {
        ++failed_submissions;
        spdlog::warn("run {}: submitting it to Slurm failed: {}", run->run_id, last_reason);
        // Not at once again: the controller may be restarting.
        if (dispatches + 1 < options_.max_dispatches) {
          std::unique_lock lock(run->mutex);
          run->changed.wait_for(lock, request.stop, std::chrono::seconds(failed_submissions),
                                [] { return false; });
        }
        continue;
      }
      std::lock_guard lock(mutex_);
      poll_now_ = false;  // a job just submitted is there; the next regular poll will see it
    }
    std::unique_lock lock(run->mutex);
    run->changed.wait(lock, request.stop, [&] {
      return run->result || run->failure || (run->slurm_ended && run->stream == nullptr) ||
             Detached();
    });
    if (run->result && run->result->outcome == core::Outcome::kCancelled &&
        !request.stop.stop_requested() && !Detached()) {
      // Stopped by someone else (scancel by hand, a time limit, a preemption): for the server
      // the job is lost, and the run goes on in a new one once this one has ended.
      spdlog::warn("run {}: its worker (Slurm job {}) was stopped from outside the server",
                   run->run_id, run->job_id);
      run->result.reset();
      continue;
    }
    if (Detached()) {
      end = End::kDetached;
    } else if (run->result) {
      end = End::kResult;
    } else if (run->failure) {
      failure = run->failure;
      end = End::kFailure;
    } else if (request.stop.stop_requested()) {
      end = End::kStopped;
    } else {
      end = End::kLost;
    }
    if (end != End::kLost) break;
    const slurm::JobId lost = run->job_id;
    lock.unlock();
    // The job ended without the run's result: how, in Slurm's words.
    absl::StatusOr<slurm::JobOutcome> outcome = launcher_.Outcome(lost);
    last_reason = outcome.ok() ? outcome->Describe(launcher_.Program())
                               : std::string(outcome.status().message());
    if (outcome.ok() && outcome->signal == 0 &&
        (outcome->exit_code == slurm::kExitProgramMissing ||
         outcome->exit_code == slurm::kExitProgramNotExecutable)) {
      failure = absl::StrCat("the worker could not start: ", last_reason,
                             " Install ablate-worker on the nodes or fix --slurm-worker.");
      end = End::kFailure;
      break;
    }
    spdlog::warn("run {}: its Slurm job {} ended without the run's result: {}", run->run_id, lost,
                 last_reason);
    lock.lock();
    run->job_id = 0;
  }

  if (end == End::kStopped || (end == End::kFailure && failure)) {
    slurm::JobId job;
    {
      std::lock_guard lock(run->mutex);
      job = run->slurm_ended ? 0 : run->job_id;
    }
    if (job != 0) {
      if (absl::Status s = launcher_.Cancel(job); !s.ok()) {
        spdlog::warn("run {}: scancel of Slurm job {} failed: {}", run->run_id, job,
                     std::string(s.message()));
      }
    }
  }
  if (end == End::kStopped) {
    // The worker reports the cancelled run at its next step; a job still pending never will.
    std::unique_lock lock(run->mutex);
    run->changed.wait_for(lock, absl::ToChronoMilliseconds(options_.cancel_wait), [&] {
      return run->result || run->failure || run->job_id == 0 ||
             (run->slurm_ended && run->stream == nullptr) || Detached();
    });
  }

  // Closed: no stream calls the listener from here on.
  std::optional<core::RunResult> result;
  {
    std::lock_guard listener_lock(run->listener_mutex);
    std::lock_guard lock(run->mutex);
    run->closed = true;
    if (run->stream != nullptr) run->stream->TryCancel();
    result = run->result;
    if (!failure && run->failure) failure = run->failure;
    if (end == End::kStopped && !result && !failure) {
      core::RunResult stopped;
      stopped.outcome = core::Outcome::kCancelled;
      stopped.steps_run = run->first_step < 0 ? 0
                                              : run->first_step +
                                                    static_cast<int>(run->loss_bits.size());
      stopped.final_loss = run->last_loss;
      result = stopped;
    }
  }
  {
    std::lock_guard lock(mutex_);
    runs_.erase(run->run_id);
  }
  if (end == End::kDetached) {
    core::RunResult interrupted;
    interrupted.outcome = core::Outcome::kCancelled;
    request.listener->OnFinished(interrupted);
  } else if (failure && !(end == End::kResult)) {
    request.listener->OnFailed(*failure);
  } else if (result) {
    request.listener->OnFinished(*result);
  } else {
    request.listener->OnFailed("the run ended without a result");
  }
}

void SlurmExecutor::Impl::PollLoop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    poll_wake_.wait_for(lock, absl::ToChronoMilliseconds(options_.poll_interval),
                        [this] { return stopping_ || poll_now_; });
    if (stopping_) return;
    poll_now_ = false;
    std::vector<std::shared_ptr<SupervisedRun>> runs;
    for (auto& [id, run] : runs_) runs.push_back(run);
    lock.unlock();
    std::vector<std::pair<std::shared_ptr<SupervisedRun>, slurm::JobId>> watched;
    std::vector<slurm::JobId> ids;
    for (auto& run : runs) {
      std::lock_guard run_lock(run->mutex);
      if (run->job_id != 0 && !run->slurm_ended) {
        watched.emplace_back(run, run->job_id);
        ids.push_back(run->job_id);
      }
    }
    if (!ids.empty()) {
      absl::StatusOr<absl::flat_hash_map<slurm::JobId, slurm::JobStatus>> states =
          launcher_.Poll(ids);
      if (!states.ok()) {
        spdlog::warn("polling {} Slurm jobs failed: {}", ids.size(),
                     std::string(states.status().message()));
      } else {
        for (auto& [run, job] : watched) {
          auto it = states->find(job);
          if (it != states->end() && !slurm::IsFinal(it->second.state)) continue;
          std::lock_guard run_lock(run->mutex);
          if (run->job_id != job) continue;  // dispatched again meanwhile
          run->slurm_ended = true;
          run->changed.notify_all();
        }
      }
    }
    lock.lock();
  }
}

SlurmExecutor::SlurmExecutor(store::Store& store, Launcher& launcher,
                             SlurmExecutorOptions options)
    : impl_(std::make_unique<Impl>(store, launcher, options)) {}
SlurmExecutor::~SlurmExecutor() = default;
void SlurmExecutor::Execute(jobs::RunRequest request) { impl_->Execute(std::move(request)); }
int SlurmExecutor::Workers() const { return impl_->Workers(); }
int SlurmExecutor::QueuedRuns() { return impl_->QueuedRuns(); }

std::optional<int> SlurmExecutor::RunsAhead(std::span<const int64_t> run_ids) {
  return impl_->RunsAhead(run_ids);
}
void SlurmExecutor::Release() { impl_->Release(); }
void SlurmExecutor::Detach() { impl_->Detach(); }
grpc::Service& SlurmExecutor::service() { return *impl_; }

}  // namespace ablate::worker
