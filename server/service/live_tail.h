// Live updates fanned out from memory: one tail per watched job holds its newest committed
// updates, read from the store once per round of commits, and every watcher of the job (gRPC
// or SSE) is served from it. The store is read for a watcher alone only to catch up a cursor
// older than the tail.
//
// Saved before shown: the tail reads the store after the event writer has announced a commit
// on the CursorHub, so it holds only what is durable, numbered by the store's own sequence.
//
// The written memory policy: a tail exists only while its job has a watch open; it keeps the
// updates of the newest LiveOptions::tail_events sequence numbers (at least its newest read),
// about 40 bytes per step, so 8192 numbers are about 330 KiB at most per watched job, and the
// number of watched jobs is bounded by the stream caps (stream_limits.h).
#ifndef ABLATE_SERVER_SERVICE_LIVE_TAIL_H_
#define ABLATE_SERVER_SERVICE_LIVE_TAIL_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/statusor.h"
#include "server/jobs/cursor_hub.h"
#include "server/metrics/histogram.h"
#include "server/service/thread_pool.h"
#include "server/store/store.h"

namespace ablate::service {

class SharedUpdate;
using UpdatePtr = std::shared_ptr<const SharedUpdate>;

// One update, shared by every watcher it goes to; immutable once made (what is computed on
// first use is computed once, whichever thread asks first).
class SharedUpdate {
 public:
  using Time = jobs::CursorHub::Time;
  // `posted`: when its oldest step was posted by the training (a live update), or Time{} when
  // unknown (read from the store for one watcher).
  explicit SharedUpdate(v1::JobUpdate update, Time posted = {});
  // The updates of consecutive slices of a job (each one's events follow the previous one's,
  // and none but the first restarts a run), given as one whose cursor is `cursor` (at least the
  // last part's: slices with nothing to show may follow it): what a watcher that fell behind by
  // several rounds gets. `parts` holds at least one.
  SharedUpdate(std::vector<UpdatePtr> parts, uint64_t cursor);

  // Everything this update says: for a merged one, what its parts say together, as the store's
  // ReadUpdate over their slices would (made on first use).
  const v1::JobUpdate& update() const;
  // update().cursor() and update().has_job_finished(), without merging. A merged update's
  // parts end at its cursor, or before it when only slices with nothing to show follow them.
  uint64_t cursor() const { return cursor_; }
  bool finished() const { return finished_; }
  // See the constructor; a merged update's is its first part's.
  Time posted() const { return posted_; }
  // A merged update's parts, in order; empty for one made from a JobUpdate. A front door whose
  // wire form can carry several updates in one write (SSE events) sends the parts' shared
  // encodings one after the other rather than encode the merge.
  const std::vector<UpdatePtr>& parts() const { return parts_; }

  // encode(update()), computed by the first caller and kept for the others: a front door's
  // wire form (an SSE frame) is made once per update, not once per watcher. Every caller must
  // pass the same encoding.
  const std::string& Encoded(const std::function<std::string(const v1::JobUpdate&)>& encode) const;

 private:
  const std::vector<UpdatePtr> parts_;
  const uint64_t cursor_;
  const bool finished_;
  const Time posted_;
  mutable std::once_flag merged_once_;
  mutable v1::JobUpdate update_;  // for a merge, filled by merged_once_
  mutable std::once_flag once_;
  mutable std::string encoded_;
};
// One client's stream of a job's updates. Pull-driven, so a slow client holds back only
// itself: ask for the next update when ready for it. The server holds no per-watcher queue:
// a watcher's next update is a reference into its job's tail, or one read of the store when
// its cursor is older than the tail; a watcher that stops reading stops being asked for more,
// and training, the writer and other watchers never wait on it.
class JobWatch {
 public:
  using Callback = std::function<void(absl::StatusOr<UpdatePtr>)>;
  // Stops the watch (Cancel).
  virtual ~JobWatch() = default;

  // Asks for the next update. `done` is called once: on this thread before Next returns when
  // the update is at hand, else later on a pool thread (after waiting for training, or a read
  // of the store), or with an error. The update that carries job_finished is the last: do not
  // call Next after it. One Next at a time.
  virtual void Next(Callback done) = 0;

  // Drops a pending Next. When it returns, no callback is running or will run. Never call it
  // from within a callback.
  virtual void Cancel() = 0;
};

struct LiveOptions {
  // Sequence numbers of its newest events one job's tail keeps (see the policy above); a
  // watcher further behind catches up from the store.
  int tail_events = 8192;
  // Shortest spacing of one tail's reads of the store: the commits of this interval reach
  // the job's watchers as one update, so a busy job costs its watchers at most
  // 1 s / interval messages a second each, whatever its step rate. Serving costs about one
  // write per watcher per round, so this sets a hall's cost: 50 ms keeps a step's wait for its
  // round well inside a tenth of a second while costing half what 20 ms did
  // (tests/load/run-lab-watch.sh, 1,000 SSE and 100 gRPC watchers).
  std::chrono::milliseconds fan_out_interval{50};
};

// Thread-safe. Borrows the store, hub and pool, which must outlive every watch and task.
class LiveTails {
 public:
  LiveTails(store::Store& store, jobs::CursorHub& hub, ThreadPool& pool, LiveOptions options);
  // Stops the fan-out thread. Every watch must be gone.
  ~LiveTails();
  LiveTails(const LiveTails&) = delete;
  LiveTails& operator=(const LiveTails&) = delete;

  // A watch of job `job_id` from `cursor`. The caller has checked that the job exists and
  // that `cursor` is not past its last event; `ended` says the job had ended then (its watch
  // reads the store only, and then its end). Reads the store (the job's cursor) when the job
  // has no tail yet.
  absl::StatusOr<std::unique_ptr<JobWatch>> Watch(int64_t job_id, uint64_t cursor, bool ended);

  // Reads of the store made for watchers since the start: tails' reads and catch-ups.
  uint64_t StoreReads() const;
  // Jobs with a tail now.
  int Tails() const;
  // Per live update handed to a watcher, its oldest step's delay in seconds from the training's
  // post (updates of steps done before the watch began are not counted): what
  // ablate_watch_delay_seconds shows.
  metrics::HistogramSnapshot Delays() const;

  struct Core;  // shared with tails and watches, so that pool tasks never dangle

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace ablate::service

#endif  // ABLATE_SERVER_SERVICE_LIVE_TAIL_H_
