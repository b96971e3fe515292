// The live streams' limits, for gRPC WatchJob and SSE together: a cap on all of them, a cap
// per user, and a periodic re-check of each stream's token, so that a revoked token's streams
// end without waiting for their jobs.
#ifndef ABLATE_SERVER_SERVICE_STREAM_LIMITS_H_
#define ABLATE_SERVER_SERVICE_STREAM_LIMITS_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/auth/principal.h"

namespace ablate::service {

// The written policy; every field is a flag of ablate-server and is in the README.
struct StreamLimitOptions {
  // Live streams open at once, gRPC and SSE together (--max-streams); 0: no cap. The HTTP
  // side also has its own cap (--http-max-streams).
  int max_streams = 4096;
  // Live streams one user may have open at once (--max-streams-per-user); 0: no cap. Without
  // authentication there are no users, and only the caps on all streams apply.
  int max_streams_per_user = 16;
  // How often every open stream's token is checked again (--stream-recheck-interval): a
  // revoked token's streams end within this.
  std::chrono::milliseconds recheck_interval{30'000};
};

// Thread-safe.
class StreamLimits {
 public:
  using Authenticate = std::function<absl::StatusOr<auth::Caller>(std::string_view token)>;
  // Ends a stream from outside with a reason; must not block, and must be safe to call after
  // the stream has ended (capture weak references).
  using End = std::function<void(const absl::Status& why)>;

  // Starts the re-check thread, which calls `authenticate` with the streams' tokens.
  StreamLimits(Authenticate authenticate, StreamLimitOptions options);
  // Stop().
  ~StreamLimits();
  StreamLimits(const StreamLimits&) = delete;
  StreamLimits& operator=(const StreamLimits&) = delete;

  // Counts one more stream of `caller`, opened with `token`: a ticket for Attach and Release,
  // or ResourceExhausted in one sentence naming the limit, its flag and what to do.
  absl::StatusOr<uint64_t> Admit(const auth::Caller& caller, std::string token)
      ABSL_LOCKS_EXCLUDED(mutex_);
  // How to end the stream when its token no longer authenticates (with Unauthenticated).
  void Attach(uint64_t ticket, End end) ABSL_LOCKS_EXCLUDED(mutex_);
  // The stream has ended; call once per admitted ticket. Its End is not called after this.
  void Release(uint64_t ticket) ABSL_LOCKS_EXCLUDED(mutex_);

  // Re-checks every stream's token now (the thread does it every recheck_interval) and ends
  // those whose token no longer authenticates; returns how many it ended.
  int Recheck() ABSL_LOCKS_EXCLUDED(mutex_);
  // Joins the re-check thread; call before the front doors whose streams it may end are
  // destroyed. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mutex_);

  // Streams open now.
  int Open() const ABSL_LOCKS_EXCLUDED(mutex_);

 private:
  struct Stream {
    std::string user;  // empty without authentication
    std::string token;
    End end;
  };
  void RecheckLoop() ABSL_LOCKS_EXCLUDED(mutex_);

  const Authenticate authenticate_;
  const StreamLimitOptions options_;
  mutable absl::Mutex mutex_;
  absl::CondVar stopping_changed_;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  uint64_t next_ticket_ ABSL_GUARDED_BY(mutex_) = 1;
  std::map<uint64_t, Stream> streams_ ABSL_GUARDED_BY(mutex_);
  std::map<std::string, int> per_user_ ABSL_GUARDED_BY(mutex_);
  // Held while Recheck calls Ends, so Release waits.
  absl::Mutex ending_ ABSL_ACQUIRED_BEFORE(mutex_);
  std::thread thread_;
};

}  // namespace ablate::service

#endif  // ABLATE_SERVER_SERVICE_STREAM_LIMITS_H_
