// The job manager: schedules each job's runs on the executor, records their progress through
// the event writer, and carries jobs across restarts.
#ifndef ABLATE_SERVER_JOBS_JOB_MANAGER_H_
#define ABLATE_SERVER_JOBS_JOB_MANAGER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/trainer.h"
#include "server/jobs/checkpoint_files.h"
#include "server/jobs/event_writer.h"
#include "server/jobs/executor.h"
#include "server/jobs/owner_turns.h"
#include "server/store/store.h"

namespace ablate::jobs {

// Called on one of the job manager's finishing threads (never a training thread) once every run
// of a job has ended and its events are committed, before the job is marked finished: builds the
// job's deliverables. An error fails the job. Jobs may finish concurrently, one per thread.
using FinishHook = std::function<absl::Status(int64_t job_id)>;

// Called once on each finishing thread as it starts, before it takes any job's end: loads what
// a job's end needs per thread, so that no job's end pays for it. (The figures' text goes
// through Pango, whose font map and font caches are per thread: a thread's first figure costs
// about twice as much as its next ones.)
using FinisherStart = std::function<void()>;

// How runs keep checkpoints, so that a run interrupted by a crash continues from its latest one.
struct Checkpointing {
  // Borrowed; null: no checkpoints, and an interrupted run replays from step 0. The event
  // writer must save to the same files.
  CheckpointFiles* files = nullptr;
  core::CheckpointPolicy policy;  // how often a run hands one over
};

// Thread-safe. A job's end (its deliverables, then its final state) is handled by the manager's
// own finishing threads: the thread that trained the last run goes back to training at once
// instead of drawing figures. Ended jobs wait their turn as runs do (OwnerTurns: each owner's
// in the order they ended, owners in turn), so that one student's sweep of fifty jobs ending
// together does not keep another's one job waiting for its files. More than one finishing
// thread lets jobs end side by side.
class JobManager {
 public:
  // Borrows everything, which must outlive the manager. Starts `finishing_threads` (at least 1)
  // finishing threads, each of which calls `on_finisher_start` (when not empty) first.
  JobManager(store::Store& store, EventWriter& writer, Executor& executor, FinishHook on_finish,
             Checkpointing checkpointing = {}, int finishing_threads = 1,
             FinisherStart on_finisher_start = nullptr);
  // Calls Shutdown(), then lets the finishing threads forget the jobs still queued to them (they
  // finish at the next Recover) and joins them.
  ~JobManager();
  JobManager(const JobManager&) = delete;
  JobManager& operator=(const JobManager&) = delete;

  // Schedules every job the store holds as queued or running, oldest first, and removes the
  // checkpoints of runs that have ended. A run that was interrupted continues from its
  // checkpoint when it has a usable one (intact, of its settings, written by this build, not
  // ahead of its stored steps), or else from step 0; either way the steps already stored after
  // that point are trained again, checked bit for bit against the stored ones, and not
  // recorded twice. A run whose stored steps were trained by another build (Run.fingerprint),
  // or whose replay comes out different, starts over from step 0 instead: its stored steps are
  // set aside (store::RunRestartedEvent) with the reason, never spliced with new ones. A job
  // whose run failed before the restart ends failed, with that run's error. Call once, before
  // Submit.
  absl::Status Recover() ABSL_LOCKS_EXCLUDED(mutex_);

  // Stores a resolved spec as a new queued job of `owner` (in class `class_id`, when the server
  // authenticates) and schedules its runs.
  absl::StatusOr<v1::Job> Submit(const v1::JobSpec& resolved_spec, const std::string& owner,
                                 std::optional<int64_t> class_id = std::nullopt);

  // Stops a job's runs (each within one step), waits up to `wait` for the job to be recorded
  // as cancelled, and returns it. A job that already ended is returned unchanged. NotFound for
  // an unknown id.
  absl::StatusOr<v1::Job> Cancel(int64_t job_id,
                                 std::chrono::milliseconds wait = std::chrono::seconds(5))
      ABSL_LOCKS_EXCLUDED(mutex_);

  // Stops every run without recording an outcome: they stay running in the store and resume
  // at the next Recover. Jobs submitted afterwards are refused.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mutex_);

  // Jobs that have not ended.
  int ActiveJobs() ABSL_LOCKS_EXCLUDED(mutex_);

  // How many queued runs start before the next of `job`'s runs (Executor::RunsAhead); nullopt
  // when none of its runs is waiting for a worker.
  std::optional<int> RunsAhead(const v1::Job& job);

  // For a store that cannot be written (a read-only data directory): Submit, and Cancel of a
  // job that has not ended, return `why` from now on. Call instead of Recover.
  void RefuseChanges(absl::Status why) ABSL_LOCKS_EXCLUDED(mutex_);

  // A full store (EventWriter::OnStoreFull calls this): every job still running ends FAILED
  // with "the database is full (...)" when the store can still record that, or else stays
  // running in the store and resumes at the next start; Submit refuses new jobs with
  // ResourceExhausted "the data directory is full" until the server restarts. A store that
  // became read-only (`full` is PermissionDenied) is treated alike, in its own words, and
  // Submit's refusal is FailedPrecondition.
  void StoreFull(const absl::Status& full) ABSL_LOCKS_EXCLUDED(mutex_);

 private:
  struct ActiveJob;
  class RunSupervisor;

  absl::Status Schedule(const v1::Job& job);
  // Counts a run of `job` as ended; the last one queues the job to the finishing threads.
  void RunEnded(ActiveJob& job) ABSL_LOCKS_EXCLUDED(mutex_);
  // Hands `job`, whose runs have all ended, to the finishing threads.
  void QueueFinish(ActiveJob& job) ABSL_LOCKS_EXCLUDED(finish_mutex_);
  // A finishing thread's loop (after its `on_finisher_start`): FinishJob for each job it takes
  // from the queue until the manager is destroyed.
  void FinishLoop() ABSL_LOCKS_EXCLUDED(finish_mutex_);
  // On a finishing thread: builds the deliverables, records the job's end, and forgets it.
  // The job fails when one of its runs is stored as failed (also one that failed before a
  // restart).
  void FinishJob(ActiveJob& job) ABSL_LOCKS_EXCLUDED(mutex_);
  // Records every run of the job that the store does not hold as ended as FAILED, and returns
  // the first failed run's error ("run 2: why"), or "" when none failed.
  std::string EndRuns(int64_t job_id);
  // The error of a run stopped by a full store.
  std::string FullError() ABSL_LOCKS_EXCLUDED(mutex_);

  store::Store& store_;
  EventWriter& writer_;
  Executor& executor_;
  FinishHook on_finish_;
  const Checkpointing checkpointing_;
  std::atomic<bool> shutting_down_{false};
  std::atomic<bool> store_full_{false};
  absl::Mutex mutex_;
  absl::Status full_error_ ABSL_GUARDED_BY(mutex_);  // the job error when the store is full
  absl::Status refuse_changes_ ABSL_GUARDED_BY(mutex_);
  absl::CondVar job_ended_;
  std::map<int64_t, std::unique_ptr<ActiveJob>> active_ ABSL_GUARDED_BY(mutex_);

  absl::Mutex finish_mutex_;
  absl::CondVar finish_queued_;
  OwnerTurns<ActiveJob*> to_finish_ ABSL_GUARDED_BY(finish_mutex_);  // owned by active_
  bool finisher_stopping_ ABSL_GUARDED_BY(finish_mutex_) = false;
  std::vector<std::thread> finishers_;  // last: started once everything above exists
};

}  // namespace ablate::jobs

#endif  // ABLATE_SERVER_JOBS_JOB_MANAGER_H_
