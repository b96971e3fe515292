// The store's single writer: events from every training thread go through one queue into
// batched transactions, and each commit is announced to the CursorHub only after it is
// durable, so a watcher never sees a step the store could lose.
#ifndef ABLATE_SERVER_JOBS_EVENT_WRITER_H_
#define ABLATE_SERVER_JOBS_EVENT_WRITER_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <span>
#include <thread>
#include <vector>

#include "server/jobs/cursor_hub.h"
#include "server/store/store.h"

namespace ablate::jobs {

class EventWriter {
 public:
  // Borrows the store and the hub, which must outlive the writer. Starts the writer thread.
  EventWriter(store::Store& store, CursorHub& hub);
  // Commits everything posted, then stops the thread.
  ~EventWriter();
  EventWriter(const EventWriter&) = delete;
  EventWriter& operator=(const EventWriter&) = delete;

  // Queues an event; returns at once. Events posted by one thread are committed in order.
  // An event the store refuses for good is never dropped silently: its run ends FAILED with
  // "the database refused <what>: <the store's reason>", and none of the run's later steps or
  // evaluations are recorded, so its trajectory stays a prefix of what it trained. (The job
  // manager fails the job of a failed run.)
  void Post(store::Event event);

  // Blocks until every event posted before the call is committed (or dropped, see below).
  void Flush();

  // A full store. Commits that fail with ResourceExhausted (no space) or PermissionDenied (the
  // database became read-only) are retried for a few seconds (either may pass); then the store
  // counts as full, that is unwritable, until the writer is destroyed: the writer
  // calls the handler once (on its own thread) and from then on drops every step and
  // evaluation without trying to record them, so a run's recorded trajectory stays a
  // contiguous prefix (and a restart re-runs and completes it). Lifecycle events (a run's or
  // job's start and end) are still tried, one at a time and once each: they update rows rather
  // than add them, and often fit where steps no longer do; the end of a run that lost steps
  // is recorded as FAILED "the database is full (...)" (or "cannot be written"), and so is its
  // job's. Committed data is never touched.
  using FullHandler = std::function<void(const absl::Status& full)>;
  // Sets (or, with nullptr, clears) the handler; when this returns, an old handler no longer
  // runs.
  void OnStoreFull(FullHandler handler);
  // OK, or the ResourceExhausted or PermissionDenied failure that made the store count as full.
  absl::Status StoreFull();

  // Steps committed since the writer started: /metrics' ablate_steps_recorded_total.
  uint64_t StepsRecorded() const { return steps_recorded_.load(std::memory_order_relaxed); }
  // Steps committed per second over about the last minute (0 when none).
  double StepsPerSecond();

 private:
  void WriteLoop();
  // Appends events in one transaction and announces them, retrying while the store's failure
  // is transient; returns a permanent failure.
  absl::Status Append(std::span<const store::Event> events);
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
  void MarkFull(const absl::Status& status);
  // Counts committed steps and keeps a sample a second for StepsPerSecond.
  void CountSteps(std::span<const store::Event> events);

  store::Store& store_;
  CursorHub& hub_;
  std::mutex mutex_;
  std::condition_variable posted_;     // an event arrived, or stopping_, or flushing_
  std::condition_variable committed_;  // committed_count_ advanced
  std::vector<store::Event> pending_;  // guarded by mutex_
  uint64_t posted_count_ = 0;          // guarded by mutex_
  uint64_t committed_count_ = 0;       // guarded by mutex_
  bool stopping_ = false;              // guarded by mutex_
  bool flushing_ = false;              // a Flush waits: commit without waiting; guarded by mutex_
  absl::Status full_;                  // guarded by mutex_
  std::mutex handler_mutex_;           // held while the handler runs
  FullHandler full_handler_;           // guarded by handler_mutex_
  // Runs that lost steps to a full store, and their jobs; only the writer thread touches them.
  std::set<int64_t> truncated_runs_;
  std::set<int64_t> truncated_jobs_;
  // Runs with an event the store refused, and the first refusal's reason; only the writer
  // thread touches it.
  std::map<int64_t, std::string> refused_runs_;
  std::atomic<uint64_t> steps_recorded_{0};
  using Clock = std::chrono::steady_clock;
  // (time, StepsRecorded() just before a batch committed at that time), about once a second
  // over the last minute; guarded by mutex_
  std::deque<std::pair<Clock::time_point, uint64_t>> step_samples_;
  std::thread thread_;
};

}  // namespace ablate::jobs

#endif  // ABLATE_SERVER_JOBS_EVENT_WRITER_H_
