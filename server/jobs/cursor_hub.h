// Tells watchers when a job has new committed events, so they read the store only when there
// is something to read.
#ifndef ABLATE_SERVER_JOBS_CURSOR_HUB_H_
#define ABLATE_SERVER_JOBS_CURSOR_HUB_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/store/store.h"

namespace ablate::jobs {

// Thread-safe.
class CursorHub {
 public:
  using Time = std::chrono::steady_clock::time_point;
  // `posted`: when the oldest event of the commit that woke the waiter was posted, so that a
  // watcher's delay can be measured from the step rather than from the commit.
  using Wake = std::function<void(Time posted)>;

  // Records that the jobs' events up to these cursors are committed, the oldest of them posted
  // at `posted`, and wakes their waiters.
  void Publish(std::span<const store::JobCursor> cursors, Time posted)
      ABSL_LOCKS_EXCLUDED(mutex_);

  // Calls `wake` once, when job `job_id` has a committed event after `after`: immediately (on
  // this thread) if it already has, with the latest commit's time, else on the publishing
  // thread. Returns a ticket for Cancel; 0, and `wake` is dropped, when nothing can come any
  // more (the job is halted and has nothing after `after`).
  uint64_t WaitAfter(int64_t job_id, uint64_t after, Wake wake) ABSL_LOCKS_EXCLUDED(mutex_);

  // Records that job `job_id` will commit nothing more in this process although it has not
  // ended (its end could not be recorded: the store is full or refused it), and wakes its
  // waiters, so that its watchers are told `why` instead of waiting for an end that cannot come.
  void Halt(int64_t job_id, absl::Status why) ABSL_LOCKS_EXCLUDED(mutex_);

  // `why` of Halt when job `job_id` is halted with nothing committed after `cursor` (a watcher
  // there has everything it will get); OK otherwise.
  absl::Status Halted(int64_t job_id, uint64_t cursor) ABSL_LOCKS_EXCLUDED(mutex_);

  // Forgets a wait that has not fired; after it returns the wake will not be called. Returns
  // false when it already fired (or is firing).
  bool Cancel(uint64_t ticket) ABSL_LOCKS_EXCLUDED(mutex_);

 private:
  struct Waiter {
    int64_t job_id;
    uint64_t after;
    Wake wake;
  };
  absl::Mutex mutex_;
  struct Known {
    uint64_t cursor = 0;
    Time posted;         // the latest commit's
    absl::Status halted;  // Halt's `why`
  };
  std::unordered_map<int64_t, Known> cursors_ ABSL_GUARDED_BY(mutex_);
  std::map<uint64_t, Waiter> waiters_ ABSL_GUARDED_BY(mutex_);  // by ticket
  uint64_t next_ticket_ ABSL_GUARDED_BY(mutex_) = 1;
};

}  // namespace ablate::jobs

#endif  // ABLATE_SERVER_JOBS_CURSOR_HUB_H_
