// Following a job to its end over WatchJob, through server restarts.
//
// The watcher first fetches the job (GetJob, with the unary deadline: an unreachable server
// or an unknown id fails at once), then reads the stream from cursor 0. When the stream
// breaks (UNAVAILABLE: the server stopped, restarted, or the network dropped), it waits with
// exponential backoff, checks that the server answers GetJob again, and reopens WatchJob from
// the cursor of the last update it applied; the server then sends exactly what came after, so
// nothing is missed or shown twice, and WatchState verifies that step by step. It gives up when
// the server has not answered for `reconnect_timeout`.
#ifndef ABLATE_CLIENT_WATCH_H_
#define ABLATE_CLIENT_WATCH_H_

#include <cstdint>
#include <functional>

#include "ablate/v1/ablate.pb.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/connection.h"
#include "client/progress.h"

namespace ablate::client {

struct WatchOptions {
  // How long the server may stay unreachable before the watch gives up.
  absl::Duration reconnect_timeout = absl::Seconds(60);
  // Waits between reconnection attempts while the server is away: doubling from the first to
  // the last, and back to the first once it answers again. A restarted server (it answers
  // within a fraction of a second) is seen again within max_backoff plus one round trip; an
  // attempt on a server that is down costs a refused connection.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Milliseconds(400);
  // While the job waits for a worker, how often the watch asks where it stands in the queue.
  absl::Duration queue_poll_interval = absl::Seconds(2);
  // How the watch waits between attempts (tests record the waits).
  std::function<void(absl::Duration)> sleep = [](absl::Duration d) { absl::SleepFor(d); };
};

// Whether a call's status means "the server is away" (try again shortly), not "the server
// said no".
bool IsConnectionLoss(absl::StatusCode code);

// Exponential backoff: initial, 2x, 4x, ... capped at max.
class Backoff {
 public:
  Backoff(absl::Duration initial, absl::Duration max) : initial_(initial), max_(max) {}
  // The next wait.
  absl::Duration Next();
  // Back to the initial wait (after a success).
  void Reset() { next_ = absl::ZeroDuration(); }

 private:
  absl::Duration initial_;
  absl::Duration max_;
  absl::Duration next_ = absl::ZeroDuration();
};

// Watches job `job_id` until it ends, showing progress on `display`, and returns the job as
// the stream's last update reported it (its state says whether it succeeded).
// Errors: the server's answer to GetJob (e.g. NOT_FOUND), a non-retryable stream error,
// Unavailable when the server stayed away longer than options.reconnect_timeout (the
// message says how to resume), or Internal when the stream broke its promise (WatchState).
absl::StatusOr<v1::Job> WatchJob(Connection& connection, int64_t job_id,
                                 const WatchOptions& options, ProgressDisplay& display);

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_WATCH_H_
