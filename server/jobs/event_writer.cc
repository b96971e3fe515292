#include "server/jobs/event_writer.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <variant>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace ablate::jobs {

namespace {

// A commit that failed for a passing reason (database locked by another process) is retried,
// never dropped: training goes on until a run's backlog is full (run_backlog), and its steps
// land once the store accepts them.
constexpr auto kRetryDelay = std::chrono::milliseconds(500);
// A full or read-only store is retried this many times (2 s) before it counts as full: one
// that stays so would otherwise hold every event in memory and be retried forever.
constexpr int kFullAttempts = 5;
// StepsPerSecond's window and the spacing of its samples.
constexpr auto kRateWindow = std::chrono::seconds(60);
constexpr auto kRateSample = std::chrono::seconds(1);

// Group commit: a batch's first event waits this long for others before the transaction. A
// lab step takes a few milliseconds per run, so a commit then carries a step of each run or
// more: a third of the transactions, hub wakes, watch reads and stream messages (and of the
// CPU they take from training) for at most 5 ms more latency to watchers.
constexpr auto kCommitWindow = std::chrono::milliseconds(5);

// No space, or no permission to write: a condition an operator has to fix.
bool Unwritable(const absl::Status& status) {
  return absl::IsResourceExhausted(status) || absl::IsPermissionDenied(status);
}

bool Transient(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsInternal(status);
}

// The run an event belongs to; 0 for a job's events.
int64_t RunOf(const store::Event& event) {
  if (const auto* e = std::get_if<store::StepEvent>(&event)) return e->run_id;
  if (const auto* e = std::get_if<store::EvalEvent>(&event)) return e->run_id;
  if (const auto* e = std::get_if<store::RunStartedEvent>(&event)) return e->run_id;
  if (const auto* e = std::get_if<store::RunFinishedEvent>(&event)) return e->summary.id;
  if (const auto* e = std::get_if<store::RunRestartedEvent>(&event)) return e->run_id;
  return 0;
}

}  // namespace

EventWriter::EventWriter(store::JobStore& store, CursorHub& hub, CheckpointFiles* checkpoints,
                         int run_backlog)
    : store_(store),
      hub_(hub),
      checkpoints_(checkpoints),
      run_backlog_(std::max(1, run_backlog)),
      thread_([this] { WriteLoop(); }) {}

EventWriter::~EventWriter() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  posted_.SignalAll();
  thread_.join();
}

// Only the first event of a batch wakes the writer: the later ones join it when its window
// ends. (Waking it for each of them, only for it to wait again, cost the training threads a
// context switch per step on a machine with as many cores as runs.)
void EventWriter::Post(store::Event event) {
  const bool progress = std::holds_alternative<store::StepEvent>(event) ||
                        std::holds_alternative<store::EvalEvent>(event);
  bool first = false;
  {
    absl::MutexLock lock(&mutex_);
    if (progress) {
      const int64_t run = RunOf(event);
      if (std::this_thread::get_id() != thread_.get_id() &&
          pending_per_run_[run] >= run_backlog_) {
        const auto waited_from = std::chrono::steady_clock::now();
        while (!stopping_ && pending_per_run_[run] >= run_backlog_) {
          full_run_ = true;  // the writer commits the queue at once, without its window
          posted_.Signal();
          taken_.Wait(&mutex_);
        }
        store_wait_ns_.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now() - waited_from)
                                     .count(),
                                 std::memory_order_relaxed);
      }
      ++pending_per_run_[run];
    }
    first = pending_.empty();
    if (first) pending_since_ = std::chrono::steady_clock::now();
    pending_.push_back(std::move(event));
    ++posted_count_;
  }
  if (first) posted_.Signal();
}

void EventWriter::Flush() {
  absl::MutexLock lock(&mutex_);
  const uint64_t target = posted_count_;
  auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
    return committed_count_ >= target && !releasing_checkpoints_ &&
           (pending_checkpoints_.empty() || pending_checkpoints_.front().after > target);
  };
  if (done()) return;
  flushing_ = true;  // the writer skips the rest of its window
  posted_.Signal();
  while (!done()) committed_.Wait(&mutex_);
}

void EventWriter::PostCheckpoint(int64_t run_id, std::string checkpoint) {
  if (checkpoints_ == nullptr) return;
  {
    absl::MutexLock lock(&mutex_);
    pending_checkpoints_.push_back(PendingCheckpoint{posted_count_, run_id, std::move(checkpoint)});
  }
  posted_.Signal();
}

void EventWriter::PostCheckpointRemoval(int64_t run_id) {
  if (checkpoints_ == nullptr) return;
  {
    absl::MutexLock lock(&mutex_);
    pending_checkpoints_.push_back(PendingCheckpoint{posted_count_, run_id, std::nullopt});
  }
  posted_.Signal();
}

void EventWriter::ReleaseCheckpoints() {
  std::vector<PendingCheckpoint> due;
  {
    absl::MutexLock lock(&mutex_);
    while (!pending_checkpoints_.empty() &&
           pending_checkpoints_.front().after <= committed_count_) {
      due.push_back(std::move(pending_checkpoints_.front()));
      pending_checkpoints_.pop_front();
    }
    releasing_checkpoints_ = !due.empty();
  }
  for (PendingCheckpoint& c : due) {
    if (!c.checkpoint) {
      checkpoints_->Remove(c.run_id);
    } else if (truncated_runs_.contains(c.run_id) || refused_runs_.contains(c.run_id)) {
      // Steps before it are missing from the store: resuming from it would leave a gap.
      spdlog::warn("run {}: a checkpoint was not saved, since steps before it were not recorded",
                   c.run_id);
    } else {
      checkpoints_->Save(c.run_id, *std::move(c.checkpoint));
    }
  }
  absl::MutexLock lock(&mutex_);
  releasing_checkpoints_ = false;  // WriteLoop wakes Flush next
}

void EventWriter::OnStoreFull(FullHandler handler) {
  absl::MutexLock lock(&handler_mutex_);
  full_handler_ = std::move(handler);
}

absl::Status EventWriter::StoreFull() {
  absl::MutexLock lock(&mutex_);
  return full_;
}

double EventWriter::StepsPerSecond() {
  const Clock::time_point now = Clock::now();
  absl::MutexLock lock(&mutex_);
  while (!step_samples_.empty() && now - step_samples_.front().first > kRateWindow) {
    step_samples_.pop_front();
  }
  if (step_samples_.empty()) return 0;
  // From the oldest sample of the window to now, so that a quiet spell lowers the rate.
  const auto& [since, count_then] = step_samples_.front();
  const double seconds = std::chrono::duration<double>(now - since).count();
  const uint64_t steps = steps_recorded_.load(std::memory_order_relaxed) - count_then;
  return seconds >= 1 ? static_cast<double>(steps) / seconds : 0;
}

void EventWriter::CountSteps(std::span<const store::Event> events) {
  uint64_t steps = 0;
  for (const store::Event& event : events) steps += std::holds_alternative<store::StepEvent>(event);
  const uint64_t total = steps_recorded_.fetch_add(steps, std::memory_order_relaxed) + steps;
  const Clock::time_point now = Clock::now();
  absl::MutexLock lock(&mutex_);
  if (step_samples_.empty() || now - step_samples_.back().first >= kRateSample) {
    // The count before this batch: its steps fall within the window that starts now.
    step_samples_.emplace_back(now, total - steps);
  }
  while (now - step_samples_.front().first > kRateWindow) step_samples_.pop_front();
}

void EventWriter::MarkFull(const absl::Status& status) {
  {
    absl::MutexLock lock(&mutex_);
    if (!full_.ok()) return;
    full_ = status;
  }
  spdlog::error("the database {} ({}): running jobs stop; new jobs are refused until an "
                "operator fixes that and restarts the server",
                absl::IsPermissionDenied(status) ? "cannot be written" : "is full",
                std::string(status.message()));
  absl::MutexLock lock(&handler_mutex_);
  if (full_handler_) full_handler_(status);
}

absl::Status EventWriter::Append(std::span<const store::Event> events, bool retry_full) {
  int full_attempts = 0;
  for (;;) {
    absl::StatusOr<std::vector<store::JobCursor>> cursors = store_.Append(events);
    if (cursors.ok()) {
      CountSteps(events);
      hub_.Publish(*cursors, batch_posted_);
      return absl::OkStatus();
    }
    if (Unwritable(cursors.status())) {
      if (!StoreFull().ok()) return cursors.status();  // full already: one attempt only
      if (!retry_full && absl::IsResourceExhausted(cursors.status())) return cursors.status();
      if (++full_attempts >= kFullAttempts) {
        MarkFull(cursors.status());
        return cursors.status();
      }
    } else if (!Transient(cursors.status())) {
      return cursors.status();
    }
    spdlog::error("could not record {} events, retrying: {}", events.size(),
                  std::string(cursors.status().message()));
    std::this_thread::sleep_for(kRetryDelay);
  }
}

absl::Status EventWriter::AppendWhatFits(std::span<const store::Event> events,
                                         size_t& recorded) {
  // Only a single event waits for room (Append's retries): halving finds what fits first.
  const absl::Status status = Append(events, /*retry_full=*/events.size() == 1);
  if (status.ok()) {
    recorded += events.size();
    return status;
  }
  if (!absl::IsResourceExhausted(status) || events.size() == 1 || !StoreFull().ok()) {
    return status;
  }
  const size_t half = events.size() / 2;
  if (absl::Status s = AppendWhatFits(events.first(half), recorded); !s.ok()) return s;
  return AppendWhatFits(events.subspan(half), recorded);
}

void EventWriter::CommitWhenFull(const std::vector<store::Event>& batch) {
  const absl::Status full = StoreFull();
  const std::string why =
      absl::StrCat(absl::IsPermissionDenied(full) ? "the database cannot be written ("
                                                  : "the database is full (",
                   full.message(), ")");
  int dropped = 0;
  for (store::Event event : batch) {
    // A run that lost steps cannot end as trained, nor its job as succeeded, whatever the
    // training thread reported: their recorded trajectory stops short.
    if (const auto* step = std::get_if<store::StepEvent>(&event)) {
      truncated_runs_.insert(step->run_id);
      ++dropped;
      continue;
    }
    if (const auto* eval = std::get_if<store::EvalEvent>(&event)) {
      truncated_runs_.insert(eval->run_id);
      ++dropped;
      continue;
    }
    if (auto* run = std::get_if<store::RunFinishedEvent>(&event);
        run != nullptr && truncated_runs_.contains(run->summary.id)) {
      truncated_jobs_.insert(run->summary.job_id);
      if (run->summary.state != store::RunState::kFailed) {
        run->summary.state = store::RunState::kFailed;
        run->summary.outcome = why;
      }
      // What training reached is not what was recorded: let the store's steps speak.
      run->summary.steps_done = 0;
      run->summary.final_loss.reset();
      run->summary.first_nonfinite_step.reset();
      run->summary.flatline_step.reset();
      run->summary.final_eval.reset();
    }
    if (auto* job = std::get_if<store::JobFinishedEvent>(&event);
        job != nullptr && truncated_jobs_.contains(job->job_id) &&
        job->state != store::JobState::kFailed) {
      job->state = store::JobState::kFailed;
      job->error = why;
    }
    if (absl::Status s = Append(std::span(&event, 1)); !s.ok()) {
      spdlog::error("{}: could not record a run's or job's end either: {}", why,
                    std::string(s.message()));
      if (const auto* job = std::get_if<store::JobFinishedEvent>(&event)) {
        const bool read_only = absl::IsPermissionDenied(full);
        const std::string sentence = absl::StrCat(
            why, ": job ", job->job_id,
            " stopped with the steps recorded so far and its end could not be recorded; it goes "
            "on from them when the server is restarted with ",
            read_only ? "a database it can write" : "room");
        hub_.Halt(job->job_id, read_only ? absl::FailedPreconditionError(sentence)
                                         : absl::ResourceExhaustedError(sentence));
      }
    }
  }
  if (dropped > 0) {
    spdlog::warn("{}: {} steps and evaluations not recorded", why, dropped);
  }
}

namespace {

// What an event is, for a run's outcome: "step 12", "its end", ...
std::string Describe(const store::Event& event) {
  if (const auto* step = std::get_if<store::StepEvent>(&event)) {
    return absl::StrCat("step ", step->step);
  }
  if (const auto* eval = std::get_if<store::EvalEvent>(&event)) {
    return absl::StrCat("the evaluation at step ", eval->step);
  }
  if (std::holds_alternative<store::RunStartedEvent>(event)) return "its start";
  if (std::holds_alternative<store::RunFinishedEvent>(event)) return "its end";
  if (std::holds_alternative<store::RunRestartedEvent>(event)) return "its restart from step 0";
  if (std::holds_alternative<store::JobStartedEvent>(event)) return "the job's start";
  return "the job's end";
}

// A failed run's end, for a run whose own end cannot be recorded as it was: only what a
// failure needs, so that no value of the refused summary can be refused again.
store::RunFinishedEvent FailedEnd(const store::RunRecord& summary, const std::string& why) {
  store::RunRecord failed;
  failed.id = summary.id;
  failed.job_id = summary.job_id;
  failed.state = store::RunState::kFailed;
  failed.outcome = why;
  failed.finished_at = summary.finished_at;
  return store::RunFinishedEvent{std::move(failed)};
}

}  // namespace

void EventWriter::Refused(const store::Event& event, const absl::Status& status) {
  spdlog::error("the store refused an event ({}): {}", Describe(event),
                std::string(status.message()));
  const int64_t run_id = RunOf(event);
  if (const auto* job = std::get_if<store::JobFinishedEvent>(&event)) {
    // The job stays unfinished and resumes at the next start; its watchers are told so now.
    hub_.Halt(job->job_id,
              absl::InternalError(absl::StrCat(
                  "the database refused job ", job->job_id, "'s end (", status.message(),
                  "); it stays unfinished and goes on when the server is restarted")));
  }
  if (run_id == 0) return;  // a job's start or end: the job stays unfinished and resumes
  const std::string why =
      absl::StrCat("the database refused ", Describe(event), ": ", status.message());
  if (const auto* end = std::get_if<store::RunFinishedEvent>(&event)) {
    const store::Event failed = FailedEnd(end->summary, why);
    if (absl::Status s = Append(std::span(&failed, 1)); !s.ok()) {
      // The store's own rule then ends the run when its job ends (store.h, JobFinished).
      spdlog::error("could not record run {} as failed either: {}", run_id,
                    std::string(s.message()));
    }
    refused_runs_.erase(run_id);
    return;
  }
  refused_runs_.emplace(run_id, why);  // the first refusal is the reason
}

std::vector<store::Event> EventWriter::AfterRefusals(const std::vector<store::Event>& batch) {
  std::vector<store::Event> kept;
  kept.reserve(batch.size());
  for (const store::Event& event : batch) {
    auto refused = refused_runs_.find(RunOf(event));
    if (refused == refused_runs_.end()) {
      kept.push_back(event);
      continue;
    }
    // A run with a hole in its record fails rather than records around it: steps and
    // evaluations after the hole are dropped (the run's trajectory stays a prefix), and its
    // end is a failure with the first refusal's reason.
    if (const auto* end = std::get_if<store::RunFinishedEvent>(&event)) {
      kept.push_back(FailedEnd(end->summary, refused->second));
      refused_runs_.erase(refused);
    }
  }
  return kept;
}

void EventWriter::Commit(const std::vector<store::Event>& given) {
  if (!StoreFull().ok()) return CommitWhenFull(given);
  const std::vector<store::Event> batch =
      refused_runs_.empty() ? given : AfterRefusals(given);
  size_t recorded = 0;
  const absl::Status status = AppendWhatFits(batch, recorded);
  if (status.ok()) return;
  const std::vector<store::Event> rest(batch.begin() + static_cast<ptrdiff_t>(recorded),
                                       batch.end());
  if (Unwritable(status)) return CommitWhenFull(rest);
  // The store refused the batch for good: an event breaks one of its rules (a bug, never a
  // user's input). The others are committed one by one, so one bad event cannot stall every
  // job; the run of the bad one fails with the store's reason (Refused).
  for (const store::Event& event : rest) {
    if (auto refused = refused_runs_.find(RunOf(event)); refused != refused_runs_.end()) {
      if (const auto* end = std::get_if<store::RunFinishedEvent>(&event)) {
        const store::Event failed = FailedEnd(end->summary, refused->second);
        refused_runs_.erase(refused);
        if (absl::Status s = Append(std::span(&failed, 1)); !s.ok()) {
          spdlog::error("could not record run {} as failed either: {}", end->summary.id,
                        std::string(s.message()));
        }
      }
      continue;
    }
    if (absl::Status s = Append(std::span(&event, 1)); !s.ok()) Refused(event, s);
  }
}

// Batches form by themselves: whatever arrives while one transaction commits, or in the
// kCommitWindow after a batch's first event, goes into the same transaction.
//
// Checkpoints wait in their own queue, each behind the events posted before it, and are handed
// on after the batch that holds the last of those committed.
void EventWriter::WriteLoop() {
  std::vector<store::Event> batch;
  for (;;) {
    {
      absl::MutexLock lock(&mutex_);
      while (!stopping_ && pending_.empty() && pending_checkpoints_.empty()) posted_.Wait(&mutex_);
      if (pending_.empty() && pending_checkpoints_.empty()) return;  // stopping, all done
      if (!pending_.empty()) {
        const absl::Time window_end = absl::Now() + absl::FromChrono(kCommitWindow);
        while (!stopping_ && !flushing_ && !full_run_ &&
               !posted_.WaitWithDeadline(&mutex_, window_end)) {
        }
        flushing_ = false;
        batch.swap(pending_);
        batch_posted_ = pending_since_;
        pending_per_run_.clear();
        full_run_ = false;
        taken_.SignalAll();
      }
    }
    if (!batch.empty()) Commit(batch);
    {
      absl::MutexLock lock(&mutex_);
      committed_count_ += batch.size();
    }
    // Before waking Flush: it waits for the checkpoints too.
    if (checkpoints_ != nullptr) ReleaseCheckpoints();
    committed_.SignalAll();
    batch.clear();
  }
}

}  // namespace ablate::jobs
