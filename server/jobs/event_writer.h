// The writer of a job's progress: the events of every training thread (steps, evaluations, a
// run's and a job's start and end) go through one queue into batched transactions, and each
// commit is announced to the CursorHub only after it is durable, so a watcher never sees a step
// the store could lose. It is not the store's only writer: the service creates, deletes and
// annotates jobs, the job's end stores its files (PutArtifact), and the admin commands write
// users, each directly; the store runs every write transaction one at a time under its own lock
// (SqliteStore's write_mu_).
#ifndef ABLATE_SERVER_JOBS_EVENT_WRITER_H_
#define ABLATE_SERVER_JOBS_EVENT_WRITER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/jobs/checkpoint_files.h"
#include "server/jobs/cursor_hub.h"
#include "server/store/job_store.h"

namespace ablate::jobs {

class EventWriter {
 public:
  // Steps and evaluations of one run queued and not yet taken by a commit, at most, unless
  // told otherwise (--max-run-backlog): a Post of either waits while its run has this many
  // queued, so a run trains ahead of the store by a bounded amount (about 1.6 MB of events). A
  // tiny model trains far more steps a second than SQLite appends, and the queue, unbounded,
  // took a cheap job's server to almost 1 GB. The bound is per run so that such a run waits
  // for its own backlog only, never a classmate's lab run that posts a step every few
  // milliseconds. (Run and job lifecycle events never wait: they are few, and they are posted
  // under locks that the writer's full-store handler takes.)
  static constexpr int kDefaultRunBacklog = 4096;

  // Borrows the store, the hub and the checkpoint files (may be null: checkpoints are then
  // dropped), which must outlive the writer. Starts the writer thread. `run_backlog` >= 1.
  EventWriter(store::JobStore& store, CursorHub& hub, CheckpointFiles* checkpoints = nullptr,
              int run_backlog = kDefaultRunBacklog);
  // Commits everything posted, then stops the thread.
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // Queues an event. Returns at once, except that a step or an evaluation waits while its run
  // has run_backlog queued (not when posted from the writer's own thread, nor once the writer
  // is stopping). Events posted by one thread are committed in order.
  // An event the store refuses for good is never dropped silently: its run ends FAILED with
  // "the database refused <what>: <the store's reason>", and none of the run's later steps or
  // evaluations are recorded, so its trajectory stays a prefix of what it trained. (The job
  // manager fails the job of a failed run.)
  void Post(store::Event event) ABSL_LOCKS_EXCLUDED(mutex_);

  // Blocks until every event posted before the call is committed (or dropped, see below), and
  // the checkpoints posted before it are handed to the checkpoint files.
  void Flush() ABSL_LOCKS_EXCLUDED(mutex_);

  // Saves a checkpoint of run `run_id` once every event posted before this call is committed,
  // so that a checkpoint file is never ahead of the stored steps. Dropped instead when a step
  // or evaluation of the run was not recorded (a full store, an event the store refused).
  // Post it on the thread that posts the run's steps.
  void PostCheckpoint(int64_t run_id, std::string checkpoint) ABSL_LOCKS_EXCLUDED(mutex_);
  // Removes the run's checkpoint file once the events posted before this call are committed
  // (the run ended or started over); ordered with the run's PostCheckpoint calls.
  void PostCheckpointRemoval(int64_t run_id) ABSL_LOCKS_EXCLUDED(mutex_);

  // A full store. Commits that fail with ResourceExhausted (no space) or PermissionDenied (the
  // database became read-only) are retried for a few seconds (either may pass); then the store
  // counts as full, that is unwritable, until the writer is destroyed: the writer
  // calls the handler once (on its own thread) and from then on drops every step and
  // evaluation without trying to record them, so a run's recorded trajectory stays a
  // contiguous prefix (and a restart re-runs and completes it). Lifecycle events (a run's or
  // job's start and end) are still tried, one at a time and once each: they update rows rather
  // than add them, and often fit where steps no longer do; the end of a run that lost steps
  // is recorded as FAILED "the database is full (...)" (or "cannot be written"), and so is its
  // job's. A job whose end cannot be recorded either is halted on the CursorHub, so that its
  // watchers end with that sentence rather than wait for an end that cannot come (the same for
  // a job's end the store refuses). Committed data is never touched.
  using FullHandler = std::function<void(const absl::Status& full)>;
  // Sets (or, with nullptr, clears) the handler; when this returns, an old handler no longer
  // runs.
  void OnStoreFull(FullHandler handler) ABSL_LOCKS_EXCLUDED(handler_mutex_);
  // OK, or the ResourceExhausted or PermissionDenied failure that made the store count as full.
  absl::Status StoreFull() ABSL_LOCKS_EXCLUDED(mutex_);

  // Steps committed since the writer started: /metrics' ablate_steps_recorded_total.
  uint64_t StepsRecorded() const { return steps_recorded_.load(std::memory_order_relaxed); }
  // Steps committed per second over about the last minute (0 when none).
  double StepsPerSecond() ABSL_LOCKS_EXCLUDED(mutex_);
  // Seconds that training threads have spent waiting in Post for their run's backlog
  // (run_backlog) since the writer started, summed over threads: /metrics'
  // ablate_training_store_wait_seconds_total, which grows while training outruns the store.
  double StoreWaitSeconds() const {
    return static_cast<double>(store_wait_ns_.load(std::memory_order_relaxed)) * 1e-9;
  }

 private:
  void WriteLoop() ABSL_LOCKS_EXCLUDED(mutex_);
  // Appends events in one transaction and announces them, retrying while the store's failure
  // is transient (and, with `retry_full`, while it is full, for about 2 s before it counts as
  // full for good); returns a permanent failure.
  absl::Status Append(std::span<const store::Event> events, bool retry_full = true);
  // Appends the longest prefix of `events` that the store has room for, adding its length to
  // `recorded`: a batch too big for what is left of the disk is halved until its parts fit, so
  // a nearly full store keeps every step it can rather than none of the batch's. Returns the
  // failure that stopped it (the rest of `events` is not recorded).
  absl::Status AppendWhatFits(std::span<const store::Event> events, size_t& recorded);
  // Commits a batch; when the store refuses it for good, every event it accepts alone.
  void Commit(const std::vector<store::Event>& batch);
  // An event the store refused for good (it breaks one of the store's rules): logged, and its
  // run fails with the store's reason (see Post).
  void Refused(const store::Event& event, const absl::Status& status);
  // `batch` without the later steps and evaluations of runs with a refused event, and with
  // those runs' ends turned into failures.
  std::vector<store::Event> AfterRefusals(const std::vector<store::Event>& batch);
  // Commits a batch's lifecycle events one by one, dropping its steps and evaluations.
  void CommitWhenFull(const std::vector<store::Event>& batch);
  // Records that the store is full and tells the handler.
  void MarkFull(const absl::Status& status) ABSL_LOCKS_EXCLUDED(mutex_);
  // Counts committed steps and keeps a sample a second for StepsPerSecond.
  void CountSteps(std::span<const store::Event> events) ABSL_LOCKS_EXCLUDED(mutex_);
  // Hands the checkpoints whose preceding events are all committed to the checkpoint files.
  void ReleaseCheckpoints() ABSL_LOCKS_EXCLUDED(mutex_);

  struct PendingCheckpoint {
    uint64_t after = 0;  // posted_count_ when posted: due once committed_count_ reaches it
    int64_t run_id = 0;
    std::optional<std::string> checkpoint;  // none: remove the run's file
  };

  store::JobStore& store_;
  CursorHub& hub_;
  CheckpointFiles* const checkpoints_;
  const int run_backlog_;
  absl::Mutex mutex_;
  absl::CondVar posted_;     // the first event of a batch arrived, or stopping_, or flushing_
  absl::CondVar committed_;  // committed_count_ advanced
  absl::CondVar taken_;      // the writer took pending_ for a commit (Post may go on)
  std::vector<store::Event> pending_ ABSL_GUARDED_BY(mutex_);
  // Steps and evaluations in pending_, per run; a Post waits on taken_ (set full_run_).
  std::map<int64_t, int> pending_per_run_ ABSL_GUARDED_BY(mutex_);
  bool full_run_ ABSL_GUARDED_BY(mutex_) = false;  // a Post waits: commit without the window
  // When pending_'s first event was posted.
  std::chrono::steady_clock::time_point pending_since_ ABSL_GUARDED_BY(mutex_);
  // When the batch being committed began to be posted; only the writer thread touches it.
  std::chrono::steady_clock::time_point batch_posted_;
  std::deque<PendingCheckpoint> pending_checkpoints_ ABSL_GUARDED_BY(mutex_);  // in posting order
  // Checkpoints taken off pending_checkpoints_ and not yet handed on.
  bool releasing_checkpoints_ ABSL_GUARDED_BY(mutex_) = false;
  uint64_t posted_count_ ABSL_GUARDED_BY(mutex_) = 0;
  uint64_t committed_count_ ABSL_GUARDED_BY(mutex_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  bool flushing_ ABSL_GUARDED_BY(mutex_) = false;  // a Flush waits: commit without waiting
  absl::Status full_ ABSL_GUARDED_BY(mutex_);
  absl::Mutex handler_mutex_ ABSL_ACQUIRED_AFTER(mutex_);  // held while the handler runs
  FullHandler full_handler_ ABSL_GUARDED_BY(handler_mutex_);
  // Runs that lost steps to a full store, and their jobs; only the writer thread touches them.
  std::set<int64_t> truncated_runs_;
  std::set<int64_t> truncated_jobs_;
  // Runs with an event the store refused, and the first refusal's reason; only the writer
  // thread touches it.
  std::map<int64_t, std::string> refused_runs_;
  std::atomic<uint64_t> steps_recorded_{0};
  std::atomic<uint64_t> store_wait_ns_{0};  // StoreWaitSeconds
  using Clock = std::chrono::steady_clock;
  // (time, StepsRecorded() just before a batch committed at that time), about once a second
  // over the last minute.
  std::deque<std::pair<Clock::time_point, uint64_t>> step_samples_ ABSL_GUARDED_BY(mutex_);
  std::thread thread_;
};

}  // namespace ablate::jobs

#endif  // ABLATE_SERVER_JOBS_EVENT_WRITER_H_
