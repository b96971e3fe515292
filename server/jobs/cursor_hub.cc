#include "server/jobs/cursor_hub.h"

#include <algorithm>
#include <vector>

namespace ablate::jobs {

void CursorHub::Publish(std::span<const store::JobCursor> cursors, Time posted) {
  std::vector<Wake> ready;
  {
    absl::MutexLock lock(&mutex_);
    for (const store::JobCursor& c : cursors) {
      Known& known = cursors_[c.job_id];
      known.cursor = std::max(known.cursor, c.cursor);
      known.posted = posted;
    }
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      auto known = cursors_.find(it->second.job_id);
      if (known != cursors_.end() && known->second.cursor > it->second.after) {
        ready.push_back(std::move(it->second.wake));
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }
  // Outside the lock: a wake may call WaitAfter again.
  for (Wake& wake : ready) wake(posted);
}

uint64_t CursorHub::WaitAfter(int64_t job_id, uint64_t after, Wake wake) {
  uint64_t ticket;
  Time posted;
  {
    absl::MutexLock lock(&mutex_);
    ticket = next_ticket_++;
    auto known = cursors_.find(job_id);
    if (known == cursors_.end() || known->second.cursor <= after) {
      if (known != cursors_.end() && !known->second.halted.ok()) return 0;
      waiters_.emplace(ticket, Waiter{job_id, after, std::move(wake)});
      return ticket;
    }
    posted = known->second.posted;
  }
  wake(posted);
  return ticket;
}

void CursorHub::Halt(int64_t job_id, absl::Status why) {
  std::vector<Wake> woken;
  Time posted;
  {
    absl::MutexLock lock(&mutex_);
    Known& known = cursors_[job_id];
    known.halted = std::move(why);
    posted = known.posted;
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      if (it->second.job_id == job_id) {
        woken.push_back(std::move(it->second.wake));
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }
  // Outside the lock, as in Publish. A woken waiter that reads finds nothing new and, waiting
  // again, is told by WaitAfter's 0 that nothing will come.
  for (Wake& wake : woken) wake(posted);
}

absl::Status CursorHub::Halted(int64_t job_id, uint64_t cursor) {
  absl::MutexLock lock(&mutex_);
  auto known = cursors_.find(job_id);
  if (known == cursors_.end() || known->second.cursor > cursor) return absl::OkStatus();
  return known->second.halted;
}

bool CursorHub::Cancel(uint64_t ticket) {
  absl::MutexLock lock(&mutex_);
  return waiters_.erase(ticket) > 0;
}

}  // namespace ablate::jobs
