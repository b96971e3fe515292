// The job manager and, inside it, the run supervisor (about half the file): the supervisor is
// private to the manager and shares its state (the active job, the writer, the executor, the
// shutdown and full-store flags), so it stays here rather than behind an internal header that
// would expose them; that keeps the file at about 640 lines.
#include "server/jobs/job_manager.h"

#include <pthread.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "core/checkpoint.h"
#include "server/convert/core_messages.h"
#include "server/jobs/spec.h"
#include "server/jobs/text.h"
#include "server/service/wire.h"
#include "spdlog/spdlog.h"

namespace ablate::jobs {

namespace {

v1::RunState ToRunState(core::Outcome outcome) {
  switch (outcome) {
    case core::Outcome::kCompleted:
      return v1::RUN_STATE_COMPLETED;
    case core::Outcome::kDiverged:
      return v1::RUN_STATE_DIVERGED;
    case core::Outcome::kCancelled:
      return v1::RUN_STATE_CANCELLED;
  }
  return v1::RUN_STATE_FAILED;
}

absl::Status DataDirectoryFull(const absl::Status& cause) {
  if (absl::IsPermissionDenied(cause)) {
    return absl::FailedPreconditionError(
        absl::StrCat("the data directory cannot be written (", cause.message(),
                     "); new jobs are refused until an operator fixes that and restarts the "
                     "server."));
  }
  return absl::ResourceExhaustedError(
      absl::StrCat("the data directory is full (", cause.message(),
                   "); new jobs are refused until an operator frees space and restarts the "
                   "server."));
}

bool Ended(v1::RunState state) { return store::IsTerminal(wire::StateFromProto(state)); }

}  // namespace

struct JobManager::ActiveJob {
  int64_t id = 0;
  std::string owner;
  core::ExperimentConfig config;
  std::stop_source stop;  // cancel or shutdown
  absl::Mutex mutex;
  int runs_left ABSL_GUARDED_BY(mutex) = 0;
  bool started ABSL_GUARDED_BY(mutex) = false;
  std::string failure ABSL_GUARDED_BY(mutex);  // first run failure
  std::vector<std::unique_ptr<RunSupervisor>> runs;
};

// Turns one run's progress into store events, and decides how an interrupted run continues:
// from its checkpoint, replaying (and checking, not recording again) the steps stored after
// it; or, when its stored steps cannot be continued bit for bit, over from step 0 with the old
// steps set aside. Never by splicing two different trainings into one trajectory.
class JobManager::RunSupervisor final : public RunListener {
 public:
  RunSupervisor(JobManager& manager, ActiveJob& job, const v1::Run& run,
                core::ExperimentConfig config, core::InitConfig init, store::Trajectory recorded)
      : manager_(manager),
        job_(job),
        run_(run),
        config_(std::move(config)),
        init_(std::move(init)) {
    Record(std::move(recorded));
  }

  // What the executor runs, for a first start or a start over: a stop of its own, requested
  // with the job's (cancel, shutdown) or by the supervisor (a replay that went wrong).
  RunRequest Request() {
    link_.reset();  // waits for a callback in progress: attempt_ is replaced below
    attempt_ = std::stop_source();
    link_.emplace(job_.stop.get_token(), [this] { attempt_.request_stop(); });
    return RunRequest{.run_id = run_.id(),
                      .owner = job_.owner,
                      .config = config_,
                      .init = init_,
                      .stop = attempt_.get_token(),
                      .checkpoints = manager_.checkpointing_.policy,
                      .listener = this};
  }

  void OnStarted() override {
    absl::MutexLock lock(&job_.mutex);
    if (!job_.started) {
      job_.started = true;
      manager_.writer_.Post(store::JobStartedEvent{job_.id, absl::Now()});
    }
  }

  std::string OnStarting(const std::string& fingerprint) override {
    fingerprint_ = fingerprint;
    replay_from_ = 0;
    std::string checkpoint;
    const int recorded = static_cast<int>(recorded_.losses.size());
    if (recorded > 0) {
      if (!run_.fingerprint().empty() && run_.fingerprint() != fingerprint) {
        StartOver(absl::StrCat("run ", run_.index(), " started over from step 0: its ", recorded,
                               " recorded steps were trained by build ", run_.fingerprint(),
                               " and this server is build ", fingerprint,
                               ", whose steps need not be bit-identical; the old steps are kept "
                               "aside"));
      } else if (gap_) {
        StartOver(absl::StrCat("run ", run_.index(),
                               " started over from step 0: its recorded steps stop at step ",
                               recorded - 1, " but go on after a gap; the old steps are kept aside"));
      } else {
        std::string why;
        checkpoint = UsableCheckpoint(fingerprint, recorded, &why);
        if (!checkpoint.empty()) {
          spdlog::info("run {}: resumed at step {} from a checkpoint, replaying {} steps",
                       run_.id(), replay_from_, recorded - replay_from_);
        } else {
          spdlog::info("run {}: resumed at step 0 ({}), replaying {} steps", run_.id(), why,
                       recorded);
        }
      }
    }
    manager_.writer_.Post(store::RunStartedEvent{run_.id(), absl::Now(), fingerprint});
    start_recorded_ = true;
    return checkpoint;
  }

  void OnResumed(const std::string& fingerprint) override {
    if (start_recorded_) return;
    // The earlier process assigned the run and posted its start, but died before committing
    // it: the store still has the run queued, and would refuse its steps.
    spdlog::info("run {}: its worker carried on training across the restart; recording its start",
                 run_.id());
    fingerprint_ = fingerprint;
    manager_.writer_.Post(store::RunStartedEvent{run_.id(), absl::Now(), fingerprint});
    start_recorded_ = true;
  }

  void OnStep(const core::StepRecord& step) override {
    if (abandoned_) return;
    if (step.step < static_cast<int>(recorded_.losses.size())) {
      // A resumed run replays the steps recorded before the restart: they must match bit for
      // bit, or the stored trajectory would splice two different trainings.
      const size_t i = static_cast<size_t>(step.step);
      if (!SameBits(step.loss, recorded_.losses[i]) ||
          !SameBits(step.weight_grad_norm, recorded_.weight_grad_norms[i])) {
        Abandon(absl::StrCat(
            "run ", run_.index(), " started over from step 0: replaying its recorded steps under "
            "build ", fingerprint_, " gave step ", step.step, " a loss of ",
            absl::StrFormat("%.9g", step.loss), " and a gradient norm of ",
            absl::StrFormat("%.9g", step.weight_grad_norm), " where ",
            absl::StrFormat("%.9g", recorded_.losses[i]), " and ",
            absl::StrFormat("%.9g", recorded_.weight_grad_norms[i]),
            " were recorded; the old steps are kept aside"));
        return;
      }
      if (step.step + 1 == static_cast<int>(recorded_.losses.size())) {
        spdlog::info("run {}: the {} replayed steps matched the recorded ones bit for bit",
                     run_.id(), step.step + 1 - replay_from_);
      }
      return;
    }
    manager_.writer_.Post(store::StepEvent{run_.id(), step.step, step.loss,
                                           step.weight_grad_norm,
                                           static_cast<float>(step.seconds)});
  }

  void OnEval(const core::EvalRecord& eval) override {
    if (abandoned_) return;
    if (auto it = recorded_evals_.find(eval.step); it != recorded_evals_.end()) {
      if (!SameBits(eval.loss, it->second.loss) ||
          !SameBits(eval.accuracy, it->second.accuracy)) {
        Abandon(absl::StrCat("run ", run_.index(), " started over from step 0: replaying it "
                             "under build ", fingerprint_, " gave the evaluation after step ",
                             eval.step, " another result than the recorded one; the old steps "
                             "are kept aside"));
      }
      return;
    }
    if (eval.step <= last_recorded_eval_) return;
    manager_.writer_.Post(store::EvalEvent{run_.id(), eval.step, eval.loss, eval.accuracy});
  }

  void OnCheckpoint(int /*step*/, std::string_view checkpoint) override {
    if (abandoned_) return;
    manager_.writer_.PostCheckpoint(run_.id(), std::string(checkpoint));
  }

  void OnFinished(const core::RunResult& result) override {
    if (result.outcome == core::Outcome::kCancelled && manager_.shutting_down_) {
      return;  // interrupted, not cancelled: the run resumes at the next start
    }
    if (result.outcome == core::Outcome::kCancelled && manager_.store_full_) {
      OnFailed(manager_.FullError());  // stopped because nothing more can be recorded
      return;
    }
    if (abandoned_) {
      if (!job_.stop.stop_requested()) {
        // Trains again from step 0, as a run of its own would: its old steps are set aside.
        abandoned_ = false;
        Record({});
        manager_.executor_.Execute(Request());
        return;
      }
      // Cancelled while starting over: nothing of the abandoned attempt was recorded.
      core::RunResult cancelled;
      cancelled.outcome = core::Outcome::kCancelled;
      abandoned_ = false;
      return OnFinished(cancelled);
    }
    v1::Run summary = run_;
    summary.set_state(ToRunState(result.outcome));
    summary.set_outcome(core::DescribeOutcome(result));
    summary.set_steps_done(result.steps_run);
    if (result.first_nonfinite_step) {
      summary.set_first_nonfinite_step(*result.first_nonfinite_step);
    }
    if (result.flatline_step) summary.set_flatline_step(*result.flatline_step);
    if (result.steps_run > 0) summary.set_final_loss(result.final_loss);
    if (result.final_eval) {
      v1::EvalResult& eval = *summary.mutable_final_eval();
      eval.set_run_id(run_.id());
      eval.set_step(result.final_eval->step);
      eval.set_loss(result.final_eval->loss);
      eval.set_accuracy(result.final_eval->accuracy);
    }
    convert::AppendLayerStats(result.init_stats, *summary.mutable_init_stats());
    convert::AppendLayerStats(result.final_stats, *summary.mutable_final_stats());
    summary.set_seconds(result.seconds);
    if (result.seconds > 0) summary.set_steps_per_second(result.steps_run / result.seconds);
    Finish(std::move(summary));
  }

  void OnFailed(const std::string& error) override {
    spdlog::error("run {} of job {} failed: {}", run_.id(), job_.id, error);
    {
      absl::MutexLock lock(&job_.mutex);
      if (job_.failure.empty()) job_.failure = absl::StrCat("run ", run_.index(), ": ", error);
    }
    v1::Run summary = run_;
    summary.set_state(v1::RUN_STATE_FAILED);
    summary.set_outcome(error);
    Finish(std::move(summary));
  }

 private:
  // A float as recorded: equal bits, or both NaN (the store does not keep NaN payloads).
  static bool SameBits(float a, float b) {
    return (std::isnan(a) && std::isnan(b)) || std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b);
  }

  // The steps and evaluations stored for the run: what a resume must reproduce.
  void Record(store::Trajectory recorded) {
    recorded_ = std::move(recorded);
    gap_ = false;
    for (size_t i = 0; i < recorded_.steps.size(); ++i) {
      if (recorded_.steps[i] != static_cast<int32_t>(i)) {
        // Steps after a gap cannot be replayed in place: only the prefix counts (and OnStarting
        // starts the run over, the whole trajectory aside).
        gap_ = true;
        recorded_.losses.resize(i);
        recorded_.weight_grad_norms.resize(i);
        break;
      }
    }
    recorded_evals_.clear();
    last_recorded_eval_ = -1;
    for (const store::EvalRecord& eval : recorded_.evals) {
      recorded_evals_.emplace(eval.step, eval);
      last_recorded_eval_ = std::max(last_recorded_eval_, eval.step);
    }
  }

  // The run's checkpoint when it can continue the run here: intact, of this run's settings,
  // written by this build, and not ahead of the `recorded` steps stored. Empty otherwise, with
  // the reason in *why.
  std::string UsableCheckpoint(const std::string& fingerprint, int recorded, std::string* why) {
    CheckpointFiles* files = manager_.checkpointing_.files;
    if (files == nullptr) {
      *why = "checkpoints are off";
      return {};
    }
    std::string bytes = files->Load(run_.id());
    if (bytes.empty()) {
      *why = "no checkpoint";
      return {};
    }
    std::string error;
    std::optional<core::CheckpointHeader> header = core::ReadCheckpointHeader(bytes, &error);
    if (!header) {
      *why = absl::StrCat("its checkpoint is unusable: ", error);
    } else if (header->run_digest != core::RunDigest(config_, init_)) {
      *why = "its checkpoint is of other settings";
    } else if (header->fingerprint != fingerprint) {
      *why = absl::StrCat("its checkpoint was written by build ", header->fingerprint);
    } else if (header->step > recorded) {
      *why = absl::StrCat("its checkpoint, at step ", header->step, ", is ahead of the ",
                          recorded, " stored steps");
    } else {
      replay_from_ = header->step;
      return bytes;
    }
    spdlog::warn("run {}: {}; it starts from step 0", run_.id(), *why);
    return {};
  }

  // Sets the stored steps aside and trains from step 0 (called before the run trains).
  void StartOver(const std::string& reason) {
    spdlog::warn("{} (run {} of job {})", reason, run_.id(), job_.id);
    manager_.writer_.Post(store::RunRestartedEvent{run_.id(), reason, absl::Now()});
    manager_.writer_.PostCheckpointRemoval(run_.id());
    Record({});
  }

  // A replay came out different: the steps are set aside at once, nothing more of this attempt
  // is recorded, and it stops; OnFinished starts the run again from step 0.
  void Abandon(const std::string& reason) {
    abandoned_ = true;
    spdlog::warn("{} (run {} of job {})", reason, run_.id(), job_.id);
    manager_.writer_.Post(store::RunRestartedEvent{run_.id(), reason, absl::Now()});
    manager_.writer_.PostCheckpointRemoval(run_.id());
    attempt_.request_stop();
  }

  void Finish(v1::Run summary) {
    store::RunRecord record = wire::RunSummaryFromProto(summary);
    // absl::Now, not protobuf's TimeUtil::GetCurrentTime, which has whole seconds only: a run
    // stored as finished before it started (started_at has milliseconds) misled every reader.
    record.finished_at = absl::Now();
    manager_.writer_.Post(store::RunFinishedEvent{std::move(record)});
    manager_.writer_.PostCheckpointRemoval(run_.id());
    // The job may be destroyed (with this supervisor) on a finishing thread from here on:
    // nothing may follow.
    manager_.RunEnded(job_);
  }

  JobManager& manager_;
  ActiveJob& job_;
  const v1::Run run_;  // as stored when the job was scheduled
  // The job's configuration with this run's own data seed (ToRunExperiment).
  const core::ExperimentConfig config_;
  const core::InitConfig init_;
  // The rest is touched by the run's one training thread at a time (and Request() before it).
  store::Trajectory recorded_;  // steps 0..n-1 stored before this start, to replay
  bool gap_ = false;            // steps were stored after a gap
  std::map<int, store::EvalRecord> recorded_evals_;
  int last_recorded_eval_ = -1;
  std::string fingerprint_;  // of the build training the run now
  // The store has the run's start (it was stored running, or this process posted it).
  bool start_recorded_ = run_.state() != v1::RUN_STATE_QUEUED;
  int replay_from_ = 0;      // the step the run resumed at
  bool abandoned_ = false;   // a replay differed: this attempt records nothing more
  std::stop_source attempt_;
  std::optional<std::stop_callback<std::function<void()>>> link_;
};

JobManager::JobManager(store::Store& store, EventWriter& writer, Executor& executor,
                       FinishHook on_finish, Checkpointing checkpointing, int finishing_threads,
                       FinisherStart on_finisher_start)
    : store_(store),
      writer_(writer),
      executor_(executor),
      on_finish_(std::move(on_finish)),
      checkpointing_(checkpointing) {
  for (int i = 0; i < std::max(1, finishing_threads); ++i) {
    finishers_.emplace_back([this, on_finisher_start] {
      pthread_setname_np(pthread_self(), "ablate-finish");
      if (on_finisher_start) on_finisher_start();
      FinishLoop();
    });
  }
  writer_.OnStoreFull([this](const absl::Status& full) { StoreFull(full); });
}

JobManager::~JobManager() {
  writer_.OnStoreFull(nullptr);
  Shutdown();
  {
    absl::MutexLock lock(&finish_mutex_);
    finisher_stopping_ = true;
  }
  finish_queued_.SignalAll();
  for (std::thread& finisher : finishers_) finisher.join();
}

void JobManager::QueueFinish(ActiveJob& job) {
  {
    absl::MutexLock lock(&finish_mutex_);
    to_finish_.Push(job.owner, &job);
  }
  finish_queued_.Signal();
}

void JobManager::FinishLoop() {
  while (true) {
    ActiveJob* job = nullptr;
    {
      absl::MutexLock lock(&finish_mutex_);
      while (to_finish_.empty() && !finisher_stopping_) finish_queued_.Wait(&finish_mutex_);
      // Stopping drains the queue first: each job left is forgotten (FinishJob records nothing
      // once shutting down), and resumes at the next Recover.
      if (to_finish_.empty()) return;
      job = to_finish_.Take();
    }
    FinishJob(*job);
  }
}

std::string JobManager::FullError() {
  absl::MutexLock lock(&mutex_);
  return std::string(full_error_.message());
}

void JobManager::RefuseChanges(absl::Status why) {
  absl::MutexLock lock(&mutex_);
  refuse_changes_ = std::move(why);
}

void JobManager::StoreFull(const absl::Status& full) {
  absl::MutexLock lock(&mutex_);
  full_error_ = absl::ResourceExhaustedError(
      absl::StrCat(absl::IsPermissionDenied(full) ? "the database cannot be written ("
                                                  : "the database is full (",
                   full.message(), "); the job stopped with the steps recorded so far"));
  store_full_ = true;
  for (auto& [id, job] : active_) {
    {
      absl::MutexLock job_lock(&job->mutex);
      if (job->failure.empty()) job->failure = std::string(full_error_.message());
    }
    job->stop.request_stop();
  }
}

absl::Status JobManager::Recover() {
  absl::StatusOr<std::vector<int64_t>> ids = store_.UnfinishedJobs();
  if (!ids.ok()) return ids.status();
  std::vector<v1::Job> jobs;
  std::set<int64_t> live_runs;
  for (int64_t id : *ids) {
    absl::StatusOr<v1::Job> job = wire::GetJob(store_, id);
    if (!job.ok()) return job.status();
    for (const v1::Run& run : job->runs()) {
      if (!Ended(run.state())) live_runs.insert(run.id());
    }
    jobs.push_back(*std::move(job));
  }
  // Checkpoints of runs that ended before the crash (whose removal the crash cut short).
  if (checkpointing_.files != nullptr) {
    if (int removed = checkpointing_.files->RemoveAllExcept(live_runs); removed > 0) {
      spdlog::info("removed {} checkpoints of runs that have ended", removed);
    }
  }
  for (const v1::Job& job : jobs) {
    spdlog::info("job {} ({}) resumes after a restart", job.id(), v1::JobState_Name(job.state()));
    if (absl::Status s = Schedule(job); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Job> JobManager::Submit(const v1::JobSpec& resolved_spec,
                                           const std::string& owner,
                                           std::optional<int64_t> class_id) {
  if (shutting_down_) {
    return absl::UnavailableError("the server is shutting down; submit the job again shortly.");
  }
  {
    absl::MutexLock lock(&mutex_);
    if (!refuse_changes_.ok()) return refuse_changes_;
  }
  if (!writer_.StoreFull().ok()) return DataDirectoryFull(writer_.StoreFull());
  absl::StatusOr<v1::Job> job =
      wire::CreateJob(store_, resolved_spec, owner, absl::Now(), class_id);
  if (absl::IsResourceExhausted(job.status()) || absl::IsPermissionDenied(job.status())) {
    return DataDirectoryFull(job.status());
  }
  if (!job.ok()) return job.status();
  // Validated names hold no control characters; escaped all the same, as all client text is.
  spdlog::info("job {} queued: \"{}\" by {}, {} runs", job->id(), EscapeForLog(job->name()),
               EscapeForLog(job->owner()), job->runs_size());
  if (absl::Status s = Schedule(*job); !s.ok()) return s;
  return job;
}

absl::Status JobManager::Schedule(const v1::Job& job) {
  auto active = std::make_unique<ActiveJob>();
  active->id = job.id();
  active->owner = job.owner();
  active->config = ToExperiment(job.spec());
  std::vector<RunRequest> requests;
  for (const v1::Run& run : job.runs()) {
    if (Ended(run.state())) continue;
    store::Trajectory recorded;
    if (run.steps_done() > 0) {
      absl::StatusOr<store::Trajectory> t = store_.GetTrajectory(run.id());
      if (!t.ok()) return t.status();
      recorded = *std::move(t);
    }
    // The job's stored spec is the record of each run's data seed (the runs table keeps the
    // init and weight seed).
    const v1::RunSpec& spec =
        run.index() >= 0 && run.index() < job.spec().runs_size() ? job.spec().runs(run.index())
                                                                  : run.spec();
    active->runs.push_back(std::make_unique<RunSupervisor>(
        *this, *active, run, ToRunExperiment(active->config, spec),
        convert::ToInitConfig(run.spec()), std::move(recorded)));
    requests.push_back(active->runs.back()->Request());
  }
  {
    absl::MutexLock lock(&active->mutex);  // not shared yet; taken for the analysis's sake
    active->runs_left = static_cast<int>(requests.size());
  }
  ActiveJob& ref = *active;
  {
    absl::MutexLock lock(&mutex_);
    active_.emplace(job.id(), std::move(active));
  }
  // Every run may have ended before a restart, but not the job: then it finishes now.
  if (requests.empty()) QueueFinish(ref);
  for (RunRequest& request : requests) executor_.Execute(std::move(request));
  return absl::OkStatus();
}

void JobManager::RunEnded(ActiveJob& job) {
  {
    absl::MutexLock lock(&job.mutex);
    if (--job.runs_left > 0) return;
  }
  QueueFinish(job);
}

std::string JobManager::EndRuns(int64_t job_id) {
  absl::StatusOr<store::JobRecord> stored = store_.GetJob(job_id);
  if (!stored.ok()) {
    spdlog::error("job {}: cannot read its runs to end it: {}", job_id,
                  std::string(stored.status().message()));
    return "";
  }
  std::string failure;
  bool posted = false;
  for (const store::RunRecord& run : stored->runs) {
    std::string outcome = run.outcome;
    if (!store::IsTerminal(run.state)) {
      // Its end was lost (the store refused it, and its failure too): the job cannot end
      // while it has not.
      outcome = "its end was never recorded";
      store::RunRecord failed;
      failed.id = run.id;
      failed.job_id = job_id;
      failed.state = store::RunState::kFailed;
      failed.outcome = outcome;
      failed.finished_at = absl::Now();
      writer_.Post(store::RunFinishedEvent{std::move(failed)});
      posted = true;
    } else if (run.state != store::RunState::kFailed) {
      continue;
    }
    if (failure.empty()) failure = absl::StrCat("run ", run.index, ": ", outcome);
  }
  if (posted) writer_.Flush();
  return failure;
}

void JobManager::FinishJob(ActiveJob& job) {
  if (!shutting_down_) {
    writer_.Flush();  // the deliverables are built from the store: every step must be in it
    store::JobState state =
        job.stop.stop_requested() ? store::JobState::kCancelled : store::JobState::kSucceeded;
    // The stored runs decide, not this process's memory: a run failure committed before a
    // restart fails the job too, and so does a run whose end the store refused.
    const std::string stored_failure = EndRuns(job.id);
    std::string error;
    {
      // A full store (StoreFull) may set it at any time.
      absl::MutexLock lock(&job.mutex);
      error = job.failure.empty() ? stored_failure : job.failure;
    }
    if (!error.empty()) state = store::JobState::kFailed;
    // A full store has no room for the deliverables; the job's failure says why.
    if (on_finish_ && !store_full_) {
      if (absl::Status s = on_finish_(job.id); !s.ok()) {
        state = store::JobState::kFailed;
        error = absl::StrCat("could not build the job's files: ", s.message());
      }
    }
    writer_.Post(store::JobFinishedEvent{job.id, state, error, absl::Now()});
    writer_.Flush();
    spdlog::info("job {} {}{}{}", job.id, store::StateName(state), error.empty() ? "" : ": ",
                 error);
  }
  std::unique_ptr<ActiveJob> ended;
  {
    absl::MutexLock lock(&mutex_);
    auto it = active_.find(job.id);
    ended = std::move(it->second);
    active_.erase(it);
  }
  job_ended_.SignalAll();
  // `ended` is destroyed here, with its supervisors: the executor touches a listener no more
  // after its OnFinished, and each supervisor's last act in OnFinished was RunEnded.
}

absl::StatusOr<v1::Job> JobManager::Cancel(int64_t job_id, std::chrono::milliseconds wait) {
  absl::Status refused;
  {
    absl::MutexLock lock(&mutex_);
    refused = refuse_changes_;
  }
  if (!refused.ok()) {
    // Nothing runs (RefuseChanges stands for Recover). An ended job is answered as it is,
    // since cancelling it changes nothing; any other job is refused.
    absl::StatusOr<store::JobRecord> job = store_.GetJob(job_id);
    if (job.ok() && !store::IsTerminal(job->state)) return refused;
  }
  {
    absl::MutexLock lock(&mutex_);
    auto it = active_.find(job_id);
    if (it != active_.end()) {
      spdlog::info("job {} cancel requested", job_id);
      it->second->stop.request_stop();
      const absl::Time deadline = absl::Now() + absl::FromChrono(wait);
      while (active_.contains(job_id) && !job_ended_.WaitWithDeadline(&mutex_, deadline)) {
      }
    }
  }
  return wire::GetJob(store_, job_id);
}

void JobManager::Shutdown() {
  if (shutting_down_.exchange(true)) return;
  absl::MutexLock lock(&mutex_);
  for (auto& [id, job] : active_) job->stop.request_stop();
}

int JobManager::ActiveJobs() {
  absl::MutexLock lock(&mutex_);
  return static_cast<int>(active_.size());
}

std::optional<int> JobManager::RunsAhead(const v1::Job& job) {
  // Every run: the executor finds those waiting in its queue, which after a restart include
  // runs stored as running that wait to resume.
  std::vector<int64_t> run_ids;
  for (const v1::Run& run : job.runs()) run_ids.push_back(run.id());
  return executor_.RunsAhead(run_ids);
}

}  // namespace ablate::jobs
