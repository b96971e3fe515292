#include "server/service/stream_limits.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace ablate::service {

StreamLimits::StreamLimits(Authenticate authenticate, StreamLimitOptions options)
    : authenticate_(std::move(authenticate)),
      options_(options),
      thread_([this] { RecheckLoop(); }) {}

StreamLimits::~StreamLimits() { Stop(); }

void StreamLimits::Stop() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  stopping_changed_.SignalAll();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<uint64_t> StreamLimits::Admit(const auth::Caller& caller, std::string token) {
  absl::MutexLock lock(&mutex_);
  if (options_.max_streams > 0 && static_cast<int>(streams_.size()) >= options_.max_streams) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the server is already streaming to ", options_.max_streams,
        " watchers, its limit (--max-streams); close a watch or try again shortly."));
  }
  const std::string user = caller ? caller->name : "";
  if (caller && options_.max_streams_per_user > 0 &&
      per_user_[user] >= options_.max_streams_per_user) {
    return absl::ResourceExhaustedError(absl::StrCat(
        user, " already has ", per_user_[user], " live streams open (watches, in the CLI or a ",
        "browser tab), the limit per user is ", options_.max_streams_per_user,
        " (--max-streams-per-user); close one and try again."));
  }
  const uint64_t ticket = next_ticket_++;
  if (caller) ++per_user_[user];
  streams_.emplace(ticket, Stream{.user = user, .token = std::move(token), .end = nullptr});
  return ticket;
}

void StreamLimits::Attach(uint64_t ticket, End end) {
  absl::MutexLock lock(&mutex_);
  if (auto it = streams_.find(ticket); it != streams_.end()) it->second.end = std::move(end);
}

void StreamLimits::Release(uint64_t ticket) {
  absl::MutexLock wait_for_recheck(&ending_);
  absl::MutexLock lock(&mutex_);
  auto it = streams_.find(ticket);
  if (it == streams_.end()) return;
  if (!it->second.user.empty()) {
    auto count = per_user_.find(it->second.user);
    if (--count->second == 0) per_user_.erase(count);
  }
  streams_.erase(it);
}

int StreamLimits::Open() const {
  absl::MutexLock lock(&mutex_);
  return static_cast<int>(streams_.size());
}

int StreamLimits::Recheck() {
  // The distinct tokens, authenticated outside the lock (each is a read of the store).
  std::map<std::string, bool> valid;
  {
    absl::MutexLock lock(&mutex_);
    for (const auto& [ticket, stream] : streams_) {
      if (!stream.user.empty()) valid.emplace(stream.token, true);
    }
  }
  for (auto& [token, ok] : valid) {
    absl::StatusOr<auth::Caller> caller = authenticate_(token);
    // Only a refusal ends streams: a store that cannot be read now is no reason to.
    ok = !absl::IsUnauthenticated(caller.status());
  }
  // Ends are called under `ending_`, which Release takes: a stream released meanwhile is not
  // ended after it has gone. An End must not release its stream on this thread.
  absl::MutexLock ending(&ending_);
  std::vector<End> ends;
  {
    absl::MutexLock lock(&mutex_);
    for (const auto& [ticket, stream] : streams_) {
      auto it = valid.find(stream.token);
      if (it != valid.end() && !it->second && stream.end) ends.push_back(stream.end);
    }
  }
  const absl::Status why = absl::UnauthenticatedError(
      "this stream's token is no longer valid (revoked, or its user removed); sign in again "
      "with a valid token to keep watching.");
  for (const End& end : ends) end(why);
  return static_cast<int>(ends.size());
}

void StreamLimits::RecheckLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&mutex_);
      const absl::Time due = absl::Now() + absl::FromChrono(options_.recheck_interval);
      while (!stopping_ && !stopping_changed_.WaitWithDeadline(&mutex_, due)) {
      }
      if (stopping_) return;
    }
    Recheck();
  }
}

}  // namespace ablate::service
